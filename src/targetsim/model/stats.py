"""Sufficient statistics of the funnel facts: the model's only view of the data.

The likelihood of the funnel model depends on the deals only through these sums, so the
cost of one gradient evaluation is bounded by the number of (cell, age) groups of open
deals (at most cells x oldest age in days) plus the number of segment-months, whatever the
number of deals.

Durations: whole days ``d`` between two calendar dates are read as ``d + 0.5`` days (the
midpoint of the interval ``[d, d + 1)`` that contains the continuous duration; see
:mod:`targetsim.synthetic`). Open deals are grouped by exact age in days, so the grouping
introduces no approximation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from targetsim.data.funnel import FunnelData
from targetsim.errors import DataError

#: Added to whole-day durations (see module docstring).
DAY_OFFSET = 0.5
#: Kinds of deal in :attr:`FunnelStats.deal_kind`.
KIND_WON, KIND_LOST, KIND_OPEN = 0, 1, 2


@dataclass(frozen=True)
class LogNormalStats:
    """Per-group ``n``, ``sum(log x)`` and ``sum(log x)**2`` of positive values."""

    n: np.ndarray
    s1: np.ndarray
    s2: np.ndarray

    @classmethod
    def of(cls, values: np.ndarray, group: np.ndarray, n_groups: int) -> LogNormalStats:
        lx = np.log(values)
        return cls(
            n=np.bincount(group, minlength=n_groups).astype(float),
            s1=np.bincount(group, weights=lx, minlength=n_groups),
            s2=np.bincount(group, weights=lx**2, minlength=n_groups),
        )


@dataclass(frozen=True)
class CensoredGroups:
    """Open (right-censored) deals grouped by cell and age: ``count`` deals of ``age`` days."""

    cell: np.ndarray
    age: np.ndarray
    count: np.ndarray

    @classmethod
    def of(cls, cell: np.ndarray, age_days: np.ndarray) -> CensoredGroups:
        if len(cell) == 0:
            return cls(np.zeros(0, int), np.zeros(0), np.zeros(0))
        df = pd.DataFrame({"cell": cell, "age": age_days}).value_counts().sort_index()
        idx = df.index.to_frame(index=False)
        return cls(
            cell=idx["cell"].to_numpy(dtype=np.int64),
            age=idx["age"].to_numpy(dtype=float) + DAY_OFFSET,
            count=df.to_numpy(dtype=float),
        )


@dataclass(frozen=True)
class StageStats:
    """Sufficient statistics of the funnel steps (``created -> stage1 -> ... -> won``).

    Axis ``K`` is the step (named by ``to_stage``), ``S`` the segment; ``cell`` of
    :class:`CensoredGroups` is ``step * S + segment``.
    """

    steps: tuple[str, ...]
    n_converted: np.ndarray  # (K, S)
    n_lost: np.ndarray  # (K, S)
    converted_days: LogNormalStats  # flattened (K*S,)
    lost_days: LogNormalStats  # flattened (K*S,)
    open: CensoredGroups


@dataclass(frozen=True)
class FunnelStats:
    """Everything the likelihood needs, computed once from :class:`FunnelData`.

    Attributes
    ----------
    segments, owners : tuple of str
    cell_segment, cell_owner : ndarray of int, shape (C,)
        The (segment, owner) cells that hold deals; owner -1 = no owner.
    n_won, n_lost : ndarray, shape (C,)
        Won and lost deals per cell (with or without a usable duration).
    won_days, lost_days : LogNormalStats, per segment
        Durations of won and lost deals whose creation date is real.
    open : CensoredGroups
        Open deals with a real creation date, by cell and age.
    size : LogNormalStats, per segment
        Won amounts > 0.
    arrival_segment, arrival_month, arrival_moy : ndarray of int, shape (A,)
        Segment, month relative to the as-of month (0 = as-of month) and month of year
        (0 = January) of each observed segment-month.
    arrival_count, arrival_exposure : ndarray, shape (A,)
    stages : StageStats or None
    n_deals : int
    max_closed_days : float
        Longest creation-to-close time of a won or lost deal (NaN when none closed).
    deal_cell, deal_kind : ndarray of int, shape (N,)
        Every deal's cell and kind (:data:`KIND_WON`, :data:`KIND_LOST`, :data:`KIND_OPEN`),
        for components that need more than sums (the hazard bins).
    deal_days : ndarray, shape (N,)
        Creation to close (closed) or to ``as_of`` (open) in days + :data:`DAY_OFFSET`;
        NaN when the creation date is unknown.
    won_amounts : ndarray
        Positive won amounts, with ``won_amount_segment`` their segment index.
    deal_entry : ndarray, shape (N,)
        Age in days from which a deal is known to be at risk: 0, unless the export is
        left-truncated (no deal closed before a date well after the first creation: the
        deals created earlier that closed before it are missing), in which case a deal
        created before that date enters at the age it had then (:func:`left_truncation`).
    truncated_before : str
        ISO date of that left truncation ("" when none).
    """

    segments: tuple[str, ...]
    owners: tuple[str, ...]
    cell_segment: np.ndarray
    cell_owner: np.ndarray
    n_won: np.ndarray
    n_lost: np.ndarray
    won_days: LogNormalStats
    lost_days: LogNormalStats
    open: CensoredGroups
    size: LogNormalStats
    arrival_segment: np.ndarray
    arrival_month: np.ndarray
    arrival_moy: np.ndarray
    arrival_count: np.ndarray
    arrival_exposure: np.ndarray
    stages: StageStats | None
    n_deals: int
    max_closed_days: float = float("nan")
    deal_cell: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    deal_kind: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    deal_days: np.ndarray = field(default_factory=lambda: np.zeros(0))
    won_amounts: np.ndarray = field(default_factory=lambda: np.zeros(0))
    won_amount_segment: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    deal_entry: np.ndarray = field(default_factory=lambda: np.zeros(0))
    truncated_before: str = ""

    @property
    def n_groups(self) -> int:
        """Number of likelihood terms for censored deals (the cost driver)."""
        extra = 0 if self.stages is None else len(self.stages.open.count)
        return len(self.open.count) + extra


def _index(values: pd.Series, names: tuple[str, ...]) -> np.ndarray:
    lookup = {n: i for i, n in enumerate(names)}
    return np.array([lookup.get(v, -1) if isinstance(v, str) else -1 for v in values], dtype=int)


#: Closed deals' durations quantile the gap between the first creation and the first close
#: must exceed to read the export as left-truncated (see :func:`left_truncation`).
TRUNCATION_QUANTILE = 0.9


def left_truncation(deals: pd.DataFrame) -> pd.Timestamp | None:
    """The date before which closed deals are missing from the export, or None.

    An export that only holds deals still open at some date, or closed after it (Maven's
    closes start on 2017-03-01 while its deals start in October 2016), shows no close in its
    first months: the earliest close comes later after the earliest creation than nine in
    ten closed deals take. Deals created before that date are then only known to have
    survived to it (delayed entry), and the time at risk before it must not count.
    """
    dated = deals.loc[~deals["created_imputed"].astype(bool)]
    closed = dated.loc[dated["outcome"].isin(["won", "lost"])]
    if len(closed) < 20:
        return None
    first_close = pd.Timestamp(closed["closed_at"].min())
    gap = (first_close - pd.Timestamp(dated["created_at"].min())).days
    cycle = float(np.quantile(closed["duration_days"].to_numpy(dtype=float),
                              TRUNCATION_QUANTILE))
    return first_close if gap > cycle else None


def funnel_stats(funnel: FunnelData) -> FunnelStats:
    """Reduce funnel facts to the sufficient statistics of the model.

    Parameters
    ----------
    funnel : FunnelData

    Returns
    -------
    FunnelStats

    Raises
    ------
    DataError
        If there are no deals, or a segment has no dated arrivals.
    """
    d = funnel.deals
    if d.empty:
        raise DataError(f"{funnel.source}: no opportunities to fit")
    segs = funnel.segments
    n_seg = len(segs)
    seg = _index(d["segment"], segs)
    own = _index(d["owner"].astype(object), funnel.owners) if funnel.owners else np.full(len(d), -1)
    pairs = pd.DataFrame({"s": seg, "o": own}).drop_duplicates().sort_values(["s", "o"])
    cell_segment = pairs["s"].to_numpy(dtype=int)
    cell_owner = pairs["o"].to_numpy(dtype=int)
    cell_of = {(s, o): i for i, (s, o) in enumerate(zip(cell_segment, cell_owner, strict=True))}
    cell = np.array([cell_of[(s, o)] for s, o in zip(seg, own, strict=True)], dtype=int)
    n_cells = len(cell_segment)

    outcome = d["outcome"].to_numpy()
    dated = ~d["created_imputed"].to_numpy(dtype=bool)
    days = d["duration_days"].to_numpy(dtype=float)
    has_days = dated & np.isfinite(days)
    t = np.maximum(np.nan_to_num(days), 0.0) + DAY_OFFSET
    won = outcome == "won"
    lost = outcome == "lost"
    is_open = outcome == "open"
    closed_days = days[(won | lost) & has_days]

    amount = d["amount"].to_numpy(dtype=float)
    pos = won & np.isfinite(amount) & (amount > 0)
    cut = left_truncation(d)
    entry = np.zeros(len(d))
    if cut is not None:
        entry = np.maximum((cut - d["created_at"]).dt.days.to_numpy(dtype=float), 0.0)
        entry = np.where(has_days, entry, 0.0)

    arr = funnel.arrivals
    arr = arr.loc[arr["exposure"] > 0]
    as_of_month = funnel.as_of.to_period("M")
    months = pd.to_datetime(arr["month"]).dt.to_period("M")
    rel = np.array([(m - as_of_month).n for m in months], dtype=int)
    a_seg = _index(arr["segment"], segs)
    missing = sorted(set(range(n_seg)) - set(a_seg.tolist()))
    if missing:
        raise DataError(
            f"{funnel.source}: segment(s) {', '.join(segs[i] for i in missing)} have no "
            "dated opportunities, so their arrival rate cannot be learned"
        )

    return FunnelStats(
        segments=segs,
        owners=funnel.owners,
        cell_segment=cell_segment,
        cell_owner=cell_owner,
        n_won=np.bincount(cell[won], minlength=n_cells).astype(float),
        n_lost=np.bincount(cell[lost], minlength=n_cells).astype(float),
        won_days=LogNormalStats.of(t[won & has_days], seg[won & has_days], n_seg),
        lost_days=LogNormalStats.of(t[lost & has_days], seg[lost & has_days], n_seg),
        open=CensoredGroups.of(cell[is_open & has_days], np.maximum(days[is_open & has_days], 0)),
        size=LogNormalStats.of(amount[pos], seg[pos], n_seg),
        arrival_segment=a_seg,
        arrival_month=rel,
        arrival_moy=np.array([m.month - 1 for m in months], dtype=int),
        arrival_count=arr["count"].to_numpy(dtype=float),
        arrival_exposure=arr["exposure"].to_numpy(dtype=float),
        stages=_stage_stats(funnel, n_seg) if funnel.stages else None,
        n_deals=len(d),
        max_closed_days=float(closed_days.max()) if closed_days.size else float("nan"),
        deal_cell=cell,
        deal_kind=np.where(won, KIND_WON, np.where(lost, KIND_LOST, KIND_OPEN)),
        deal_days=np.where(has_days, t, np.nan),
        won_amounts=amount[pos],
        won_amount_segment=seg[pos],
        deal_entry=entry,
        truncated_before="" if cut is None else cut.strftime("%Y-%m-%d"),
    )


def _stage_stats(funnel: FunnelData, n_seg: int) -> StageStats:
    st = funnel.stage_steps
    names = ("created", *funnel.stages, "won")
    steps = names[1:]
    k = st["step"].to_numpy(dtype=int)
    s = _index(st["segment"], funnel.segments)
    flat = k * n_seg + s
    n_flat = len(steps) * n_seg
    out = st["outcome"].to_numpy()
    days = st["duration_days"].to_numpy(dtype=float)
    # Durations that are missing or negative (a stage dated before the previous one, or an
    # imputed creation date) carry no timing information: they count for the outcome only.
    has = np.isfinite(days) & (days >= 0)
    if "created_imputed" in funnel.deals:
        imputed_ids = set(funnel.deals.loc[funnel.deals["created_imputed"], "opportunity_id"])
        if imputed_ids:
            has &= ~((k == 0) & st["opportunity_id"].isin(imputed_ids).to_numpy())
    t = np.nan_to_num(days) + DAY_OFFSET
    conv = out == "converted"
    # A step whose conversions all took the same time (e.g. Maven, where the creation date
    # is the stage date, so every created -> engaging step takes 0 days) says nothing about
    # timing; fitting a log-normal to it drives its shape to 0 and the sampler stalls.
    timed = conv & has
    if timed.any():
        grp = pd.DataFrame({"g": flat[timed], "t": t[timed]}).groupby("g")["t"]
        flat_groups = grp.agg(lambda x: x.nunique() <= 1 and len(x) > 1)
        degenerate = flat_groups.index[flat_groups.to_numpy(dtype=bool)].to_numpy()
        has &= ~(conv & np.isin(flat, degenerate))
    lost = out == "lost"
    is_open = out == "open"
    return StageStats(
        steps=steps,
        n_converted=np.bincount(flat[conv], minlength=n_flat).reshape(len(steps), n_seg),
        n_lost=np.bincount(flat[lost], minlength=n_flat).reshape(len(steps), n_seg),
        converted_days=LogNormalStats.of(t[conv & has], flat[conv & has], n_flat),
        lost_days=LogNormalStats.of(t[lost & has], flat[lost & has], n_flat),
        open=CensoredGroups.of(flat[is_open & has], days[is_open & has]),
    )


def history_table(funnel: FunnelData) -> pd.DataFrame:
    """Observed facts per segment and per (segment, owner), for reports.

    Returns
    -------
    pandas.DataFrame
        Columns ``level`` (``segment`` or ``owner``), ``segment``, ``owner`` (empty string
        at segment level), ``n_deals, won, lost, open, win_rate_closed`` (won / (won +
        lost), the naive rate), ``median_won_cycle_days``, ``median_won_size``,
        ``bookings_last_365``, ``won_with_amount`` (won deals with a positive amount: a
        segment with none gets no bookings target, see :mod:`targetsim.calibrate.amounts`).
    """
    d = funnel.deals.copy()
    d["owner"] = d["owner"].astype(object).where(d["owner"].notna(), "")
    window_start = funnel.as_of - pd.Timedelta(days=365)
    d["recent_booking"] = np.where(
        d["outcome"].eq("won") & (d["closed_at"] > window_start) & (d["closed_at"] <= funnel.as_of),
        d["amount"].fillna(0.0),
        0.0,
    )

    def summarise(g: pd.DataFrame) -> pd.Series:
        won = g["outcome"].eq("won")
        lost = g["outcome"].eq("lost")
        closed = int(won.sum() + lost.sum())
        wd = g.loc[won & ~g["created_imputed"], "duration_days"]
        return pd.Series(
            {
                "n_deals": len(g),
                "won": int(won.sum()),
                "lost": int(lost.sum()),
                "open": int(g["outcome"].eq("open").sum()),
                "win_rate_closed": won.sum() / closed if closed else np.nan,
                "median_won_cycle_days": float(wd.median()) if len(wd) else np.nan,
                "median_won_size": float(g.loc[won, "amount"].median()) if won.any() else np.nan,
                "bookings_last_365": float(g["recent_booking"].sum()),
                "won_with_amount": int((won & g["amount"].gt(0)).sum()),
            }
        )

    cols = ["segment", "owner"]
    seg = d.groupby("segment", sort=True)[d.columns.tolist()].apply(summarise).reset_index()
    seg.insert(0, "level", "segment")
    seg.insert(2, "owner", "")
    frames = [seg]
    if funnel.owners:
        owned = d.loc[d["owner"] != ""]
        own = owned.groupby(cols, sort=True)[d.columns.tolist()].apply(summarise).reset_index()
        own.insert(0, "level", "owner")
        frames.append(own)
    out = pd.concat(frames, ignore_index=True)
    for c in ("n_deals", "won", "lost", "open", "won_with_amount"):
        out[c] = out[c].astype(np.int64)
    return out
