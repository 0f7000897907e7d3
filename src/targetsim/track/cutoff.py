"""What the CRM knew at an earlier date: an export truncated at a cutoff.

The backtest fits on the data known at each cutoff and scores against what happened
after it; tracking compares a fresh export with the plan's. Both need the same two
operations: rewind an export to a date, and read the actuals of a window from it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from targetsim.data.funnel import Opportunities
from targetsim.errors import DataError


def amounts_known_before_close(opps: Opportunities) -> bool:
    """Whether the export shows amounts of open deals (estimates kept while they are open).

    An export whose open deals all have an empty amount (Maven's ``close_value``) only
    learns the value at the close; one with no open deal at all tells nothing and is
    treated the same way, so a rewound export never reveals a value it could not have had.
    """
    t = opps.table
    is_open = t["outcome"].eq("open")
    return bool(is_open.any() and t.loc[is_open, "amount"].notna().any())


def as_of_cutoff(
    opps: Opportunities, cutoff: str | pd.Timestamp, *, hide_amounts: bool | None = None
) -> Opportunities:
    """The export as it stood at the end of day ``cutoff``.

    * Deals created after the cutoff are removed (including deals whose creation date was
      imputed as the export's as-of date, e.g. Maven's Prospecting rows: nothing says they
      existed earlier).
    * Deals closed after the cutoff become open again: outcome ``open``, no close date, and
      censored at the cutoff (``as_of = cutoff``).
    * Their amount is hidden (NaN) when the export only knows amounts at the close
      (:func:`amounts_known_before_close`), kept otherwise.
    * Stage dates after the cutoff are erased: the stage was not reached yet.

    Parameters
    ----------
    opps : Opportunities
        Validated export.
    cutoff : str or Timestamp
        The date to rewind to; deals created or closed on that day are kept as they are.
    hide_amounts : bool, optional
        Force hiding (True) or keeping (False) the amounts of reopened deals; default
        decides from the export.

    Returns
    -------
    Opportunities
        A new object; ``row`` keeps pointing at the source lines.

    Raises
    ------
    DataError
        If the cutoff is not a date, is after the export's as-of date, or leaves no deal.
    """
    try:
        cut = pd.Timestamp(cutoff).normalize()
    except (TypeError, ValueError) as exc:
        raise DataError(f"cutoff {cutoff!r} is not a date (expected YYYY-MM-DD)") from exc
    if pd.isna(cut):
        raise DataError(f"cutoff {cutoff!r} is not a date (expected YYYY-MM-DD)")
    as_of = pd.Timestamp(opps.as_of).normalize()
    if cut > as_of:
        raise DataError(
            f"cutoff {cut.date()} is after the as-of date of {opps.source} ({as_of.date()}): "
            "the export does not know what happened then"
        )
    hide = (not amounts_known_before_close(opps)) if hide_amounts is None else hide_amounts
    t = opps.table
    keep = (t["created_at"] <= cut).to_numpy()
    t = t.loc[keep].copy()
    if t.empty:
        raise DataError(
            f"no opportunity of {opps.source} was created on or before the cutoff {cut.date()}"
        )
    reopened = (t["outcome"].ne("open") & (t["closed_at"] > cut)).to_numpy()
    t.loc[reopened, "outcome"] = "open"
    t.loc[reopened, "closed_at"] = pd.NaT
    if hide:
        t.loc[reopened, "amount"] = np.nan
    for stage in opps.stages:
        col = f"{stage}_at"
        t.loc[t[col] > cut, col] = pd.NaT
    note = (
        f"rewound to {cut.date()}: {int((~keep).sum())} deals created later removed, "
        f"{int(reopened.sum())} deals closed later reopened"
        + (" (amounts hidden)" if hide and reopened.any() else "")
    )
    return replace(opps, table=t, as_of=cut, warnings=(*opps.warnings, note))


def won_in_window(
    opps: Opportunities,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    by: str = "segment",
) -> pd.DataFrame:
    """Actuals of a window: won amount and won count of deals closed in ``[start, end]``.

    Parameters
    ----------
    opps : Opportunities
        The export that knows what happened.
    start, end : Timestamp
        First and last day of the window (inclusive).
    by : str
        ``segment`` or ``owner``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``by``, columns ``bookings`` and ``deals_won``; only names with a win.
    """
    t = opps.table
    won = t.loc[
        t["outcome"].eq("won")
        & (t["closed_at"] >= pd.Timestamp(start))
        & (t["closed_at"] <= pd.Timestamp(end))
    ]
    if by not in won:
        return pd.DataFrame(columns=["bookings", "deals_won"], dtype=float)
    grouped = won.groupby(won[by].astype(str))
    return pd.DataFrame(
        {"bookings": grouped["amount"].sum(min_count=0), "deals_won": grouped.size()}
    ).astype(float)
