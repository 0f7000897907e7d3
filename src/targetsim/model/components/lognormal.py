"""The log-normal components (the model of earlier versions, kept to compare side by side).

* outcome (``cycle: lognormal``): a deal of segment ``s`` and rep ``o`` is eventually won
  with probability ``expit(a[s] + owner_effect[o])``, otherwise lost with share
  ``expit(b[s])`` or stalled (never closes); times to a win / a loss are log-normal. The
  competing-risks likelihood with right censoring: won at ``t``: ``log p_win + log
  f_won(t)``; lost at ``t``: ``log p_lost + log f_lost(t)``; open at age ``x``:
  ``log(p_win S_won(x) + p_lost S_lost(x) + p_stall)``; an open deal older than
  ``stale_after_days`` is explained by the stall branch only.
* funnel stages (always this form): each step ``created -> stage1 -> ... -> won`` is a
  competing risk of the same form with its own conversion and duration per segment.
* size (``size: lognormal``): won values LogNormal per segment.
* arrivals (``arrivals: negbin``): monthly counts NegativeBinomial with mean
  ``exposure * exp(level[s] + trend[s] m + season[moy])``; trend and seasonality only with
  ``trend_min_months`` / ``season_min_months`` of history.

Won and lost deals enter as counts and sums of log-durations and their squares; open deals
as (unit, age) groups whose survival is computed once per distinct age.
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr
from scipy.special import expit

from targetsim.model.components.common import (
    centred,
    hier_block,
    logit_se,
    lognormal_loglik,
    normal_sf,
    safe,
)
from targetsim.model.config import ModelConfig
from targetsim.model.outcomes import LogNormalOutcome
from targetsim.model.params import ArrivalDraws, LogNormalSize
from targetsim.model.stats import DAY_OFFSET, FunnelStats, LogNormalStats

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
OUTCOME_ROWS = (
    "win_logit", "lost_share_logit", "won_log_days", "won_log_sigma", "lost_log_days",
    "lost_log_sigma",
)
SIZE_ROWS = ("size_log", "size_log_sigma")
#: Per-step parameters without a segment dimension (rows of ``step_params``).
STEP_PARAMS = ("lost_share_logit", "log_sigma", "lost_log_days", "lost_log_sigma")


def _priors(pairs) -> tuple[np.ndarray, ...]:  # noqa: ANN001
    return (
        np.array([m.mu for m, _ in pairs]), np.array([m.sigma for m, _ in pairs]),
        np.array([s.alpha for _, s in pairs]), np.array([s.beta for _, s in pairs]),
    )


def _seg_sum(st: FunnelStats, per_cell: np.ndarray) -> np.ndarray:
    return np.bincount(st.cell_segment, weights=per_cell, minlength=len(st.segments))


def _logit(yes: np.ndarray, no: np.ndarray) -> np.ndarray:
    p = (yes + 0.5) / (yes + no + 1.0)
    return np.where(yes + no > 0, np.log(p / (1 - p)), np.nan)


def _lognormal_est(stats: LogNormalStats) -> tuple[np.ndarray, ...]:
    n = safe(stats.n)
    mean = stats.s1 / n
    var = np.maximum(stats.s2 / n - mean**2, 1e-6)
    ok = stats.n >= 2
    return (
        np.where(ok, mean, np.nan), np.sqrt(var / n),
        np.where(ok, 0.5 * np.log(var), np.nan), 1.0 / np.sqrt(2 * n),
    )


def _block_centring(rows: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    est = np.vstack([r[0] for r in rows])
    se = np.vstack([r[1] for r in rows])
    return centred(est, np.where(np.isfinite(est), se, 1e6))


def stale_after_days(cfg: ModelConfig, st: FunnelStats) -> float:
    """The age beyond which an open deal counts as abandoned (see ``ModelConfig``)."""
    rule = cfg.stale_after_days
    if rule is None:
        return math.inf
    if rule == "auto":
        return st.max_closed_days if np.isfinite(st.max_closed_days) else math.inf
    return float(rule)


def competing_risk_loglik(
    a, b, mu_a, sig_a, mu_b, sig_b,  # noqa: ANN001
    *, unit_of_cell: np.ndarray, n_a: np.ndarray, n_b: np.ndarray, days_a: LogNormalStats,
    days_b: LogNormalStats, g_cell: np.ndarray, g_age: np.ndarray, g_count: np.ndarray,
    alive_unit: np.ndarray, stale: float, prefix: str,
):  # noqa: ANN201
    """Competing-risks log-likelihood of cells (logits ``a``, ``b``) with log-normal times.

    ``mu_a``... are per duration unit; ``alive_unit`` says which units the stale rule
    applies to (open deals of those units older than ``stale`` only stall).
    """
    import pymc as pm
    import pytensor.tensor as pt

    D = pm.Data  # noqa: N806
    if len(g_count) == 0:  # a zero-weight dummy keeps the graph's shape fixed
        g_cell, g_age, g_count = np.zeros(1, int), np.ones(1), np.zeros(1)
    lp_a = -pt.softplus(-a)
    lp_b = -pt.softplus(a) - pt.softplus(-b)
    # Survival depends on the duration unit and age only, not on the owner: evaluate it
    # once per distinct (unit, age), the costliest part of each gradient.
    pairs, g_pair = np.unique(
        np.column_stack([unit_of_cell[g_cell], g_age]), axis=0, return_inverse=True
    )
    g_pair = g_pair.reshape(-1)
    order = np.argsort(g_pair, kind="stable")
    g_cell, g_pair, g_count = g_cell[order], g_pair[order], g_count[order]
    by_pair = pt.stack([mu_a, sig_a, mu_b, sig_b])[:, D(f"{prefix}_surv_unit",
                                                       pairs[:, 0].astype(int))]
    log_age = D(f"{prefix}_surv_log_age", np.log(pairs[:, 1]))
    surv = pt.stack([
        normal_sf(by_pair[0], by_pair[1], log_age), normal_sf(by_pair[2], by_pair[3], log_age),
    ])
    alive = ~alive_unit[pairs[:, 0].astype(int)] | (pairs[:, 1] <= stale + DAY_OFFSET)
    surv = surv * D(f"{prefix}_surv_alive", alive.astype(float))[None, :]
    if len(pairs) != len(g_pair):
        surv = surv[:, D(f"{prefix}_open_pair", g_pair)]
    p_not = pt.sigmoid(-a)
    by_group = pt.stack([pt.sigmoid(a), p_not * pt.sigmoid(b), p_not * pt.sigmoid(-b)])[
        :, D(f"{prefix}_open_cell", g_cell)
    ]
    # Probability space: every term is positive and the stall share keeps the sum away
    # from zero; one log per group instead of three exps and four logs.
    open_ll = pt.log(by_group[0] * surv[0] + by_group[1] * surv[1] + by_group[2])
    ln = LogNormalStats(
        n=np.concatenate([days_a.n, days_b.n]), s1=np.concatenate([days_a.s1, days_b.s1]),
        s2=np.concatenate([days_a.s2, days_b.s2]),
    )
    ln_t = LogNormalStats(D(f"{prefix}_ln_n", ln.n), D(f"{prefix}_ln_s1", ln.s1),
                          D(f"{prefix}_ln_s2", ln.s2))
    return (
        pt.sum(D(f"{prefix}_n_a", n_a) * lp_a) + pt.sum(D(f"{prefix}_n_b", n_b) * lp_b)
        + lognormal_loglik(ln_t, pt.concatenate([mu_a, mu_b]), pt.concatenate([sig_a, sig_b]))
        + pt.sum(D(f"{prefix}_open_count", g_count) * open_ll)
    )


def owner_effects(st: FunnelStats, cfg_sd, est_rate=None):  # noqa: ANN001, ANN201
    """Partially pooled owner effects (``owner_sd``, ``owner_effect``), or None without owners.

    ``est_rate`` are crude per-owner estimates and errors (default: win logits from counts).
    """
    import pymc as pm

    if not st.owners:
        return None
    from targetsim.model.components.common import mixed_normal

    n_own = len(st.owners)
    has = st.cell_owner >= 0
    if est_rate is None:
        won_by = np.bincount(st.cell_owner[has], weights=st.n_won[has], minlength=n_own)
        lost_by = np.bincount(st.cell_owner[has], weights=st.n_lost[has], minlength=n_own)
        p_own = (won_by + 0.5) / (won_by + lost_by + 1.0)
        est_rate = (np.where(won_by + lost_by > 0, np.log(p_own / (1 - p_own)), np.nan),
                    logit_se(won_by, lost_by))
    mask = centred(est_rate[0][None], est_rate[1][None])[0]
    D = pm.Data  # noqa: N806
    o_sd = pm.Gamma("owner_sd", alpha=D("prior_owner_sd_alpha", cfg_sd.alpha),
                    beta=D("prior_owner_sd_beta", cfg_sd.beta))
    return pm.Deterministic(
        "owner_effect",
        mixed_normal("owner", 0.0, o_sd, D("owner_centred", mask.astype(float)), "owner"),
        dims="owner",
    )


# --------------------------------------------------------------------------- outcome
def build_outcome(st: FunnelStats, cfg: ModelConfig, meta: dict) -> None:
    """Add the log-normal outcome to the model in context (``outcome_theta``, owners)."""
    import pymc as pm
    import pytensor.tensor as pt

    n_seg = len(st.segments)
    n_won, n_lost = _seg_sum(st, st.n_won), _seg_sum(st, st.n_lost)
    n_open = np.bincount(st.cell_segment[st.open.cell], weights=st.open.count,
                         minlength=n_seg) if len(st.open.count) else np.zeros(n_seg)
    won, lost = _lognormal_est(st.won_days), _lognormal_est(st.lost_days)
    mask = _block_centring([
        (_logit(n_won, n_lost), logit_se(n_won, n_lost)),
        (_logit(n_lost, n_open), 2.0 / np.sqrt(safe(n_lost))),
        won[:2], won[2:], lost[:2], lost[2:],
    ])
    pairs = [(cfg.win_logit, cfg.win_logit_sd), (cfg.lost_share_logit, cfg.lost_share_logit_sd),
             (cfg.won_log_days, cfg.won_log_days_sd), (cfg.won_log_sigma, cfg.won_log_sigma_sd),
             (cfg.lost_log_days, cfg.lost_log_days_sd),
             (cfg.lost_log_sigma, cfg.lost_log_sigma_sd)]
    model = pm.modelcontext(None)
    model.add_coord("outcome_theta_param", OUTCOME_ROWS)
    theta = hier_block("outcome_theta", OUTCOME_ROWS, n_seg, *_priors(pairs), mask)
    cell_seg = pm.Data("cell_segment", st.cell_segment)
    a = theta[0][cell_seg]
    eff = owner_effects(st, cfg.owner_effect_sd)
    if eff is not None:
        has = st.cell_owner >= 0
        a = a + pm.Data("cell_has_owner", has.astype(float)) * eff[
            pm.Data("cell_owner", np.maximum(st.cell_owner, 0))]
    stale = stale_after_days(cfg, st)
    meta["stale_after_days"] = stale
    pm.Potential("outcome_deals", competing_risk_loglik(
        a, theta[1][cell_seg], theta[2], pt.exp(theta[3]), theta[4], pt.exp(theta[5]),
        unit_of_cell=st.cell_segment, n_a=st.n_won, n_b=st.n_lost, days_a=st.won_days,
        days_b=st.lost_days, g_cell=st.open.cell, g_age=st.open.age, g_count=st.open.count,
        alive_unit=np.ones(n_seg, bool), stale=stale, prefix="outcome",
    ))


def outcome_draws(post: dict[str, np.ndarray], meta: dict) -> LogNormalOutcome:
    """:class:`LogNormalOutcome` of stacked posterior draws (``post[name]``: draw axis first)."""
    th = post["outcome_theta"]  # (D, row, S)
    p_win = expit(th[:, 0])
    n = th.shape[0]
    return LogNormalOutcome(
        p_win=p_win,
        p_lost=(1.0 - p_win) * expit(th[:, 1]),
        won_mu=th[:, 2], won_sigma=np.exp(th[:, 3]),
        lost_mu=th[:, 4], lost_sigma=np.exp(th[:, 5]),
        owner_effect=post.get("owner_effect", np.zeros((n, 0))),
        stale_after_days=float(meta.get("stale_after_days", math.inf)),
    )


# --------------------------------------------------------------------------- stages
def build_stages(st: FunnelStats, cfg: ModelConfig, meta: dict) -> None:
    """Add the funnel steps (``stage_theta``, ``step_params``) to the model in context."""
    import pymc as pm
    import pytensor.tensor as pt

    ss = st.stages
    n_seg, n_k = len(st.segments), len(ss.steps)
    cd = _lognormal_est(ss.converted_days)
    # A step whose durations are all unknown or degenerate (Maven: the creation date is
    # the stage date) has no timing evidence: its duration row would only sample its
    # hierarchical prior, slowly, so it is left out and the step counts for conversion.
    open_steps = ss.open.cell // n_seg if len(ss.open.cell) else np.zeros(0, int)
    timed = [
        bool(ss.converted_days.n[k * n_seg:(k + 1) * n_seg].sum()
             + ss.lost_days.n[k * n_seg:(k + 1) * n_seg].sum() + np.sum(open_steps == k))
        for k in range(n_k)
    ]
    meta["stage_timed"] = timed
    rows, est, pairs = [], [], []
    for k, step in enumerate(ss.steps):
        yes, no = ss.n_converted[k].astype(float), ss.n_lost[k].astype(float)
        rows.append(f"stage_logit:{step}")
        est.append((_logit(yes, no), logit_se(yes, no)))
        pairs.append((cfg.stage_logit, cfg.stage_logit_sd))
        if timed[k]:
            sl = slice(k * n_seg, (k + 1) * n_seg)
            rows.append(f"stage_log_days:{step}")
            est.append((cd[0][sl], cd[1][sl]))
            pairs.append((cfg.stage_log_days, cfg.stage_log_days_sd))
    model = pm.modelcontext(None)
    model.add_coord("stage_theta_param", rows)
    model.add_coord("step", ss.steps)
    model.add_coord("step_param", STEP_PARAMS)
    theta = hier_block("stage_theta", tuple(rows), n_seg, *_priors(pairs), _block_centring(est))
    D = pm.Data  # noqa: N806
    sp = pm.Normal(
        "step_params",
        mu=D("prior_step_mu", np.array([cfg.stage_lost_share_logit.mu, cfg.stage_log_sigma.mu,
                                        cfg.stage_lost_log_days.mu,
                                        cfg.stage_log_sigma.mu]))[:, None],
        sigma=D("prior_step_sigma", np.array([
            cfg.stage_lost_share_logit.sigma, cfg.stage_log_sigma.sigma,
            cfg.stage_lost_log_days.sigma, cfg.stage_log_sigma.sigma]))[:, None],
        dims=("step_param", "step"),
    )
    row = {name: i for i, name in enumerate(rows)}
    logits = pt.concatenate([theta[row[f"stage_logit:{step}"]] for step in ss.steps])
    # An untimed step's duration never enters the likelihood: any constant will do.
    days = pt.concatenate([
        theta[row[f"stage_log_days:{step}"]] if timed[k] else pt.zeros(n_seg)
        for k, step in enumerate(ss.steps)
    ])

    def per_step(x):  # noqa: ANN001, ANN202
        return pt.repeat(x, n_seg)

    pm.Potential("stage_deals", competing_risk_loglik(
        logits, per_step(sp[0]), days,
        per_step(pt.exp(sp[1])), per_step(sp[2]), per_step(pt.exp(sp[3])),
        unit_of_cell=np.arange(n_k * n_seg), n_a=ss.n_converted.reshape(-1).astype(float),
        n_b=ss.n_lost.reshape(-1).astype(float), days_a=ss.converted_days,
        days_b=ss.lost_days, g_cell=ss.open.cell, g_age=ss.open.age, g_count=ss.open.count,
        alive_unit=np.zeros(n_k * n_seg, bool), stale=math.inf, prefix="stage",
    ))


def stage_summary(
    post: dict[str, np.ndarray], rows: tuple[str, ...], steps: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """``conversion`` and ``stage_cycle_days_median`` (D, K, S) of stacked draws.

    ``rows`` names the rows of ``stage_theta``; an untimed step's median is NaN.
    """
    th = post["stage_theta"]  # (D, R, S)
    row = {name: i for i, name in enumerate(rows)}
    nan = np.full((th.shape[0], th.shape[-1]), np.nan)
    conv = np.stack([expit(th[:, row[f"stage_logit:{k}"]]) for k in steps], axis=1)
    days = np.stack([
        np.exp(th[:, row[f"stage_log_days:{k}"]]) if f"stage_log_days:{k}" in row else nan
        for k in steps
    ], axis=1)
    return {"conversion": conv, "stage_cycle_days_median": days}


# --------------------------------------------------------------------------- size
def build_size(st: FunnelStats, cfg: ModelConfig, meta: dict) -> None:
    """Add log-normal won values (``size_theta``) to the model in context."""
    import pymc as pm
    import pytensor.tensor as pt

    n_seg = len(st.segments)
    size = _lognormal_est(st.size)
    model = pm.modelcontext(None)
    model.add_coord("size_theta_param", SIZE_ROWS)
    pairs = [(cfg.size_log, cfg.size_log_sd), (cfg.size_log_sigma, cfg.size_log_sigma_sd)]
    theta = hier_block("size_theta", SIZE_ROWS, n_seg, *_priors(pairs),
                       _block_centring([size[:2], size[2:]]))
    D = pm.Data  # noqa: N806
    ln = LogNormalStats(D("size_n", st.size.n), D("size_s1", st.size.s1), D("size_s2", st.size.s2))
    pm.Potential("size_deals", lognormal_loglik(ln, theta[0], pt.exp(theta[1])))


def size_draws(post: dict[str, np.ndarray], meta: dict) -> LogNormalSize:
    th = post["size_theta"]
    return LogNormalSize(size_mu=th[:, 0], size_sigma=np.exp(th[:, 1]))


# --------------------------------------------------------------------------- arrivals
def _arrival_span(st: FunnelStats) -> int:
    return int(st.arrival_month.max() - st.arrival_month.min() + 1)


def build_arrivals(st: FunnelStats, cfg: ModelConfig, meta: dict) -> None:
    """Add negative-binomial arrivals (``arrival_theta``, season, dispersion)."""
    import pymc as pm
    import pytensor.tensor as pt

    n_seg = len(st.segments)
    span = _arrival_span(st)
    trend_on, season_on = span >= cfg.trend_min_months, span >= cfg.season_min_months
    seg = st.arrival_segment
    n_arr = np.bincount(seg, weights=st.arrival_count, minlength=n_seg)
    expo = np.bincount(seg, weights=st.arrival_exposure, minlength=n_seg)
    rows = [(np.log(safe(n_arr) / safe(expo)), 1.0 / np.sqrt(safe(n_arr)))]
    names = ["arrival_log_rate"]
    pairs = [(cfg.arrival_log_level, cfg.arrival_log_level_sd)]
    if trend_on:
        w = st.arrival_exposure
        m_bar = np.bincount(seg, weights=w * st.arrival_month, minlength=n_seg) / safe(expo)
        dm = st.arrival_month - m_bar[seg]
        y = np.log((st.arrival_count + 0.5) / w)
        sxx = np.bincount(seg, weights=w * dm**2, minlength=n_seg)
        slope = np.bincount(seg, weights=w * dm * y, minlength=n_seg) / np.maximum(sxx, 1e-9)
        m_var = np.bincount(seg, weights=st.arrival_count * dm**2, minlength=n_seg)
        rows.append((np.where(sxx > 0, slope, np.nan), 1.0 / np.sqrt(np.maximum(m_var, 1e-9))))
        names.append("arrival_trend")
        pairs.append((cfg.arrival_trend, cfg.arrival_trend_sd))
    model = pm.modelcontext(None)
    model.add_coord("arrival_theta_param", names)
    if "month_of_year" not in model.coords:
        model.add_coord("month_of_year", MONTHS)
    theta = hier_block("arrival_theta", tuple(names), n_seg, *_priors(pairs),
                       _block_centring(rows))
    D = pm.Data  # noqa: N806
    if season_on:
        s_scale = pm.HalfNormal("season_scale", sigma=D("prior_season", cfg.season_scale.sigma))
        s_z = pm.Normal("season_z", 0.0, 1.0, dims="month_of_year")
        season = s_scale * (s_z - pt.mean(s_z))
    else:
        season = pt.zeros(len(MONTHS))
    season = pm.Deterministic("season", season, dims="month_of_year")
    trend = pm.Deterministic("arrival_trend", theta[1] if trend_on else pt.zeros(n_seg),
                             dims="segment")
    inv = pm.Gamma("arrival_inv_sqrt_alpha", alpha=D("prior_inv_alpha_a",
                                                     cfg.arrival_inv_sqrt_alpha.alpha),
                   beta=D("prior_inv_alpha_b", cfg.arrival_inv_sqrt_alpha.beta), dims="segment")
    seg_d = D("arrival_segment", seg)
    log_mu = (D("arrival_log_exposure", np.log(st.arrival_exposure)) + theta[0][seg_d]
              + trend[seg_d] * D("arrival_month", st.arrival_month.astype(float))
              + season[D("arrival_moy", st.arrival_moy)])
    pm.NegativeBinomial("arrivals", mu=pt.exp(log_mu), alpha=1.0 / inv[seg_d] ** 2,
                        observed=D("arrival_count", st.arrival_count))


def arrival_draws(post: dict[str, np.ndarray], meta: dict) -> ArrivalDraws:
    th = post["arrival_theta"]
    return ArrivalDraws.from_trend(
        th[:, 0], post["arrival_trend"], post["season"],
        1.0 / post["arrival_inv_sqrt_alpha"] ** 2, int(meta["as_of_month"]),
        int(meta.get("horizon_months", 121)),
    )


__all__ = [
    "MONTHS", "OUTCOME_ROWS", "SIZE_ROWS", "STEP_PARAMS", "arrival_draws", "build_arrivals",
    "build_outcome", "build_size", "build_stages", "competing_risk_loglik", "outcome_draws",
    "size_draws", "stage_summary", "stale_after_days", "xr",
]
