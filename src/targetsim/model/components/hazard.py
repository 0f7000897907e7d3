"""The piecewise-constant hazard component (``cycle: hazard``): outcome and timing, no shape.

Time from creation is cut into day bins (edges at quantiles of the closed deals' times to
close, pooled over segments; the last edge just past the longest time any deal took to
close). In bin ``j`` a deal of segment ``s`` and rep ``o`` still open is won at the rate
``h_won[s, j] * exp(owner[o])`` per day and lost at ``h_lost[s, j]``: competing risks with
piecewise-exponential times (Friedman 1982; the "Poisson trick" of Holford 1980). A deal that
survives the last bin never closes: the stall (no-decision) share is what the bins leave,
so it is estimated without a boundary (data with no stalled deal give a share near zero,
not a divergent sampler), and old open deals are read as stalled rather than as slow wins.

Per risk ``r``: ``log h_r[s, j] = curve_r[j] + shift_r[s] + dev_r[s, j]``, the population
curve a random walk over bins, segment shifts and segment-by-bin deviations partially
pooled (centred or not by the strength of their own data, see
:mod:`targetsim.model.components.common`). The likelihood needs only, per (segment, rep)
cell and bin, the wins, the losses and the days at risk: its cost does not grow with deals.
Closed deals without a creation date count for their outcome only.
"""

from __future__ import annotations

import numpy as np

from targetsim.model.components.common import between_sd
from targetsim.model.config import HazardPriors, ModelConfig
from targetsim.model.outcomes import HazardOutcome
from targetsim.model.stats import KIND_LOST, KIND_OPEN, KIND_WON, FunnelStats

RISKS = ("won", "lost")


