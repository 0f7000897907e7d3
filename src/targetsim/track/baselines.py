"""The two forecasts sales teams use today, as baselines for the backtest.

* **Last period + growth**: what was booked in the ``months`` before the cutoff, times
  ``1 + growth``.
* **Stage-weighted pipeline**: the value of the open pipeline at the cutoff times the
  historical win rate (won / closed, per segment). Open deals whose amount is unknown are
  valued at the segment's median won amount, as a sales-ops spreadsheet would.

Both are point forecasts. Both ignore timing (the pipeline may close after the period)
and the deals that will be created during it; the backtest shows what that costs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from targetsim.data.funnel import Opportunities
from targetsim.errors import DataError

BASELINE_COLUMNS = ["bookings", "deals_won"]


def _segments(opps: Opportunities) -> list[str]:
    return sorted(opps.table["segment"].astype(str).unique())


def last_period_growth(opps: Opportunities, months: int, growth: float = 0.0) -> pd.DataFrame:
    """Bookings and wins of the ``months`` up to ``opps.as_of``, times ``1 + growth``.

    Parameters
    ----------
    opps : Opportunities
        The export as known at the cutoff (see :func:`~targetsim.track.cutoff.as_of_cutoff`).
    months : int
        Length of the period, in months.
    growth : float
        Growth applied to the last period (0.1 = +10 %).

    Returns
    -------
    pandas.DataFrame
        Indexed by segment, columns ``bookings`` and ``deals_won``.
    """
    if months < 1:
        raise DataError(f"the baseline period must be at least one month, got {months}")
    if growth <= -1.0:
        raise DataError(f"growth must be above -100 %, got {growth}")
    t = opps.table
    end = pd.Timestamp(opps.as_of).normalize()
    start = end - pd.DateOffset(months=months)
    won = t.loc[t["outcome"].eq("won") & (t["closed_at"] > start) & (t["closed_at"] <= end)]
    grouped = won.groupby(won["segment"].astype(str))
    out = pd.DataFrame(
        {"bookings": grouped["amount"].sum(), "deals_won": grouped.size().astype(float)}
    ).reindex(_segments(opps), fill_value=0.0)
    return out * (1.0 + growth)


def stage_weighted_pipeline(opps: Opportunities) -> pd.DataFrame:
    """Open pipeline at ``opps.as_of`` weighted by the historical win rate, per segment.

    Returns
    -------
    pandas.DataFrame
        Indexed by segment, columns ``bookings`` (open value × won/closed) and
        ``deals_won`` (open count × won/closed), plus ``win_rate`` and ``open_value``
        for the evidence.

    Raises
    ------
    DataError
        If no deal has closed yet (no win rate to weight with).
    """
    t = opps.table.assign(segment=lambda d: d["segment"].astype(str))
    closed = t.loc[t["outcome"].isin(["won", "lost"])]
    if closed.empty:
        raise DataError(f"{opps.source}: no closed deal before {opps.as_of.date()}, no win rate")
    segs = _segments(opps)
    won = t.loc[t["outcome"].eq("won")]
    n_won = won.groupby("segment").size().reindex(segs, fill_value=0)
    n_closed = closed.groupby("segment").size().reindex(segs, fill_value=0)
    pooled = len(won) / len(closed)
    # A segment with no closed deal borrows the pooled rate rather than dividing by zero.
    rate = (n_won / n_closed.replace(0, np.nan)).fillna(pooled)
    median_won = won.groupby("segment")["amount"].median().reindex(segs)
    median_won = median_won.fillna(float(won["amount"].median()) if len(won) else 0.0)
    open_deals = t.loc[t["outcome"].eq("open")]
    value = open_deals["amount"].fillna(open_deals["segment"].map(median_won))
    open_value = value.groupby(open_deals["segment"]).sum().reindex(segs, fill_value=0.0)
    open_count = open_deals.groupby("segment").size().reindex(segs, fill_value=0)
    return pd.DataFrame(
        {
            "bookings": open_value * rate,
            "deals_won": open_count * rate,
            "win_rate": rate,
            "open_value": open_value,
        }
    )
