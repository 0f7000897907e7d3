"""The trend-and-shift arrival component (``arrivals: trend_shift``): the level now, its trend.

New opportunities of segment ``s`` in calendar month ``t`` are negative binomial with mean
``exposure_t * exp(eta_st)`` and dispersion ``alpha = 1 / (exp(noise_sd**2) - 1)``:

    eta_st = level_s + slope_s * u_t + shift_s * [t < tau] + season[month of year of t]

where ``u_t`` counts months from the as-of month (0 there), so ``level_s`` is the rate now;
``tau`` is the month the level moved (none, or one month shared by the segments: a market
event, a reorganisation, a new lead source), ``shift_s`` how much lower or higher the rate
was before it; ``slope_s`` a steady growth or decline that continues into the horizon;
month-of-year effects (sum zero, shared by the segments) with ``season_min_months`` of
history.

Why this shape rather than a random walk of the level (the ``local_trend`` component): on
18 to 30 months of counts a random walk cannot tell a steady growth from a drift of the
level (its forecast stays at today's level while the market keeps growing) nor a level
shift from a trend (it extrapolates the jump); the changepoint says "the level moved
once", the slope "it keeps moving", and both are weighed by their evidence.

Inference, no sampler: for each changepoint month (or none) and each month-to-month noise
on a grid, the posterior mode of the coefficients by Newton's method and its Laplace
approximation (Gaussian with the inverse Hessian); the grid points are weighted by prior x
Laplace marginal likelihood. A posterior draw picks a grid point and draws the
coefficients: the path of the log rate is then ``level + slope * m + season``.

Months at the edges read as export artefacts (:func:`local_trend.edge_artefacts`) are left
out, and the trailing ones become the backlog of unrecorded deals, as in ``local_trend``.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import gammaln

from targetsim.model.components.local_trend import (
    _backlog,
    _series,
    edge_artefacts,
    sample_states,
)
from targetsim.model.config import ModelConfig
from targetsim.model.params import ArrivalDraws
from targetsim.model.stats import FunnelStats

NEWTON_STEPS = 40
_LOG_2PI = math.log(2.0 * math.pi)


def _nb_loglik(y: np.ndarray, mu: np.ndarray, inv_alpha: float) -> np.ndarray:
    if inv_alpha <= 1e-12:
        return y * np.log(mu) - mu - gammaln(y + 1)
    a = 1.0 / inv_alpha
    return (gammaln(y + a) - gammaln(a) - gammaln(y + 1) + a * np.log(a / (a + mu))
            + y * np.log(mu / (a + mu)))


def _design(n_seg: int, n_t: int, tau: int | None, moy: np.ndarray, season: bool,
            trend: bool = True) -> np.ndarray:
    """Design matrix (S*T, P).

    Columns: per segment its level, its own departure from the market's slope (and from
    the market's shift); then the market's slope and shift, shared by the segments; then
    the 11 free month effects. Without ``trend`` the slope columns are zero (their
    coefficients then only sample their priors and are dropped from the paths).
    """
    u = np.arange(n_t) - (n_t - 1.0)
    slope = u if trend else np.zeros(n_t)
    before = (np.arange(n_t) < tau).astype(float) if tau is not None else None
    per = [np.ones(n_t), slope] + ([before] if before is not None else [])
    shared = [slope] + ([before] if before is not None else [])
    k = len(per)
    common = n_seg * k
    first_season = common + len(shared)
    x = np.zeros((n_seg * n_t, first_season + (11 if season else 0)))
    for s in range(n_seg):
        rows = slice(s * n_t, (s + 1) * n_t)
        for i, col in enumerate(per):
            x[rows, s * k + i] = col
        for i, col in enumerate(shared):
            x[rows, common + i] = col
        if season:
            # 11 free month effects; December is minus their sum (the 12 sum to zero).
            for t in range(n_t):
                if moy[t] < 11:
                    x[s * n_t + t, first_season + moy[t]] = 1.0
                else:
                    x[s * n_t + t, first_season:] = -1.0
    return x


def _laplace(
    y: np.ndarray, e: np.ndarray, x: np.ndarray, prior_mean: np.ndarray, prior_prec: np.ndarray,
    inv_alpha: float, start: np.ndarray | None = None,
) -> tuple[float, np.ndarray, np.ndarray]:
    """Mode, covariance and Laplace log marginal likelihood of a negative-binomial GLM.

    Newton's method with a backtracking line search on the log posterior (counts of
    hundreds a month make a full step from a poor start overshoot into overflow).
    """
    obs = e > 0
    yo, xo, lo = y[obs], x[obs], np.log(e[obs])

    def log_post(b: np.ndarray) -> float:
        with np.errstate(over="ignore", invalid="ignore"):
            mu = np.exp(lo + xo @ b)
            val = np.sum(_nb_loglik(yo, mu, inv_alpha)) - 0.5 * np.sum(
                prior_prec * (b - prior_mean) ** 2)
        return float(val) if np.isfinite(val) else -np.inf

    beta = prior_mean.copy() if start is None else start.copy()
    current = log_post(beta)
    for _ in range(NEWTON_STEPS):
        mu = np.exp(lo + xo @ beta)
        w_g = (yo - mu) / (1.0 + inv_alpha * mu)
        w_h = mu * (1.0 + inv_alpha * yo) / (1.0 + inv_alpha * mu) ** 2
        grad = xo.T @ w_g - prior_prec * (beta - prior_mean)
        hess = (xo * w_h[:, None]).T @ xo + np.diag(prior_prec)
        step = np.linalg.solve(hess, grad)
        size = 1.0
        while size > 1e-6:
            cand = beta + size * step
            value = log_post(cand)
            if value >= current - 1e-10:
                break
            size /= 2.0
        beta, current = cand, value
        if np.max(np.abs(size * step)) < 1e-9:
            break
    mu = np.exp(lo + xo @ beta)
    w_h = mu * (1.0 + inv_alpha * yo) / (1.0 + inv_alpha * mu) ** 2
    hess = (xo * w_h[:, None]).T @ xo + np.diag(prior_prec)
    cov = np.linalg.inv(hess)
    _, logdet = np.linalg.slogdet(hess)
    # Laplace: log p(y) = log p(y | mode) + log prior(mode) + k/2 log 2 pi - 1/2 log|H|,
    # the prior's normalising constant included (its flat level direction cancels between
    # grid points, which all share it).
    log_ml = (current + 0.5 * np.sum(np.log(prior_prec) - _LOG_2PI)
              + 0.5 * len(beta) * _LOG_2PI - 0.5 * logdet)
    return float(log_ml), beta, cov


def fit(st: FunnelStats, cfg: ModelConfig) -> xr.Dataset:
    """Fit the component: grid weights, coefficient modes and covariances per grid point."""
    ts = cfg.trend_shift
    ser = _series(st)
    y, e = ser["y"], ser["e"]
    n_seg, n_t = y.shape
    artefact = edge_artefacts(y, e, cfg.local_trend)
    e = np.where(artefact[None, :], 0.0, e)
    season = n_t >= ts.season_min_months
    seen = np.flatnonzero(e.max(axis=0) > 0)
    trend = len(seen) >= ts.trend_min_months
    first_seen, last_seen = int(seen.min()), int(seen.max())
    taus: list[int | None] = [None] + [
        t for t in range(first_seen + ts.min_side_months, last_seen - ts.min_side_months + 2)
    ]
    log_prior_tau = np.array(
        [math.log(1.0 - ts.shift_prior)] + [math.log(ts.shift_prior / max(len(taus) - 1, 1))]
        * (len(taus) - 1)
    )
    noise = np.asarray(ts.noise_sd, dtype=float)
    from scipy.stats import halfnorm

    mids = np.concatenate([[0.0], (noise[1:] + noise[:-1]) / 2, [np.inf]])
    log_prior_noise = np.log(np.maximum(np.diff(halfnorm.cdf(mids, scale=ts.noise_sd_prior)),
                                        1e-300))
    yf, ef = y.ravel(), e.ravel()
    results = []
    for i, tau in enumerate(taus):
        x = _design(n_seg, n_t, tau, ser["moy"], season, trend)
        k = 3 if tau is not None else 2
        mean = np.zeros(x.shape[1])
        prec = np.zeros(x.shape[1])
        for s in range(n_seg):
            prec[s * k] = 1e-6  # the level: practically flat
            prec[s * k + 1] = 1.0 / ts.segment_slope_sd**2
            if tau is not None:
                prec[s * k + 2] = 1.0 / ts.segment_shift_sd**2
        prec[n_seg * k] = 1.0 / ts.slope_sd**2  # the market's slope
        if tau is not None:
            prec[n_seg * k + 1] = 1.0 / ts.shift_sd**2  # the market's shift
        n_shared = 1 + (tau is not None)
        if season:
            # Month effects with sd season_sd each, summing to zero: the 11 free ones.
            full = ts.season_sd**2 * (np.eye(12) - np.ones((12, 12)) / 12) * 12 / 11
            prec_season = np.linalg.inv(full[:11, :11])
        start = np.zeros(x.shape[1])
        for s in range(n_seg):
            seen_s = e[s] > 0
            start[s * k] = math.log((y[s, seen_s].sum() + 0.5) / max(e[s, seen_s].sum(), 1e-9))
        for j, nz in enumerate(noise):
            if season:
                ml, beta, cov = _laplace_full(yf, ef, x, mean, prec, prec_season,
                                              n_seg * k + n_shared, math.expm1(nz**2), start)
            else:
                ml, beta, cov = _laplace(yf, ef, x, mean, prec, math.expm1(nz**2), start)
            results.append((i, j, ml + log_prior_tau[i] + log_prior_noise[j], beta, cov, k,
                            n_shared))
    logw = np.array([r[2] for r in results])
    logw = np.where(np.isfinite(logw), logw, -np.inf)
    weight = np.exp(logw - logw.max())
    weight /= weight.sum()
    n_p = len(results)
    # Per grid point and segment: (level, slope) mean and covariance; shared season.
    state_mean = np.zeros((n_seg, n_p, 2))
    state_cov = np.zeros((n_seg, n_p, 2, 2))
    season_mean = np.zeros((n_p, 12))
    season_cov = np.zeros((n_p, 12, 12))
    to12 = np.vstack([np.eye(11), -np.ones((1, 11))])
    for p, (_, _, _, beta, cov, k, n_shared) in enumerate(results):
        for s in range(n_seg):
            # (level, slope) = A beta with the slope = the market's + the segment's own.
            a = np.zeros((2, len(beta)))
            a[0, s * k] = 1.0
            if trend:  # no slope in the data's model: none in the forecast either
                a[1, s * k + 1] = a[1, n_seg * k] = 1.0
            state_mean[s, p] = a @ beta
            state_cov[s, p] = a @ cov @ a.T
        if season:
            sl = slice(n_seg * k + n_shared, n_seg * k + n_shared + 11)
            season_mean[p] = to12 @ beta[sl]
            season_cov[p] = to12 @ cov[sl, sl] @ to12.T
    grid = np.array([[-1 if taus[r[0]] is None else taus[r[0]] - (n_t - 1), noise[r[1]]]
                     for r in results], dtype=float)
    return xr.Dataset(
        {
            "grid": (("point", "hyper"), grid),
            "weight": ("point", weight),
            "state_mean": (("segment", "point", "state"), state_mean),
            "state_cov": (("segment", "point", "state", "state2"), state_cov),
            "season_mean": (("point", "month_of_year"), season_mean),
            "season_cov": (("point", "month_of_year", "month_of_year2"), season_cov),
        },
        coords={"hyper": ["shift_month", "noise_sd"]},
        attrs={"as_of_moy": int(ser["as_of_moy"]), "season_on": int(season),
               "trend_on": int(trend),
               "history_months": int(n_t), "horizon_months": int(cfg.local_trend.horizon_months),
               "left_out_months": json.dumps(ser["month"][artefact].tolist()),
               "left_out_counts": json.dumps(y.sum(axis=0)[artefact].tolist()),
               "left_out_segment_counts": json.dumps(y[:, artefact].tolist()),
               "left_out_exposure": json.dumps(ser["e"].max(axis=0)[artefact].tolist())},
    )


def _laplace_full(yf, ef, x, mean, prec, prec_season, n_first, inv_alpha, start):  # noqa: ANN001, ANN202
    """:func:`_laplace` with a full prior precision block for the month effects."""
    # Whiten the month effects so that the diagonal-precision solver applies.
    chol = np.linalg.cholesky(prec_season)  # prec = L L^T; z = L^T gamma ~ N(0, I)
    inv_lt = np.linalg.inv(chol.T)
    xw = x.copy()
    xw[:, n_first:] = x[:, n_first:] @ inv_lt
    prec_w = prec.copy()
    prec_w[n_first:] = 1.0
    ml, beta_w, cov_w = _laplace(yf, ef, xw, mean, prec_w, inv_alpha, start)
    # The Jacobian of the whitening: log|L| (the prior density changes by it).
    ml += float(np.sum(np.log(np.diag(chol))))
    t = np.eye(len(beta_w))
    t[n_first:, n_first:] = inv_lt
    return ml, t @ beta_w, t @ cov_w @ t.T


def draws(
    state: xr.Dataset, n_draws: int, rng: np.random.Generator, as_of: pd.Timestamp | None = None
) -> ArrivalDraws:
    """``n_draws`` paths of every segment's log mean monthly arrivals from the as-of month."""
    pts = state["grid"].values
    n_seg = state["state_mean"].shape[0]
    months = int(state.attrs["horizon_months"])
    moy = (int(state.attrs["as_of_moy"]) + np.arange(months)) % 12
    g, x = sample_states(state, n_draws, rng)
    m = np.arange(months)
    path = x[..., 0].T[:, :, None] + x[..., 1].T[:, :, None] * m[None, None, :]
    if int(state.attrs["season_on"]):
        sm, sc = state["season_mean"].values[g], state["season_cov"].values[g]
        vals, vecs = np.linalg.eigh(sc)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))[:, None, :]
        season = sm + np.einsum("dij,dj->di", root, rng.standard_normal((n_draws, 12)))
        path = path + season[:, None, moy]
    inv_alpha = np.expm1(pts[g, 1] ** 2)
    with np.errstate(divide="ignore"):
        alpha = np.where(inv_alpha > 0, 1.0 / inv_alpha, np.inf)
    backlog = _backlog(state, as_of) if as_of is not None else {}
    return ArrivalDraws(log_rate=path, alpha=np.repeat(alpha[:, None], n_seg, axis=1),
                        **backlog)
