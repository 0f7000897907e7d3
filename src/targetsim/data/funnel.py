"""Funnel facts: the one place where the validated opportunities become model inputs.

Everything downstream (the fit, the simulator's open pipeline, the ingest report) reads
these facts; nothing recomputes durations or censoring on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Canonical outcome values.
OUTCOMES = ("won", "lost", "open")
#: Segment used when the data has no segment column.
DEFAULT_SEGMENT = "all"


@dataclass(frozen=True)
class Opportunities:
    """A validated CRM export in canonical form.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per opportunity with columns ``opportunity_id`` (str), ``created_at``
        (datetime64, day precision), ``outcome`` (``won``/``lost``/``open``), ``closed_at``
        (NaT while open), ``amount`` (float, NaN when unknown), ``segment`` (str),
        ``owner`` (str or NA), ``created_imputed`` (bool: the export had no creation
        date, e.g. Maven's Prospecting rows, and ``created_at`` was set to ``as_of``) and
        one ``<stage>_at`` datetime column per stage in ``stages``. ``row`` keeps the row
        number a spreadsheet shows for the source line (header is row 1).
    as_of : pandas.Timestamp
        The data's "as of" date: open deals are censored there.
    stages : tuple of str
        Intermediate stages in funnel order (may be empty).
    source : str
        Path of the file the data came from, for messages.
    warnings : tuple of str
        Things a user should know (rows skipped, values imputed).
    """

    table: pd.DataFrame
    as_of: pd.Timestamp
    stages: tuple[str, ...] = ()
    source: str = "<memory>"
    warnings: tuple[str, ...] = ()

    @property
    def has_owners(self) -> bool:
        return "owner" in self.table and bool(self.table["owner"].notna().any())


@dataclass(frozen=True)
class FunnelData:
    """Funnel facts per segment, computed once from :class:`Opportunities`.

    Attributes
    ----------
    as_of : pandas.Timestamp
        Censoring date.
    segments : tuple of str
        Segment names, sorted.
    owners : tuple of str
        Owner names, sorted; empty when the data has no owners.
    stages : tuple of str
        Intermediate stages in funnel order.
    deals : pandas.DataFrame
        One row per opportunity: ``opportunity_id, segment, owner, outcome, created_at,
        closed_at, amount, created_imputed, duration_days, censored``. ``duration_days`` is
        created → closed for closed deals and the age at ``as_of`` for open ones
        (``censored`` is True exactly for open deals: they are never dropped).
    arrivals : pandas.DataFrame
        New opportunities per segment and calendar month: ``segment, month`` (Timestamp of
        the month start), ``count`` and ``exposure`` (fraction of the month inside the
        observed window, so partial first and last months are not read as dips). Deals
        whose creation date was imputed are not counted.
    open_pipeline : pandas.DataFrame
        The open deals at ``as_of``: ``opportunity_id, segment, owner, age_days, amount,
        stage`` (the last stage reached, ``created`` if none), and ``expected_close_at``
        when the export has expected close dates.
    stage_steps : pandas.DataFrame
        Only with stages: one row per deal and funnel step it entered. ``step`` (0-based),
        ``from_stage, to_stage`` (``created`` → first stage → ... → ``won``), ``outcome``
        (``converted``, ``lost`` or ``open``), ``duration_days`` (NaN when a stage date
        is missing although the stage was passed), ``censored``, plus ``opportunity_id,
        segment, owner``.
    bookings_last_year : pandas.Series
        Won amount closed in the 365 days up to ``as_of``, per segment.
    """

    as_of: pd.Timestamp
    segments: tuple[str, ...]
    owners: tuple[str, ...]
    stages: tuple[str, ...]
    deals: pd.DataFrame
    arrivals: pd.DataFrame
    open_pipeline: pd.DataFrame
    stage_steps: pd.DataFrame
    bookings_last_year: pd.Series
    source: str = "<memory>"
    warnings: tuple[str, ...] = field(default=())

    @property
    def has_owners(self) -> bool:
        return len(self.owners) > 0

    @property
    def n_months_observed(self) -> float:
        """Length of the observed arrival window in months (sum of exposures of one segment)."""
        if self.arrivals.empty:
            return 0.0
        return float(self.arrivals.groupby("segment")["exposure"].sum().max())


def _month_exposure(start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """Calendar months covering ``[start, end]`` with the observed fraction of each."""
    months = pd.period_range(start.to_period("M"), end.to_period("M"), freq="M")
    rows = []
    for m in months:
        m_start = m.start_time.normalize()
        # first day of the next month (not end_time + 1ns: end_time's unit varies by version)
        m_end = (m + 1).start_time.normalize()
        lo = max(m_start, start)
        hi = min(m_end, end + pd.Timedelta(days=1))
        rows.append((m_start, max((hi - lo).days, 0) / (m_end - m_start).days))
    return pd.DataFrame(rows, columns=["month", "exposure"])


def build_funnel(opps: Opportunities) -> FunnelData:
    """Compute the funnel facts of validated opportunities.

    Parameters
    ----------
    opps : Opportunities
        Validated canonical table.

    Returns
    -------
    FunnelData
    """
    t = opps.table
    as_of = pd.Timestamp(opps.as_of).normalize()
    is_open = t["outcome"].eq("open").to_numpy()
    end = t["closed_at"].where(~is_open, as_of)
    duration = (end - t["created_at"]).dt.days.astype(float)
    owner = t["owner"] if "owner" in t else pd.Series(pd.NA, index=t.index, dtype="object")
    deals = pd.DataFrame(
        {
            "opportunity_id": t["opportunity_id"].astype(str).to_numpy(),
            "segment": t["segment"].astype(str).to_numpy(),
            "owner": owner.to_numpy(),
            "outcome": t["outcome"].to_numpy(),
            "created_at": t["created_at"].to_numpy(),
            "closed_at": t["closed_at"].to_numpy(),
            "amount": t["amount"].astype(float).to_numpy(),
            "created_imputed": t["created_imputed"].astype(bool).to_numpy(),
            "duration_days": duration.to_numpy(),
            "censored": is_open,
        }
    )
    segments = tuple(sorted(deals["segment"].unique()))
    owners = tuple(sorted(deals["owner"].dropna().astype(str).unique()))

    # Arrivals: dated deals only; the window runs from the first creation date to as_of.
    dated = deals.loc[~deals["created_imputed"]]
    if dated.empty:
        arrivals = pd.DataFrame(columns=["segment", "month", "count", "exposure"])
    else:
        grid = _month_exposure(dated["created_at"].min(), as_of)
        counts = (
            dated.assign(month=dated["created_at"].dt.to_period("M").dt.start_time)
            .groupby(["segment", "month"])
            .size()
            .rename("count")
        )
        full = pd.MultiIndex.from_product([segments, grid["month"]], names=["segment", "month"])
        arrivals = counts.reindex(full, fill_value=0).reset_index()
        arrivals = arrivals.merge(grid, on="month", how="left")
        arrivals["count"] = arrivals["count"].astype(np.int64)

    open_deals = deals.loc[deals["censored"]]
    stage_cols = [f"{s}_at" for s in opps.stages]
    last_stage = pd.Series("created", index=t.index, dtype=object)
    for s, c in zip(opps.stages, stage_cols, strict=True):
        last_stage = last_stage.where(t[c].isna(), s)
    open_pipeline = pd.DataFrame(
        {
            "opportunity_id": open_deals["opportunity_id"].to_numpy(),
            "segment": open_deals["segment"].to_numpy(),
            "owner": open_deals["owner"].to_numpy(),
            "age_days": open_deals["duration_days"].to_numpy(),
            "amount": open_deals["amount"].to_numpy(),
            "stage": last_stage.to_numpy()[is_open],
        }
    )
    if "expected_close_at" in t:  # the rep's expected close: a signal, never a censoring date
        open_pipeline["expected_close_at"] = t["expected_close_at"].to_numpy()[is_open]

    stage_steps = _stage_steps(t, deals, opps.stages, as_of)

    won_recent = deals.loc[
        deals["outcome"].eq("won")
        & (deals["closed_at"] > as_of - pd.Timedelta(days=365))
        & (deals["closed_at"] <= as_of)
    ]
    bookings_last_year = (
        won_recent.groupby("segment")["amount"].sum().reindex(list(segments), fill_value=0.0)
    )

    return FunnelData(
        as_of=as_of,
        segments=segments,
        owners=owners,
        stages=tuple(opps.stages),
        deals=deals,
        arrivals=arrivals,
        open_pipeline=open_pipeline,
        stage_steps=stage_steps,
        bookings_last_year=bookings_last_year,
        source=opps.source,
        warnings=opps.warnings,
    )


def _stage_steps(
    t: pd.DataFrame, deals: pd.DataFrame, stages: tuple[str, ...], as_of: pd.Timestamp
) -> pd.DataFrame:
    """Long table of funnel steps: ``created → s1 → ... → won``, one row per deal entering a step.

    A stage counts as reached when its date is present, or a later stage (or the win) was
    reached: CRMs often skip a stage date, and a won deal has passed every stage.
    """
    cols = [
        "opportunity_id", "segment", "owner", "step", "from_stage", "to_stage",
        "outcome", "duration_days", "censored",
    ]
    if not stages:
        return pd.DataFrame(columns=cols)
    names = ["created", *stages, "won"]
    outcome = t["outcome"].to_numpy()
    dates = [t["created_at"]] + [t[f"{s}_at"] for s in stages]
    dates.append(t["closed_at"].where(outcome == "won"))
    reached = np.zeros((len(t), len(names)), dtype=bool)
    reached[:, -1] = outcome == "won"
    for k in range(len(names) - 2, -1, -1):
        reached[:, k] = dates[k].notna().to_numpy() | reached[:, k + 1]
    reached[:, 0] = True
    closed_at = t["closed_at"]
    frames = []
    for k in range(len(names) - 1):
        entered = reached[:, k]
        conv = reached[:, k + 1] & entered
        stop = entered & ~conv
        out = np.where(conv, "converted", np.where(outcome == "lost", "lost", "open"))
        end = dates[k + 1].where(conv, closed_at.where(outcome == "lost", as_of))
        dur = (end - dates[k]).dt.days.astype(float)
        frame = pd.DataFrame(
            {
                "opportunity_id": deals["opportunity_id"].to_numpy(),
                "segment": deals["segment"].to_numpy(),
                "owner": deals["owner"].to_numpy(),
                "step": k,
                "from_stage": names[k],
                "to_stage": names[k + 1],
                "outcome": out,
                "duration_days": dur.to_numpy(),
                "censored": stop & (outcome == "open"),
            }
        )
        frames.append(frame.loc[entered])
    return pd.concat(frames, ignore_index=True)[cols]