def hazard_edges(st: FunnelStats, cfg: ModelConfig) -> np.ndarray:
    """Bin edges in whole days (between the half-day data points) from 0 to the last close.

    The last edge follows ``stale_after_days``: ``"auto"`` just past the longest time to
    close in the data, a number of days, or ``None`` for just past the oldest deal of all.
    """
    hz = cfg.hazard
    kind, days = st.deal_kind, st.deal_days
    closed = days[(kind != KIND_OPEN) & np.isfinite(days)]
    rule = cfg.stale_after_days
    if rule is None or closed.size == 0:
        dated = days[np.isfinite(days)]
        last = float(np.floor(dated.max())) + 1.0 if dated.size else 365.0
    elif rule == "auto":
        last = float(np.floor(closed.max())) + 1.0
    else:
        last = float(rule)
    n_bins = int(max(1, min(hz.bins, closed.size // hz.min_events_per_bin)))
    inner: np.ndarray = np.zeros(0)
    if closed.size:
        # Quantiles of the segments' times to close with every segment weighing the same,
        # so that a high-volume fast segment does not leave a slow one's range in a
        # single bin; then no bin wider than ``max_bin_ratio`` times its start.
        seg = st.cell_segment[st.deal_cell[(kind != KIND_OPEN) & np.isfinite(days)]]
        counts = np.bincount(seg)
        weight = 1.0 / counts[seg]
        order = np.argsort(closed, kind="stable")
        cum = np.cumsum(weight[order]) / weight.sum()
        probs = np.linspace(0, 1, n_bins + 1)[1:-1]
        inner = closed[order][np.minimum(np.searchsorted(cum, probs), closed.size - 1)]
    edges = np.unique(np.concatenate([[0.0], np.ceil(inner), [last]]))
    edges = edges[(edges >= 0) & (edges <= last)]
    out = [edges[0]]
    for e in edges[1:]:
        while out[-1] >= hz.min_split_days and e > hz.max_bin_ratio * out[-1]:
            out.append(float(np.ceil(hz.max_bin_ratio * out[-1])))
        out.append(float(e))
    return np.unique(np.array(out))


def hazard_counts(
    st: FunnelStats, edges: np.ndarray, delayed_entry: bool = True
) -> dict[str, np.ndarray]:
    """Per cell and bin: wins, losses and days at risk; per cell: undated wins and losses.

    Returns
    -------
    dict
        ``won, lost, exposure`` (C, J) and ``won_undated, lost_undated`` (C,).
    """
    n_cells, n_bins = len(st.cell_segment), len(edges) - 1
    dated = np.isfinite(st.deal_days)
    cell, t, kind = st.deal_cell[dated], st.deal_days[dated], st.deal_kind[dated]
    entry = st.deal_entry[dated] if len(st.deal_entry) and delayed_entry else np.zeros(len(t))
    # Days at risk in each bin: the part of [entry, t) inside it (entry > 0 for a deal of a
    # left-truncated export, known to be open only from then on); an event in bin j at t.
    e0, e1 = edges[:-1], edges[1:]
    lo = np.maximum(e0[None, :], entry[:, None])
    exposure = np.clip(np.minimum(t[:, None], e1[None, :]) - lo, 0.0, None)
    expo = np.zeros((n_cells, n_bins))
    np.add.at(expo, cell, exposure)
    j = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, n_bins - 1)
    out = {"exposure": expo}
    for name, code in (("won", KIND_WON), ("lost", KIND_LOST)):
        sel = (kind == code) & (t < edges[-1])
        out[name] = np.bincount(cell[sel] * n_bins + j[sel], minlength=n_cells * n_bins
                                ).reshape(n_cells, n_bins).astype(float)
        undated = (~dated) & (st.deal_kind == code)
        out[f"{name}_undated"] = np.bincount(st.deal_cell[undated], minlength=n_cells
                                             ).astype(float)
    return out


def _by_segment(per_cell: np.ndarray, seg_of: np.ndarray, n_seg: int) -> np.ndarray:
    out = np.zeros((n_seg,) + per_cell.shape[1:])
    np.add.at(out, seg_of, per_cell)
    return out


def _crude(counts: dict[str, np.ndarray], st: FunnelStats) -> dict[str, tuple]:
    """Crude log rate ratios and errors (only to choose each entry's parameterisation)."""
    n_seg = len(st.segments)
    seg = st.cell_segment
    out = {}
    for r in RISKS:
        d, e = counts[r], counts["exposure"]
        pooled = (d.sum(0) + 0.5) / (e.sum(0) + 1e-9)  # population rate per bin
        expected = e * pooled[None, :]
        d_s = np.zeros((n_seg, d.shape[1]))
        x_s = np.zeros_like(d_s)
        np.add.at(d_s, seg, d)
        np.add.at(x_s, seg, expected)
        shift = np.log((d_s.sum(1) + 0.5) / (x_s.sum(1) + 0.5))
        dev = np.log((d_s + 0.5) / (x_s * np.exp(shift)[:, None] + 0.5))
        out[r] = (shift, 1.0 / np.sqrt(d_s.sum(1) + 0.5), dev, 1.0 / np.sqrt(d_s + 0.5))
        if r == "won" and st.owners:
            own = st.cell_owner
            has = own >= 0
            n_own = len(st.owners)
            d_o = np.bincount(own[has], weights=d[has].sum(1), minlength=n_own)
            x_o = np.bincount(own[has], weights=(expected[has] * np.exp(shift[seg[has]])[:, None]
                                                 ).sum(1), minlength=n_own)
            out["owner"] = (np.log((d_o + 0.5) / (x_o + 0.5)), 1.0 / np.sqrt(d_o + 0.5))
    return out


def _spreads(crude: dict[str, tuple], hz: HazardPriors) -> dict[str, object]:
    """Between-segment (and between-rep) spreads of the log hazards, floored.

    DerSimonian-Laird moment estimates from the crude log rate ratios: of the segments'
    shifts (per risk), of their bin-by-bin deviations (per risk, all cells together) and of
    the reps' shifts of the hazard of winning.
    """

    def dl(est: np.ndarray, se: np.ndarray) -> float:
        ok = np.isfinite(est) & np.isfinite(se)
        return between_sd(est[ok], se[ok]) if ok.sum() >= 2 else 0.0

    out: dict[str, object] = {
        "shift": [max(dl(crude[r][0], crude[r][1]), hz.min_segment_spread) for r in RISKS],
        # Per bin: segments often agree early and differ a lot in the tail (a fast line
        # beside a slow one), and one spread for all bins would pool the tail too hard.
        "shape": [[max(dl(crude[r][2][:, j], crude[r][3][:, j]), hz.min_shape_spread)
                   for j in range(crude[r][2].shape[1])] for r in RISKS],
    }
    if "owner" in crude:
        out["owner"] = max(dl(*crude["owner"]), hz.min_owner_spread)
    return out


def _by_segment(per_cell: np.ndarray, seg_of: np.ndarray, n_seg: int) -> np.ndarray:
    out = np.zeros((n_seg,) + per_cell.shape[1:])
    np.add.at(out, seg_of, per_cell)
    return out


def build(st: FunnelStats, cfg: ModelConfig, meta: dict) -> None:
    """Add the hazard component to the model in context.

    Variables: ``hz_curve`` (risk, bin) the population curves, ``hz_shift_z`` (risk,
    segment) and ``hz_dev_z`` (risk, bin, segment) the standardised deviations of segments,
    ``owner_z`` and ``owner_effect``; deterministic ``hz_log_h`` (risk, segment, bin).
    ``meta`` keeps the bins (``hazard_edges``) and the spreads (``hazard_spreads``).
    """
    import pymc as pm
    import pytensor.tensor as pt

    hz = cfg.hazard
    edges = hazard_edges(st, cfg)
    meta["hazard_edges"] = edges.tolist()
    meta["truncated_before"] = st.truncated_before
    meta["delayed_entry"] = bool(hz.delayed_entry and st.truncated_before)
    counts = hazard_counts(st, edges, delayed_entry=hz.delayed_entry)
    n_seg, n_bins = len(st.segments), len(edges) - 1
    model = pm.modelcontext(None)
    model.add_coord("risk", RISKS)
    model.add_coord("bin", [f"{a:g}-{b:g}" for a, b in zip(edges[:-1], edges[1:], strict=True)])
    D = pm.Data  # noqa: N806
    # The population curve, centred (each bin's level is what its data pin down), with a
    # random-walk smoothness prior between neighbouring bins on top of a wide prior per bin:
    # bins with few events borrow from their neighbours.
    log_h = pm.Normal("hz_curve", hz.log_hazard.mu, hz.log_hazard.sigma, dims=("risk", "bin"))
    if n_bins > 1:
        step = log_h[:, 1:] - log_h[:, :-1]
        smooth = pm.logp(pm.Normal.dist(0.0, hz.curve_step.sigma), step).sum()
        pm.Potential("hz_curve_smooth", smooth)
    log_h = log_h[:, None, :] * pt.ones((1, n_seg, 1))  # (risk, segment, bin)
    crude = _crude(counts, st)
    spreads = _spreads(crude, hz)
    meta["hazard_spreads"] = spreads
    if n_seg > 1:
        # Segments deviate from the population curve by a shift of the whole curve and a
        # bin-by-bin shape, both summing to zero over segments: the population curve is
        # then the segments' average, identified by the data rather than traded against
        # the deviations along a ridge. Their spreads are estimated beforehand, as in a
        # random-effects meta-analysis (DerSimonian-Laird, floored): with the spreads
        # fixed the posterior has no funnel, whatever the segments look like.
        shift_z = pm.ZeroSumNormal("hz_shift_z", sigma=1.0, dims=("risk", "segment"))
        shift = D("hz_shift_sd", np.array(spreads["shift"]))[:, None] * shift_z
        dev_z = pm.ZeroSumNormal("hz_dev_z", sigma=1.0, dims=("risk", "bin", "segment"))
        dev = D("hz_dev_sd", np.array(spreads["shape"]))[:, None, :] * dev_z.dimshuffle(0, 2, 1)
        log_h = log_h + shift[:, :, None] + dev
    log_h = pm.Deterministic("hz_log_h", log_h, dims=("risk", "segment", "bin"))

    # The likelihood on (segment, bin) sums: an owner multiplies the hazard of winning, so
    # its exposure enters weighted by exp(effect) (one dense contraction, no gather).
    seg_of = st.cell_segment
    won_sj = _by_segment(counts["won"], seg_of, n_seg)
    lost_sj = _by_segment(counts["lost"], seg_of, n_seg)
    expo_sj = _by_segment(counts["exposure"], seg_of, n_seg)
    ll_sum = pt.sum(D("hz_won", won_sj) * log_h[0]) + pt.sum(D("hz_lost", lost_sj) * log_h[1])
    ll_sum = ll_sum - pt.sum(pt.exp(log_h[1]) * D("hz_exposure", expo_sj))
    if st.owners:
        # Zero-sum over reps for the same reason as the segments: their average is the
        # curve's, or it would trade against the curve's level along a ridge.
        owner_z = pm.ZeroSumNormal("owner_z", sigma=1.0, dims="owner")
        eff = pm.Deterministic("owner_effect", D("hz_owner_sd", spreads["owner"]) * owner_z,
                               dims="owner")
        n_own = len(st.owners)
        own = np.where(st.cell_owner >= 0, st.cell_owner, n_own)  # n_own: no owner
        expo = np.zeros((n_seg, n_own + 1, n_bins))
        np.add.at(expo, (seg_of, own), counts["exposure"])
        wins_by_owner = np.bincount(own, weights=counts["won"].sum(1), minlength=n_own + 1)
        weight = pt.concatenate([pt.exp(eff), pt.ones(1)])
        ll_sum = ll_sum + pt.sum(D("hz_owner_wins", wins_by_owner[:n_own]) * eff)
        ll_sum = ll_sum - pt.sum(pt.exp(log_h[0]) * pt.tensordot(
            D("hz_owner_exposure", expo), weight, axes=[[1], [0]]))
    else:
        ll_sum = ll_sum - pt.sum(pt.exp(log_h[0]) * D("hz_won_exposure", expo_sj))
    undated_w, undated_l = (np.bincount(seg_of, weights=counts[k], minlength=n_seg)
                            for k in ("won_undated", "lost_undated"))
    if undated_w.sum() + undated_l.sum() > 0:
        # A closed deal with no creation date tells its outcome, not its time: the
        # probability of that outcome over the whole grid (owner effects aside).
        width = D("hz_width", np.diff(edges))
        hw, hl = pt.exp(log_h[0]), pt.exp(log_h[1])
        mass = (hw + hl) * width[None, :]
        surv = pt.exp(-(pt.cumsum(mass, axis=1) - mass))
        event = surv * (1.0 - pt.exp(-mass))
        share = hw / (hw + hl)
        ll_sum = ll_sum + pt.sum(D("hz_won_undated", undated_w) * pt.log(
            pt.sum(event * share, axis=1))) + pt.sum(D("hz_lost_undated", undated_l) * pt.log(
                pt.sum(event * (1.0 - share), axis=1)))
    pm.Potential("hz_deals", ll_sum)


def draws(post: dict[str, np.ndarray], meta: dict) -> HazardOutcome:
    """:class:`HazardOutcome` of stacked posterior draws (draw axis first)."""
    log_h = post["hz_log_h"]  # (D, risk, S, J)
    n = log_h.shape[0]
    return HazardOutcome(
        edges=np.asarray(meta["hazard_edges"], dtype=float),
        log_h_won=log_h[:, 0], log_h_lost=log_h[:, 1],
        owner_effect=post.get("owner_effect", np.zeros((n, 0))),
    )
