"""The funnel facts a sales leader reads, per segment, in total and per owner.

Pure functions of :class:`~targetsim.data.funnel.FunnelData`; ``targetsim ingest`` prints
them and ``--json`` dumps :meth:`FunnelFacts.to_dict`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from targetsim.data.funnel import FunnelData


@dataclass(frozen=True)
class GroupFacts:
    """Facts of one group of deals (a segment, the total or an owner).

    Attributes
    ----------
    level : str
        ``segment``, ``total`` or ``owner``.
    name : str
        Segment or owner name (``total`` for the total).
    opportunities, open, won, lost : int
        Deal counts.
    win_rate : float
        won / (won + lost); NaN without closed deals.
    median_days_to_win, median_days_to_loss : float
        Median created → closed days of won and of lost deals.
    avg_contract_value, median_contract_value : float
        Mean and median amount of won deals.
    bookings_total : float
        Sum of won amounts over the whole history.
    arrivals_per_month : float
        New dated opportunities per month over the observed window (partial months
        weighted by their exposure).
    open_pipeline_count : int
    open_pipeline_value : float
        Sum of the open deals' (estimated) amounts; deals without one count 0.
    open_pipeline_median_age_days : float
        Median age at the as-of date of the open deals whose creation date is known
        (an imputed date says nothing about age).
    bookings_last_365d : float
        Won amount closed in the 365 days up to the as-of date.
    pipeline_coverage : float
        open_pipeline_value / bookings_last_365d; NaN when there were no bookings.
    won_with_amount : int
        Won deals with a positive amount (the ones deal sizes are learnt from); a segment
        with none gets deals-won targets only.
    won_zero_amount : int
        Won deals whose amount is 0.
    """

    level: str
    name: str
    opportunities: int
    open: int
    won: int
    lost: int
    win_rate: float
    median_days_to_win: float
    median_days_to_loss: float
    avg_contract_value: float
    median_contract_value: float
    bookings_total: float
    arrivals_per_month: float
    open_pipeline_count: int
    open_pipeline_value: float
    open_pipeline_median_age_days: float
    bookings_last_365d: float
    pipeline_coverage: float
    won_with_amount: int = 0
    won_zero_amount: int = 0


@dataclass(frozen=True)
class StageFacts:
    """One funnel step (``from_stage`` → ``to_stage``) within a segment (or ``total``).

    ``conversion`` = converted / (converted + lost): the share of the deals that left the
    step which moved on (open deals still in the step are not counted either way).
    ``median_days`` is the median time of the conversions with both dates known.
    """

    segment: str
    step: int
    from_stage: str
    to_stage: str
    entered: int
    converted: int
    lost: int
    open: int
    conversion: float
    median_days: float


@dataclass(frozen=True)
class FunnelFacts:
    """Everything ``targetsim ingest`` reports.

    Attributes
    ----------
    as_of : pandas.Timestamp
    source : str
    stages : tuple of str
    months_observed : float
        Length of the arrival window in months.
    segments : tuple of GroupFacts
        One per segment, sorted by name.
    total : GroupFacts
    owners : tuple of GroupFacts
        One per owner (empty when the data has no owners).
    stage_facts : tuple of StageFacts
        Per segment and ``total``, per step (empty without stages).
    warnings : tuple of str
    """

    as_of: pd.Timestamp
    source: str
    stages: tuple[str, ...]
    months_observed: float
    segments: tuple[GroupFacts, ...]
    total: GroupFacts
    owners: tuple[GroupFacts, ...]
    stage_facts: tuple[StageFacts, ...]
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """JSON-ready dict: dates as ISO strings, NaN as None."""
        return {
            "as_of": self.as_of.date().isoformat(),
            "source": self.source,
            "stages": list(self.stages),
            "months_observed": _clean(self.months_observed),
            "segments": [_clean_dict(asdict(g)) for g in self.segments],
            "total": _clean_dict(asdict(self.total)),
            "owners": [_clean_dict(asdict(g)) for g in self.owners],
            "stage_facts": [_clean_dict(asdict(s)) for s in self.stage_facts],
            "warnings": list(self.warnings),
        }


def _clean(v: object) -> object:
    if isinstance(v, float | np.floating):
        return None if math.isnan(float(v)) else float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def _clean_dict(d: dict) -> dict:
    return {k: _clean(v) for k, v in d.items()}


def _median(x: pd.Series) -> float:
    x = x.dropna()
    return float(x.median()) if len(x) else float("nan")


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b else float("nan")


def _group(
    level: str,
    name: str,
    deals: pd.DataFrame,
    arrivals: float,
    months: float,
    as_of: pd.Timestamp,
) -> GroupFacts:
    won = deals.loc[deals["outcome"].eq("won")]
    lost = deals.loc[deals["outcome"].eq("lost")]
    opn = deals.loc[deals["outcome"].eq("open")]
    recent = won.loc[
        (won["closed_at"] > as_of - pd.Timedelta(days=365)) & (won["closed_at"] <= as_of)
    ]
    bookings = float(recent["amount"].sum())
    open_value = float(opn["amount"].fillna(0.0).sum())
    return GroupFacts(
        level=level,
        name=name,
        opportunities=len(deals),
        open=len(opn),
        won=len(won),
        lost=len(lost),
        win_rate=_ratio(len(won), len(won) + len(lost)),
        median_days_to_win=_median(won["duration_days"]),
        median_days_to_loss=_median(lost["duration_days"]),
        avg_contract_value=float(won["amount"].mean()) if len(won) else float("nan"),
        median_contract_value=_median(won["amount"]),
        bookings_total=float(won["amount"].sum()),
        arrivals_per_month=_ratio(arrivals, months),
        open_pipeline_count=len(opn),
        open_pipeline_value=open_value,
        open_pipeline_median_age_days=_median(
            opn.loc[~opn["created_imputed"].astype(bool), "duration_days"]
        ),
        bookings_last_365d=bookings,
        pipeline_coverage=_ratio(open_value, bookings),
        won_with_amount=int(won["amount"].gt(0).sum()),
        won_zero_amount=int(won["amount"].eq(0).sum()),
    )


def _stage_rows(steps: pd.DataFrame, segment: str) -> list[StageFacts]:
    rows = []
    for (step, frm, to), g in steps.groupby(["step", "from_stage", "to_stage"], sort=True):
        conv = g["outcome"].eq("converted")
        lost = int(g["outcome"].eq("lost").sum())
        rows.append(
            StageFacts(
                segment=segment,
                step=int(step),
                from_stage=str(frm),
                to_stage=str(to),
                entered=len(g),
                converted=int(conv.sum()),
                lost=lost,
                open=int(g["outcome"].eq("open").sum()),
                conversion=_ratio(int(conv.sum()), int(conv.sum()) + lost),
                median_days=_median(g.loc[conv, "duration_days"]),
            )
        )
    return rows


def summarize_funnel(funnel: FunnelData) -> FunnelFacts:
    """Compute the funnel facts per segment, in total, per owner and per stage.

    Parameters
    ----------
    funnel : FunnelData

    Returns
    -------
    FunnelFacts
    """
    deals = funnel.deals
    as_of = funnel.as_of
    months = funnel.n_months_observed
    arr = funnel.arrivals
    seg_arrivals = (
        arr.groupby("segment")["count"].sum() if not arr.empty else pd.Series(dtype=float)
    )
    dated = deals.loc[~deals["created_imputed"].astype(bool)]
    segments = tuple(
        _group(
            "segment",
            s,
            deals.loc[deals["segment"].eq(s)],
            float(seg_arrivals.get(s, 0)),
            months,
            as_of,
        )
        for s in funnel.segments
    )
    total = _group("total", "total", deals, float(len(dated)), months, as_of)
    owner_arrivals = dated.groupby(dated["owner"].astype(str)).size() if len(dated) else {}
    owners = tuple(
        _group(
            "owner",
            o,
            deals.loc[deals["owner"].astype(str).eq(o) & deals["owner"].notna()],
            float(owner_arrivals.get(o, 0)) if len(dated) else 0.0,
            months,
            as_of,
        )
        for o in funnel.owners
    )
    stage_facts: list[StageFacts] = []
    steps = funnel.stage_steps
    if funnel.stages and not steps.empty:
        if len(funnel.segments) > 1:
            for s in funnel.segments:
                stage_facts += _stage_rows(steps.loc[steps["segment"].eq(s)], s)
        stage_facts += _stage_rows(steps, "total")
    return FunnelFacts(
        as_of=as_of,
        source=funnel.source,
        stages=funnel.stages,
        months_observed=months,
        segments=segments,
        total=total,
        owners=owners,
        stage_facts=tuple(stage_facts),
        warnings=funnel.warnings,
    )
