"""The hierarchical funnel model, written on sufficient statistics.

For segment ``s`` and rep ``o`` (cell ``c``), an opportunity is eventually won with
probability ``p_win[c] = expit(a[s] + owner_effect[o])``, otherwise lost with share
``r[s] = expit(b[s])`` or stalled (never closes). Won and lost durations are
LogNormal(``won_mu[s], won_sigma[s]``) and LogNormal(``lost_mu[s], lost_sigma[s]``) days.
The log-likelihood is the competing-risks likelihood with right censoring:

* won at ``t``: ``log p_win[c] + log f_won(t)``;
* lost at ``t``: ``log p_lost[c] + log f_lost(t)``;
* open at age ``x``: ``log(p_win[c] S_won(x) + p_lost[c] S_lost(x) + p_stall[c])``;

where the sums over won and lost deals collapse to counts and sums of log-durations and
their squares (:mod:`targetsim.model.stats`), and open deals are grouped by exact age.
Won contract values are LogNormal(``size_mu[s], size_sigma[s]``). Monthly arrivals are
NegativeBinomial with mean ``exposure * exp(level[s] + trend[s] m + season[moy])`` where
``m`` counts months from the as-of month (0) and ``season`` sums to zero over the year.
With stages, each funnel step ``k`` (``created -> stage1 -> ... -> won``) is a competing
risk of the same form (converted / lost / never), with its own conversion and duration per
segment and a loss share and shapes per step.

Speed: every segment-level parameter lives in one matrix ``theta`` (parameter x segment)
drawn from Normal(``hyper_mean``, ``hyper_sd``), and all competing-risk cells (segment x
owner, and step x segment) share one vectorised likelihood. The graph therefore has the
same small size whatever the number of segments, owners, stages and deals; it is compiled
with JAX (about 3 s, where numba took about a minute on this graph) and a gradient costs
what the distinct ages of open deals cost (their survival terms), not what the deals do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from targetsim.data.funnel import FunnelData
from targetsim.errors import ConfigError, NotFittedError
from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE, ModelConfig
from targetsim.model.stats import DAY_OFFSET, FunnelStats, LogNormalStats, funnel_stats

if TYPE_CHECKING:
    from targetsim.model.fit import FunnelFit

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: Rows of ``theta`` shared by every model; stage rows follow (see :func:`param_names`).
BASE_PARAMS = (
    "win_logit",
    "lost_share_logit",
    "won_log_days",
    "won_log_sigma",
    "lost_log_days",
    "lost_log_sigma",
    "size_log",
    "size_log_sigma",
    "arrival_log_rate",
    "arrival_trend",
)
#: Per-step parameters without a segment dimension (rows of ``step_params``).
STEP_PARAMS = ("lost_share_logit", "log_sigma", "lost_log_days", "lost_log_sigma")
#: A segment's parameter is centred when the standard error its own data give is below
#: this fraction of the segments' estimated spread (see :func:`_centred`).
CENTRE_RATIO = 0.5
_LOG_2PI = math.log(2.0 * math.pi)


def param_names(steps: tuple[str, ...]) -> tuple[str, ...]:
    """Names of the rows of ``theta`` for a model with the given funnel steps."""
    extra = tuple(f"{p}:{k}" for k in steps for p in ("stage_logit", "stage_log_days"))
    return BASE_PARAMS + extra


def _log_sigmoid(x: pt.TensorVariable) -> pt.TensorVariable:
    return -pt.softplus(-x)


def _normal_sf(mu: pt.TensorVariable, sigma: pt.TensorVariable, x: pt.TensorVariable):
    """Survival ``P(X > x)`` of Normal(``mu``, ``sigma``) (``erfc``, exact in float64)."""
    return 0.5 * pt.erfc((x - mu) / (sigma * math.sqrt(2.0)))


def _lognormal_loglik(
    stats: LogNormalStats, mu: pt.TensorVariable, sigma: pt.TensorVariable
) -> pt.TensorVariable:
    """Sum of log LogNormal densities from ``n``, ``sum log x``, ``sum (log x)**2``."""
    n, s1, s2 = stats.n, stats.s1, stats.s2
    sq = s2 - 2.0 * mu * s1 + n * mu**2
    return pt.sum(-n * pt.log(sigma) - 0.5 * n * _LOG_2PI - s1 - sq / (2.0 * sigma**2))


def _concat(parts: list[LogNormalStats]) -> LogNormalStats:
    return LogNormalStats(
        n=np.concatenate([p.n for p in parts]),
        s1=np.concatenate([p.s1 for p in parts]),
        s2=np.concatenate([p.s2 for p in parts]),
    )


def _safe(n: np.ndarray) -> np.ndarray:
    return np.maximum(np.asarray(n, dtype=float), 1.0)


def _logit_se(n_yes: np.ndarray, n_no: np.ndarray) -> np.ndarray:
    """Rough standard error of a logit from counts (only used to choose a parameterisation)."""
    n = np.asarray(n_yes + n_no, dtype=float)
    # Haldane's +0.5: with no "no" at all (every deal of a step converts) the likelihood
    # is flat towards +inf, and the error must say "weak data", not "very precise".
    p = (n_yes + 0.5) / (n + 1.0)
    return 1.0 / np.sqrt((n + 1.0) * p * (1.0 - p))


@dataclass(frozen=True)
class Layout:
    """How the data map onto the model's vectors (kept with the model for the posterior).

    Attributes
    ----------
    params : tuple of str
        Rows of ``theta``.
    centred : ndarray of bool, shape (R, S)
        Which entries of ``theta`` are centred (the rest are non-centred).
    owner_centred : ndarray of bool, shape (O,)
    stale_after_days : float
        Age (days) beyond which an open deal is abandoned (``inf``: no such rule).
    """

    params: tuple[str, ...]
    centred: np.ndarray
    owner_centred: np.ndarray
    stale_after_days: float = math.inf


def stale_after_days(cfg: ModelConfig, st: FunnelStats) -> float:
    """The age beyond which an open deal counts as abandoned (see ``ModelConfig``)."""
    rule = cfg.stale_after_days
    if rule is None:
        return math.inf
    if rule == "auto":
        return st.max_closed_days if np.isfinite(st.max_closed_days) else math.inf
    return float(rule)


def _raw_estimates(st: FunnelStats) -> tuple[np.ndarray, np.ndarray]:
    """Crude per-segment estimates of each row of ``theta`` and their standard errors.

    Only used to choose each entry's parameterisation, never as data: naive rates from
    closed deals, mean log durations and amounts, log arrival rates and a least-squares
    slope of log monthly counts. Entries without data are NaN with a huge error.

    Returns
    -------
    est, se : ndarray, shape (R, S)
    """
    n_seg = len(st.segments)

    def seg_sum(per_cell: np.ndarray) -> np.ndarray:
        return np.bincount(st.cell_segment, weights=per_cell, minlength=n_seg)

    def logit(yes: np.ndarray, no: np.ndarray) -> np.ndarray:
        p = (yes + 0.5) / (yes + no + 1.0)
        return np.where(yes + no > 0, np.log(p / (1 - p)), np.nan)

    def lognormal(stats: LogNormalStats) -> tuple[np.ndarray, ...]:
        n = _safe(stats.n)
        mean = stats.s1 / n
        var = np.maximum(stats.s2 / n - mean**2, 1e-6)
        ok = stats.n >= 2
        return (
            np.where(ok, mean, np.nan), np.sqrt(var / n),
            np.where(ok, 0.5 * np.log(var), np.nan), 1.0 / np.sqrt(2 * n),
        )

    n_won, n_lost = seg_sum(st.n_won), seg_sum(st.n_lost)
    n_open = np.bincount(
        st.cell_segment[st.open.cell], weights=st.open.count, minlength=n_seg
    ) if len(st.open.count) else np.zeros(n_seg)
    seg = st.arrival_segment
    n_arr = np.bincount(seg, weights=st.arrival_count, minlength=n_seg)
    expo = np.bincount(seg, weights=st.arrival_exposure, minlength=n_seg)
    w = st.arrival_exposure
    m_bar = np.bincount(seg, weights=w * st.arrival_month, minlength=n_seg) / _safe(expo)
    dm = st.arrival_month - m_bar[seg]
    y = np.log((st.arrival_count + 0.5) / w)
    sxx = np.bincount(seg, weights=w * dm**2, minlength=n_seg)
    slope = np.bincount(seg, weights=w * dm * y, minlength=n_seg) / np.maximum(sxx, 1e-9)
    m_var = np.bincount(seg, weights=st.arrival_count * dm**2, minlength=n_seg)

    won = lognormal(st.won_days)
    lost = lognormal(st.lost_days)
    size = lognormal(st.size)
    rows = [
        (logit(n_won, n_lost), _logit_se(n_won, n_lost)),
        (logit(n_lost, n_open), 2.0 / np.sqrt(_safe(n_lost))),
        won[:2], won[2:], lost[:2], lost[2:], size[:2], size[2:],
        (np.log(_safe(n_arr) / _safe(expo)), 1.0 / np.sqrt(_safe(n_arr))),
        (np.where(sxx > 0, slope, np.nan), 1.0 / np.sqrt(np.maximum(m_var, 1e-9))),
    ]
    if st.stages is not None:
        ss = st.stages
        k_n = len(ss.steps)
        cd = lognormal(ss.converted_days)
        for k in range(k_n):
            yes, no = ss.n_converted[k].astype(float), ss.n_lost[k].astype(float)
            rows.append((logit(yes, no), _logit_se(yes, no)))
            sl = slice(k * n_seg, (k + 1) * n_seg)
            rows.append((cd[0][sl], cd[1][sl]))
    est = np.vstack([r[0] for r in rows])
    se = np.vstack([r[1] for r in rows])
    return est, np.where(np.isfinite(est), se, 1e6)


def _between_sd(est: np.ndarray, se: np.ndarray) -> float:
    """DerSimonian-Laird estimate of the spread of true values behind noisy ``est``.

    The meta-analysis moment estimator: weights ``1 / se**2`` keep a small, noisy segment
    from posing as heterogeneity (Maven's GTK 500 next to six large products).
    """
    w = 1.0 / se**2
    mean = np.sum(w * est) / np.sum(w)
    q = np.sum(w * (est - mean) ** 2)
    denom = np.sum(w) - np.sum(w**2) / np.sum(w)
    return float(np.sqrt(max((q - (len(est) - 1)) / denom, 0.0))) if denom > 0 else 0.0


def _centred(est: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Which entries of ``theta`` to centre: those whose data beat the segments' spread.

    The spread ``tau`` of each row over segments is estimated from the crude estimates and
    their errors (:func:`_between_sd`); an entry is centred when its standard error is
    below ``CENTRE_RATIO * tau``: then its own data dominate its posterior, and the
    non-centred form would pin its standardised offset to a sliver that narrows as ``tau``
    grows. Homogeneous segments (tau ~ 0) are therefore all non-centred, heterogeneous
    data-rich ones centred.
    """
    out = np.zeros(est.shape, dtype=bool)
    for r in range(est.shape[0]):
        ok = np.isfinite(est[r]) & (se[r] < 1e5)
        if ok.sum() < 2:
            continue
        tau = _between_sd(est[r, ok], se[r, ok])
        out[r] = ok & (se[r] < CENTRE_RATIO * tau)
    return out


def _priors(cfg: ModelConfig, steps: tuple[str, ...]) -> tuple[np.ndarray, ...]:
    """Hyper-prior arrays (mean mu, mean sigma, sd alpha, sd beta) per row of ``theta``."""
    pairs = [
        (cfg.win_logit, cfg.win_logit_sd),
        (cfg.lost_share_logit, cfg.lost_share_logit_sd),
        (cfg.won_log_days, cfg.won_log_days_sd),
        (cfg.won_log_sigma, cfg.won_log_sigma_sd),
        (cfg.lost_log_days, cfg.lost_log_days_sd),
        (cfg.lost_log_sigma, cfg.lost_log_sigma_sd),
        (cfg.size_log, cfg.size_log_sd),
        (cfg.size_log_sigma, cfg.size_log_sigma_sd),
        (cfg.arrival_log_level, cfg.arrival_log_level_sd),
        (cfg.arrival_trend, cfg.arrival_trend_sd),
    ]
    for _ in steps:
        pairs += [
            (cfg.stage_logit, cfg.stage_logit_sd),
            (cfg.stage_log_days, cfg.stage_log_days_sd),
        ]
    return (
        np.array([m.mu for m, _ in pairs]),
        np.array([m.sigma for m, _ in pairs]),
        np.array([s.alpha for _, s in pairs]),
        np.array([s.beta for _, s in pairs]),
    )


def _mixed_normal(
    name: str,
    mean: pt.TensorVariable,
    sd: pt.TensorVariable,
    centred: pt.TensorVariable,
    dims: str | tuple[str, ...],
) -> pt.TensorVariable:
    """``theta ~ Normal(mean, sd)`` elementwise, centred where ``centred`` (0/1) else not.

    Where a parameter's own data are strong (standard error well below the spread over
    segments) the centred form samples well; where they are weak the non-centred
    ``mean + sd * z`` avoids the funnel (Papaspiliopoulos, Roberts and Skold 2007;
    Betancourt and Girolami 2015). The wrong form for a data-rich segment turns the
    posterior of ``(mean, sd, z)`` into a thin curved ridge that NUTS crosses only with
    tiny steps. One raw variable serves both forms (``Normal(mean, sd)`` where centred,
    ``Normal(0, 1)`` elsewhere), so the choice is data, not graph structure.
    """
    raw = pm.Normal(
        f"{name}_raw",
        mu=centred * mean,
        sigma=centred * sd + (1.0 - centred),
        dims=dims,
    )
    return centred * raw + (1.0 - centred) * (mean + sd * raw)


class FunnelModel:
    """Bayesian funnel model with a pymc-marketing-like lifecycle.

    Examples
    --------
    >>> model = FunnelModel()  # doctest: +SKIP
    >>> model.build_model(funnel)  # doctest: +SKIP
    >>> fit = model.fit(draws=500, tune=500)  # doctest: +SKIP
    """

    #: Default priors, readable without building anything.
    default_model_config: ModelConfig = ModelConfig()

    def __init__(self, config: ModelConfig | None = None) -> None:
        if config is not None and not isinstance(config, ModelConfig):
            raise ConfigError(f"config must be a ModelConfig, got {type(config).__name__}")
        self.config = config or self.default_model_config
        self.model: pm.Model | None = None
        self.funnel: FunnelData | None = None
        self.stats: FunnelStats | None = None
        self.layout: Layout | None = None
        self._fit: FunnelFit | None = None

    # ------------------------------------------------------------------ lifecycle
    def build_model(self, funnel: FunnelData) -> pm.Model:
        """Build the PyMC model of ``funnel`` (and keep it as ``self.model``)."""
        stats = funnel_stats(funnel)
        self.funnel, self.stats = funnel, stats
        self.model, self.layout = build_pymc_model(stats, self.config)
        self._fit = None
        return self.model

    def fit(
        self,
        *,
        draws: int = DEFAULT_DRAWS,
        tune: int = DEFAULT_TUNE,
        chains: int = 2,
        sampler: str = "nutpie",
        random_seed: int = 0,
        progress: bool = True,
    ) -> FunnelFit:
        """Sample the posterior; see :func:`targetsim.model.fit_funnel`."""
        if self.model is None or self.funnel is None:
            raise NotFittedError("FunnelModel.fit() needs a model: call build_model(funnel) first")
        from targetsim.model.fit import sample_model

        self._fit = sample_model(
            self,
            draws=draws,
            tune=tune,
            chains=chains,
            sampler=sampler,
            random_seed=random_seed,
            progress=progress,
        )
        return self._fit

    @property
    def fit_result(self) -> FunnelFit:
        """The :class:`FunnelFit` of the last :meth:`fit`."""
        if self._fit is None:
            raise NotFittedError("no posterior yet: call FunnelModel.fit() first")
        return self._fit

    @property
    def idata(self):
        """Posterior InferenceData of the last :meth:`fit`."""
        return self.fit_result.idata


def build_pymc_model(st: FunnelStats, cfg: ModelConfig) -> tuple[pm.Model, Layout]:
    """The PyMC model of sufficient statistics ``st`` under priors ``cfg``.

    Every number that comes from the data or the priors enters through ``pm.Data``, so a
    compiled model can take new data of the same shape (what-if loops, studies) without
    compiling again. Parameters that only the prior would inform (the arrivals' trend and
    seasonality when the history is too short for them) are left out of the graph.

    Returns
    -------
    model : pymc.Model
        Free variables ``hyper_mean, hyper_sd`` (per row of ``theta``), ``theta_raw``,
        ``owner_sd, owner_raw`` (with owners), ``season_scale, season_z`` (with at least
        ``season_min_months`` of history),
        ``arrival_inv_sqrt_alpha`` and, with stages, ``step_params``; deterministics
        ``theta`` (param x segment), ``season`` and ``owner_effect``. Everything else is
        derived after sampling (:func:`targetsim.model.posterior.derive`).
    layout : Layout
    """
    n_seg = len(st.segments)
    steps = st.stages.steps if st.stages is not None else ()
    n_k = len(steps)
    span = int(st.arrival_month.max() - st.arrival_month.min() + 1)
    trend_on = span >= cfg.trend_min_months
    season_on = span >= cfg.season_min_months
    all_names = param_names(steps)
    # A switched-off trend is left out of the graph rather than multiplied by 0: a
    # parameter that only samples its prior still costs gradient work and mixing.
    keep = np.array([trend_on or n != "arrival_trend" for n in all_names])
    names = tuple(n for n, k in zip(all_names, keep, strict=True) if k)
    mu0, sig0, alpha0, beta0 = (x[keep] for x in _priors(cfg, steps))
    est, se = _raw_estimates(st)
    centred = _centred(est[keep], se[keep])

    coords: dict[str, tuple[str, ...]] = {
        "param": names,
        "segment": st.segments,
        "month_of_year": MONTHS,
    }
    if st.owners:
        coords["owner"] = st.owners
    if n_k:
        coords["step"] = steps
        coords["step_param"] = STEP_PARAMS

    # Competing-risk cells: (segment, owner) cells, then (step, segment) cells; duration
    # "units" (what the lognormal durations depend on): segments, then (step, segment).
    n_cells = len(st.cell_segment)
    unit_of_cell = st.cell_segment
    n_a, n_b = st.n_won, st.n_lost
    days = [st.won_days]
    days_b = [st.lost_days]
    g_cell, g_age, g_count = st.open.cell, st.open.age, st.open.count
    if n_k:
        ss = st.stages
        unit_of_cell = np.concatenate([unit_of_cell, n_seg + np.arange(n_k * n_seg)])
        n_a = np.concatenate([n_a, ss.n_converted.reshape(-1).astype(float)])
        n_b = np.concatenate([n_b, ss.n_lost.reshape(-1).astype(float)])
        days.append(ss.converted_days)
        days_b.append(ss.lost_days)
        g_cell = np.concatenate([g_cell, n_cells + ss.open.cell])
        g_age = np.concatenate([g_age, ss.open.age])
        g_count = np.concatenate([g_count, ss.open.count])
    ln = _concat([*days, *days_b, st.size])
    if len(g_count) == 0:  # a zero-weight dummy keeps the graph's shape fixed
        g_cell, g_age, g_count = np.zeros(1, int), np.ones(1), np.zeros(1)

    owner_centred = np.zeros(0, dtype=bool)
    with pm.Model(coords=coords) as model:
        D = pm.Data  # noqa: N806 - short alias, the block below is all data
        h_sd = pm.Gamma(
            "hyper_sd", alpha=D("prior_sd_alpha", alpha0), beta=D("prior_sd_beta", beta0),
            dims="param",
        )
        if n_seg > 1:
            h_mean = pm.Normal(
                "hyper_mean", mu=D("prior_mean_mu", mu0), sigma=D("prior_mean_sigma", sig0),
                dims="param",
            )
            theta = _mixed_normal(
                "theta", h_mean[:, None], h_sd[:, None],
                D("centred", centred.astype(float)), ("param", "segment"),
            )
        else:
            # One segment: its mean and its spread are not identified apart, and
            # theta = mean + sd * z is a ridge NUTS crawls along (hundreds of steps per
            # draw). The mean is integrated out exactly instead (normal-normal):
            # theta | sd ~ Normal(mu0, sqrt(sigma0^2 + sd^2)), the same prior for theta.
            theta = pm.Normal(
                "theta_raw",
                mu=D("prior_mean_mu", mu0)[:, None],
                sigma=pt.sqrt(D("prior_mean_sigma", sig0) ** 2 + h_sd**2)[:, None],
                dims=("param", "segment"),
            )
        theta = pm.Deterministic("theta", theta, dims=("param", "segment"))
        row = {n: i for i, n in enumerate(names)}

        cell_seg = D("cell_segment", st.cell_segment)
        a = theta[row["win_logit"]][cell_seg]
        if st.owners:
            n_own = len(st.owners)
            has = st.cell_owner >= 0
            won_by = np.bincount(st.cell_owner[has], weights=st.n_won[has], minlength=n_own)
            lost_by = np.bincount(st.cell_owner[has], weights=st.n_lost[has], minlength=n_own)
            p_own = (won_by + 0.5) / (won_by + lost_by + 1.0)
            owner_centred = _centred(
                np.where(won_by + lost_by > 0, np.log(p_own / (1 - p_own)), np.nan)[None],
                _logit_se(won_by, lost_by)[None],
            )[0]
            o_sd = pm.Gamma(
                "owner_sd",
                alpha=D("prior_owner_sd_alpha", cfg.owner_effect_sd.alpha),
                beta=D("prior_owner_sd_beta", cfg.owner_effect_sd.beta),
            )
            o_eff = pm.Deterministic(
                "owner_effect",
                _mixed_normal(
                    "owner", 0.0, o_sd, D("owner_centred", owner_centred.astype(float)), "owner"
                ),
                dims="owner",
            )
            a = a + D("cell_has_owner", has.astype(float)) * o_eff[
                D("cell_owner", np.maximum(st.cell_owner, 0))
            ]
        b = theta[row["lost_share_logit"]][cell_seg]
        mu_a = theta[row["won_log_days"]]
        sig_a = pt.exp(theta[row["won_log_sigma"]])
        mu_b = theta[row["lost_log_days"]]
        sig_b = pt.exp(theta[row["lost_log_sigma"]])
        if n_k:
            sp = pm.Normal(
                "step_params",
                mu=D("prior_step_mu", np.array(
                    [cfg.stage_lost_share_logit.mu, cfg.stage_log_sigma.mu,
                     cfg.stage_lost_log_days.mu, cfg.stage_log_sigma.mu]
                ))[:, None],
                sigma=D("prior_step_sigma", np.array(
                    [cfg.stage_lost_share_logit.sigma, cfg.stage_log_sigma.sigma,
                     cfg.stage_lost_log_days.sigma, cfg.stage_log_sigma.sigma]
                ))[:, None],
                dims=("step_param", "step"),
            )
            stage_rows = theta[row[f"stage_logit:{steps[0]}"]:].reshape((-1, 2, theta.shape[1]))

            def per_step(x: pt.TensorVariable) -> pt.TensorVariable:
                return pt.repeat(x, theta.shape[1])

            a = pt.concatenate([a, stage_rows[:, 0, :].reshape((-1,))])
            b = pt.concatenate([b, per_step(sp[0])])
            mu_a = pt.concatenate([mu_a, stage_rows[:, 1, :].reshape((-1,))])
            sig_a = pt.concatenate([sig_a, per_step(pt.exp(sp[1]))])
            mu_b = pt.concatenate([mu_b, per_step(sp[2])])
            sig_b = pt.concatenate([sig_b, per_step(pt.exp(sp[3]))])

        lp_a = _log_sigmoid(a)
        lp_not = _log_sigmoid(-a)
        lp_b = lp_not + _log_sigmoid(b)
        size_mu = theta[row["size_log"]]
        size_sigma = pt.exp(theta[row["size_log_sigma"]])
        ln_stats = LogNormalStats(D("ln_n", ln.n), D("ln_s1", ln.s1), D("ln_s2", ln.s2))
        # Survival depends on the duration unit and age only, not on the owner: evaluate
        # it once per distinct (unit, age), the costliest part of each gradient. Per-unit
        # and per-cell vectors are stacked so that each is one gather (and one scatter-add
        # in the gradient) rather than seven.
        pairs, g_pair = np.unique(
            np.column_stack([unit_of_cell[g_cell], g_age]), axis=0, return_inverse=True
        )
        g_pair = g_pair.reshape(-1)
        order = np.argsort(g_pair, kind="stable")
        g_cell, g_pair, g_count = g_cell[order], g_pair[order], g_count[order]
        by_pair = pt.stack([mu_a, sig_a, mu_b, sig_b])[:, D("surv_unit", pairs[:, 0].astype(int))]
        log_age = D("surv_log_age", np.log(pairs[:, 1]))
        surv = pt.stack([
            _normal_sf(by_pair[0], by_pair[1], log_age),
            _normal_sf(by_pair[2], by_pair[3], log_age),
        ])
        # Abandoned deals (older than any deal that ever closed, by default) can no longer
        # win or lose: only the stall branch explains them. Stage steps keep their own
        # clocks, so the rule applies to the created -> won / lost units only.
        stale = stale_after_days(cfg, st)
        alive = (pairs[:, 0] >= n_seg) | (pairs[:, 1] <= stale + DAY_OFFSET)
        surv = surv * D("surv_alive", alive.astype(float))[None, :]
        if len(pairs) != len(g_pair):  # with owners, several cells share a (unit, age)
            surv = surv[:, D("open_pair", g_pair)]
        p_not = pt.sigmoid(-a)
        by_group = pt.stack([pt.sigmoid(a), p_not * pt.sigmoid(b), p_not * pt.sigmoid(-b)])[
            :, D("open_cell", g_cell)
        ]
        # Probability space, not log space: every term is positive (no cancellation) and
        # the stall share keeps the sum away from zero, and it costs one log per group
        # instead of three exps and four logs (float64 transcendentals set the pace here).
        open_ll = pt.log(by_group[0] * surv[0] + by_group[1] * surv[1] + by_group[2])
        pm.Potential(
            "deals",
            pt.sum(D("n_a", n_a) * lp_a)
            + pt.sum(D("n_b", n_b) * lp_b)
            + _lognormal_loglik(
                ln_stats,
                pt.concatenate([mu_a, mu_b, size_mu]),
                pt.concatenate([sig_a, sig_b, size_sigma]),
            )
            + pt.sum(D("open_count", g_count) * open_ll),
        )

        # --- arrivals ----------------------------------------------------------------
        if season_on:
            s_scale = pm.HalfNormal(
                "season_scale", sigma=D("prior_season", cfg.season_scale.sigma)
            )
            s_z = pm.Normal("season_z", 0.0, 1.0, dims="month_of_year")
            season = s_scale * (s_z - pt.mean(s_z))
        else:
            season = pt.zeros(len(MONTHS))
        season = pm.Deterministic("season", season, dims="month_of_year")
        # What the simulator and the summary read: the trend, 0 when switched off.
        trend = pm.Deterministic(
            "arrival_trend",
            theta[row["arrival_trend"]] if trend_on else pt.zeros(n_seg),
            dims="segment",
        )
        inv = pm.Gamma(
            "arrival_inv_sqrt_alpha",
            alpha=D("prior_inv_alpha_a", cfg.arrival_inv_sqrt_alpha.alpha),
            beta=D("prior_inv_alpha_b", cfg.arrival_inv_sqrt_alpha.beta),
            dims="segment",
        )
        seg = D("arrival_segment", st.arrival_segment)
        log_mu = (
            D("arrival_log_exposure", np.log(st.arrival_exposure))
            + theta[row["arrival_log_rate"]][seg]
            + trend[seg] * D("arrival_month", st.arrival_month.astype(float))
            + season[D("arrival_moy", st.arrival_moy)]
        )
        pm.NegativeBinomial(
            "arrivals", mu=pt.exp(log_mu), alpha=1.0 / inv[seg] ** 2,
            observed=D("arrival_count", st.arrival_count),
        )
    return model, Layout(
        params=names, centred=centred, owner_centred=owner_centred, stale_after_days=stale
    )
