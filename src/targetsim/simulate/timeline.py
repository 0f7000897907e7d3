"""The simulated calendar: days counted from ``as_of``, month bins, the scenario's time dilation.

Time unit: days; ``t = 0`` is the data's ``as_of`` date. The horizon starts by default on the
first day of the month after ``as_of`` and lasts 12 calendar months; the bins of the result
are calendar months. The days between ``as_of`` and the horizon start also elapse (deals
close, new opportunities arrive) but nothing in them is booked.

A scenario's ``cycle_length`` multiplier ``c`` stretches what happens inside the horizon only:
the model's own clock (``raw`` time) runs at the real pace before the horizon start ``h`` and
``1/c`` times as fast after it, so a duration ``d`` started at real time ``t`` ends at
``g(g⁻¹(t) + d)`` with ``g(u) = u`` for ``u < h`` and ``h + c (u - h)`` after
(:func:`targetsim.simulate.kernels.close_time`; the SimPy engine applies the same rule from
the moment a deal starts being worked).

Edges are whole days from ``as_of``: a time's month is the month of its whole part
(:func:`targetsim.simulate.tally.day_months`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from targetsim.errors import ConfigError


@dataclass(frozen=True)
class Timeline:
    """Month edges of the horizon in days from ``as_of``.

    Attributes
    ----------
    as_of : pandas.Timestamp
        Day 0.
    month_starts : pandas.DatetimeIndex
        First day of each horizon month (length ``months``).
    edges : ndarray, shape (months + 1,)
        Days from ``as_of`` to each month start, then to the end of the last month.
    arrival_index : ndarray of int, shape (months,)
        Month index ``m`` of the arrival clock (0 = the month of ``as_of``).
    gap : tuple of (t0, t1, m, month of year, share)
        Calendar-month pieces of ``[0, start)`` (see :func:`gap_pieces`).
    """

    as_of: pd.Timestamp
    month_starts: pd.DatetimeIndex
    edges: np.ndarray
    arrival_index: np.ndarray
    gap: tuple[tuple[float, float, int, int, float], ...] = ()

    def arrival_pieces(self) -> dict[str, np.ndarray]:
        """Every arrival piece (the gap's, then the horizon months) as arrays.

        Keys: ``lo, hi`` (days), ``m`` (arrival-clock month), ``moy`` (month of year, 1-12),
        ``share`` (fraction of the calendar month), ``in_horizon`` (bool).
        """
        g = self.gap
        return {
            "lo": np.array([p[0] for p in g] + list(self.edges[:-1]), dtype=float),
            "hi": np.array([p[1] for p in g] + list(self.edges[1:]), dtype=float),
            "m": np.array([p[2] for p in g] + list(self.arrival_index), dtype=float),
            "moy": np.array([p[3] for p in g] + [m.month for m in self.month_starts], dtype=int),
            "share": np.array([p[4] for p in g] + [1.0] * self.months),
            "in_horizon": np.array([False] * len(g) + [True] * self.months),
        }

    @property
    def months(self) -> int:
        return len(self.month_starts)

    @property
    def start(self) -> float:
        """Real day of the horizon start."""
        return float(self.edges[0])

    @property
    def end(self) -> float:
        return float(self.edges[-1])


def gap_pieces(
    as_of: pd.Timestamp, start: float
) -> tuple[tuple[float, float, int, int, float], ...]:
    """Calendar-month pieces of ``[0, start)``: (t0, t1, arrival month m, month of year, share).

    ``share`` is the fraction of the calendar month the piece covers.
    """
    pieces = []
    t = 0.0
    day = as_of
    while t < start:
        m_start = day.to_period("M").start_time
        m_next = (m_start + pd.offsets.MonthBegin(1)).normalize()
        t1 = min(float((m_next - as_of).days), start)
        length = float((m_next - m_start).days)
        m = (m_start.year - as_of.year) * 12 + m_start.month - as_of.month
        pieces.append((t, t1, m, m_start.month, (t1 - t) / length))
        t = t1
        day = m_next
    return tuple(pieces)


def make_timeline(as_of: str | pd.Timestamp, start: str | None, months: int) -> Timeline:
    """Build the horizon: ``months`` calendar months from ``start`` (default: after ``as_of``).

    Raises
    ------
    ConfigError
        ``start`` is not a first day of a month after ``as_of``, or ``months`` < 1.
    """
    as_of = pd.Timestamp(as_of).normalize()
    if months < 1:
        raise ConfigError(f"--months must be >= 1, got {months}")
    if start is None:
        first = (as_of.to_period("M") + 1).start_time
    else:
        try:
            first = pd.Timestamp(start).normalize()
        except (ValueError, TypeError):
            raise ConfigError(f"--start must be a date YYYY-MM-DD, got {start!r}") from None
        if first.day != 1:
            raise ConfigError(f"--start must be the first day of a month, got {start}")
        if first <= as_of:
            raise ConfigError(
                f"--start {first.date()} must come after the data's as-of date {as_of.date()}"
            )
    month_starts = pd.date_range(first, periods=months + 1, freq="MS")
    edges = np.asarray((month_starts - as_of).days, dtype=float)
    idx = np.array(
        [(m.year - as_of.year) * 12 + m.month - as_of.month for m in month_starts[:-1]]
    )
    return Timeline(as_of, month_starts[:-1], edges, idx, gap_pieces(as_of, float(edges[0])))
