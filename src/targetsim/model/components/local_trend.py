"""The local-trend arrival component (``arrivals: local_trend``): the recent level, not the mean.

New opportunities of segment ``s`` in calendar month ``t`` are negative binomial with mean
``exposure_t * exp(eta_t)`` and dispersion ``alpha = 1 / (exp(noise_sd**2) - 1)``, where the
log rate follows a damped local linear trend (Harvey 1989; Gardner and McKenzie 1985):

    eta_t = level_t + season[month of year of t]
    level_{t+1} = level_t + slope_t + N(0, level_sd**2)
    slope_{t+1} = damping * slope_t + N(0, slope_sd**2)

so a ramp-up at the start of an export or a level shift in the middle are followed, not
averaged in; growth or decline continue, damped, into the horizon; and the band widens with
the horizon as the level may keep moving. Month-of-year effects (sum zero, shared by the
segments, estimated on the total) are switched on with ``season_min_months`` of history.

Inference, no sampler:

* for each point of a grid of ``(level_sd, slope_sd, damping, noise_sd)``, the posterior
  mode of the states is found by iterated Kalman smoothing of the Newton-linearised counts
  (the approximating Gaussian model of Durbin and Koopman 2012, ch. 10), and the marginal
  likelihood by the Laplace approximation at that mode;
* the grid points are weighted by prior x likelihood (all segments share them: the market's
  volatility);
* a posterior draw picks a grid point, draws the state at the as-of month from its Gaussian
  approximation, then simulates the path of the log rate month by month into the future.

The state kept in ``fit.nc`` is the grid, its weights and each grid point's state at the
as-of month; :func:`draws` makes any number of paths from it.
"""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import gammaln

from targetsim.model.config import LocalTrendSettings, ModelConfig
from targetsim.model.params import ArrivalDraws
from targetsim.model.stats import FunnelStats

_LOG_2PI = math.log(2.0 * math.pi)
#: Prior variance of the level at the first month (log scale): practically diffuse.
LEVEL_PRIOR_VAR = 25.0
IRLS_STEPS = 12


def _grid(lt: LocalTrendSettings) -> tuple[np.ndarray, np.ndarray]:
    """Grid points (G, 4) = (level_sd, slope_sd, damping, noise_sd) and log prior weights."""
    pts = np.array(list(itertools.product(lt.level_sd, lt.slope_sd, lt.damping, lt.noise_sd)))

    def log_hn(values: tuple[float, ...], scale: float) -> dict[float, float]:
        v = np.asarray(values, dtype=float)
        # Mass of a half-normal prior around each grid value (midpoints between values).
        mids = np.concatenate([[0.0], (v[1:] + v[:-1]) / 2, [np.inf]])
        from scipy.stats import halfnorm

        mass = np.diff(halfnorm.cdf(mids, scale=scale))
        return dict(zip(v.tolist(), np.log(np.maximum(mass, 1e-300)).tolist(), strict=True))

    lv, sl, no = (log_hn(lt.level_sd, lt.level_sd_prior), log_hn(lt.slope_sd, lt.slope_sd_prior),
                  log_hn(lt.noise_sd, lt.noise_sd_prior))
    prior = np.array([lv[p[0]] + sl[p[1]] + no[p[3]] for p in pts]) - math.log(len(lt.damping))
    return pts, prior


def _kalman(
    z: np.ndarray, h: np.ndarray, obs: np.ndarray, tm: np.ndarray, q: np.ndarray,
    zrow: np.ndarray, a0: np.ndarray, p0: np.ndarray, smooth: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched Kalman filter (and RTS smoother) for one observed signal per time step.

    Parameters
    ----------
    z, h : ndarray, shape (B, T)
        Observations (offsets removed) and their variances.
    obs : ndarray of bool, shape (B, T)
        Which observations exist.
    tm, q : ndarray, shape (B, n, n)
        Transition and state-noise covariance.
    zrow : ndarray, shape (T, n)
        Observation row of each time step.
    a0, p0 : ndarray, shape (B, n), (B, n, n)
        Prior of the first state.

    Returns
    -------
    loglik : ndarray, shape (B,)
        Gaussian log-likelihood of the observations.
    signal : ndarray, shape (B, T)
        Smoothed ``zrow_t . state_t`` (filtered when ``smooth`` is False).
    a_last, p_last : ndarray
        Filtered state and covariance at the last step.
    """
    n_b, n_t = z.shape
    a, p = a0.copy(), p0.copy()
    loglik = np.zeros(n_b)
    a_f, p_f, a_p, p_p = [], [], [], []
    tmt = np.swapaxes(tm, 1, 2)
    for t in range(n_t):
        if t > 0:
            a = np.einsum("bij,bj->bi", tm, a)
            p = tm @ p @ tmt + q
        a_p.append(a)
        p_p.append(p)
        zr = zrow[t]
        pz = p @ zr  # (B, n)
        f = pz @ zr + h[:, t]
        v = z[:, t] - a @ zr
        ok = obs[:, t]
        gain = pz / f[:, None]
        a = np.where(ok[:, None], a + gain * v[:, None], a)
        p = np.where(ok[:, None, None], p - gain[:, :, None] * pz[:, None, :], p)
        loglik += np.where(ok, -0.5 * (_LOG_2PI + np.log(f) + v**2 / f), 0.0)
        a_f.append(a)
        p_f.append(p)
    if not smooth:
        signal = np.stack([a_f[t] @ zrow[t] for t in range(n_t)], axis=1)
        return loglik, signal, a, p
    a_s = a_f[-1]
    signal = np.zeros((n_b, n_t))
    signal[:, -1] = a_s @ zrow[-1]
    for t in range(n_t - 2, -1, -1):
        j = p_f[t] @ tmt @ np.linalg.inv(p_p[t + 1])
        a_s = a_f[t] + np.einsum("bij,bj->bi", j, a_s - a_p[t + 1])
        signal[:, t] = a_s @ zrow[t]
    return loglik, signal, a, p


def _nb_logpmf(y: np.ndarray, mu: np.ndarray, inv_alpha: np.ndarray) -> np.ndarray:
    """Negative-binomial log pmf (mean ``mu``, variance ``mu + mu**2 * inv_alpha``)."""
    poisson = y * np.log(mu) - mu - gammaln(y + 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        a = 1.0 / np.maximum(inv_alpha, 1e-300)
        nb = (gammaln(y + a) - gammaln(a) - gammaln(y + 1) + a * np.log(a / (a + mu))
              + y * np.log(mu / (a + mu)))
    return np.where(inv_alpha > 1e-12, nb, poisson)


def _laplace(
    y: np.ndarray, expo: np.ndarray, offset: np.ndarray, obs: np.ndarray, inv_alpha: np.ndarray,
    tm: np.ndarray, q: np.ndarray, zrow: np.ndarray, a0: np.ndarray, p0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Laplace-approximate log marginal likelihood and state at the last step, batched.

    The counts ``y`` (B, T) with exposures and log offsets are negative binomial around
    ``exp(offset + zrow . state)``; the mode of the states is found by Newton steps, each a
    Kalman smoothing of the linearised observations.
    """
    safe_e = np.where(obs, expo, 1.0)
    eta = np.log((y + 0.5) / safe_e)  # first guess of the log rate (offset included)
    ia = inv_alpha[:, None]
    for _ in range(IRLS_STEPS):
        mu = safe_e * np.exp(eta)
        # Newton: gradient and (negative) Hessian of the NB log density in eta.
        grad = (y - mu) / (1.0 + ia * mu)
        info = mu * (1.0 + ia * y) / (1.0 + ia * mu) ** 2
        info = np.maximum(info, 1e-10)
        h = 1.0 / info
        z = eta + grad * h
        _, sig, _, _ = _kalman(z - offset, h, obs, tm, q, zrow, a0, p0)
        new = sig + offset
        if np.max(np.abs(np.where(obs, new - eta, 0.0))) < 1e-7:
            eta = new
            break
        eta = new
    mu = safe_e * np.exp(eta)
    grad = (y - mu) / (1.0 + ia * mu)
    info = np.maximum(mu * (1.0 + ia * y) / (1.0 + ia * mu) ** 2, 1e-10)
    h = 1.0 / info
    z = eta + grad * h
    ll_g, _, a_last, p_last = _kalman(z - offset, h, obs, tm, q, zrow, a0, p0, smooth=False)
    corr = _nb_logpmf(y, mu, ia) + 0.5 * (_LOG_2PI + np.log(h)) + (z - eta) ** 2 / (2 * h)
    return ll_g + np.sum(np.where(obs, corr, 0.0), axis=1), a_last, p_last


def _series(st: FunnelStats) -> dict[str, np.ndarray]:
    """Dense (S, T) counts, exposures and month of year, T from the first month to as-of.

    ``month`` is each step's month relative to the as-of month (0).
    """
    n_seg = len(st.segments)
    m0 = int(st.arrival_month.min())
    n_t = int(st.arrival_month.max()) - m0 + 1
    y = np.zeros((n_seg, n_t))
    e = np.zeros((n_seg, n_t))
    t = st.arrival_month - m0
    y[st.arrival_segment, t] = st.arrival_count
    e[st.arrival_segment, t] = st.arrival_exposure
    last_moy = int(st.arrival_moy[np.argmax(st.arrival_month)])
    moy = (last_moy - (n_t - 1 - np.arange(n_t))) % 12
    month = np.arange(n_t) - (n_t - 1)
    return {"y": y, "e": e, "moy": moy, "as_of_moy": last_moy, "month": month}


def edge_artefacts(y: np.ndarray, e: np.ndarray, lt: LocalTrendSettings) -> np.ndarray:
    """Months at the start or the end of the history read as export artefacts (bool, T).

    The monthly rate of all segments together is compared with its median over the months
    observed for at least half their length; edge months below ``start_ratio`` (at the
    start) or ``edge_ratio`` (at the end) times that median are flagged, walking in from
    each end; a ramp-up so flagged goes on while the months keep rising below
    ``ramp_ratio`` times the median.
    """
    expo = e.max(axis=0)
    rate = np.divide(y.sum(axis=0), expo, out=np.zeros(expo.shape), where=expo > 0)
    full = expo >= 0.5
    out = np.zeros(len(expo), dtype=bool)
    if full.sum() < 3 or lt.edge_ratio <= 0:
        return out
    median = float(np.median(rate[full]))
    floor = lt.edge_ratio * median
    n_t = len(expo)
    for t in range(n_t // 3):
        ramping = (t > 0 and out[t - 1] and rate[t] > rate[t - 1]
                   and rate[t] < lt.ramp_ratio * median)
        if rate[t] >= lt.start_ratio * median and expo[t] > 0 and not ramping:
            break
        out[t] = True
    for t in range(n_t - 1, max(n_t - 1 - lt.max_edge_months, n_t // 3), -1):
        if rate[t] >= floor:
            break
        out[t] = True
    return out


def _system(pts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Transition and noise matrices (G, n, n) of the trend (+ static seasonal) states."""
    g = len(pts)
    tm = np.tile(np.eye(n), (g, 1, 1))
    tm[:, 0, 1] = 1.0
    tm[:, 1, 1] = pts[:, 2]
    q = np.zeros((g, n, n))
    q[:, 0, 0] = pts[:, 0] ** 2
    q[:, 1, 1] = pts[:, 1] ** 2
    return tm, q


def _season_prior(sd: float) -> np.ndarray:
    """Covariance of 11 free month effects when the 12 sum to zero, each with sd ``sd``."""
    k = 12
    full = sd**2 * (np.eye(k) - np.ones((k, k)) / k) * k / (k - 1)
    return full[:11, :11]


def _season_rows(moy: np.ndarray) -> np.ndarray:
    """Observation rows of the 11 free month effects (December = minus their sum)."""
    rows = np.zeros((len(moy), 11))
    for t, m in enumerate(moy):
        if m < 11:
            rows[t, m] = 1.0
        else:
            rows[t, :] = -1.0
    return rows


def _inv_alpha(noise_sd: np.ndarray) -> np.ndarray:
    return np.expm1(noise_sd**2)


def fit(st: FunnelStats, cfg: ModelConfig) -> xr.Dataset:
    """Fit the component: grid weights and each grid point's state at the as-of month."""
    lt = cfg.local_trend
    ser = _series(st)
    y, e = ser["y"], ser["e"]
    n_seg, n_t = y.shape
    artefact = edge_artefacts(y, e, lt)
    e = np.where(artefact[None, :], 0.0, e)
    obs = e > 0
    pts, log_prior = _grid(lt)
    n_g = len(pts)
    season_on = n_t >= lt.season_min_months
    season_mean = np.zeros(12)
    season_cov = np.zeros((12, 12))
    offset = np.zeros((n_seg, n_t))
    if season_on:
        # Month-of-year effects from the total (shared by the segments): trend + 11 static
        # effects, at every grid point; the effects' posterior is mixed over the grid.
        tm, q = _system(pts, 13)
        zrow = np.concatenate([np.tile([1.0, 0.0], (n_t, 1)), _season_rows(ser["moy"])], axis=1)
        yt, et = y.sum(0), e.max(0)
        a0, p0 = _prior_state(yt[None], et[None], lt, 13, n_g)
        p0[:, 2:, 2:] = _season_prior(lt.season_sd)
        ll, a_last, p_last = _laplace(
            np.tile(yt, (n_g, 1)), np.tile(et, (n_g, 1)), np.zeros((n_g, n_t)),
            np.tile(et > 0, (n_g, 1)), _inv_alpha(pts[:, 3]), tm, q, zrow, a0, p0,
        )
        w = np.exp(ll + log_prior - np.max(ll + log_prior))
        w /= w.sum()
        free_m = np.einsum("g,gi->i", w, a_last[:, 2:])
        free_c = np.einsum("g,gij->ij", w, p_last[:, 2:, 2:] + a_last[:, 2:, None]
                           * a_last[:, None, 2:]) - np.outer(free_m, free_m)
        to12 = np.vstack([np.eye(11), -np.ones((1, 11))])
        season_mean = to12 @ free_m
        season_cov = to12 @ free_c @ to12.T
        offset = np.tile(season_mean[ser["moy"]], (n_seg, 1))

    # Every segment at every grid point, in one batch (segment-major).
    tm, q = _system(pts, 2)
    tm, q = np.tile(tm, (n_seg, 1, 1)), np.tile(q, (n_seg, 1, 1))
    zrow = np.tile([1.0, 0.0], (n_t, 1))
    rep = np.repeat(np.arange(n_seg), n_g)
    a0, p0 = _prior_state(y, e, lt, 2, n_g)
    ll, a_last, p_last = _laplace(
        y[rep], e[rep], offset[rep], obs[rep], np.tile(_inv_alpha(pts[:, 3]), n_seg),
        tm, q, zrow, a0, p0,
    )
    ll = ll.reshape(n_seg, n_g)
    post = log_prior + ll.sum(axis=0)
    weight = np.exp(post - post.max())
    weight /= weight.sum()
    return xr.Dataset(
        {
            "grid": (("point", "hyper"), pts),
            "weight": ("point", weight),
            "state_mean": (("segment", "point", "state"), a_last.reshape(n_seg, n_g, 2)),
            "state_cov": (("segment", "point", "state", "state2"),
                          p_last.reshape(n_seg, n_g, 2, 2)),
            "season_mean": ("month_of_year", season_mean),
            "season_cov": (("month_of_year", "month_of_year2"), season_cov),
        },
        coords={"hyper": ["level_sd", "slope_sd", "damping", "noise_sd"]},
        attrs={"as_of_moy": int(ser["as_of_moy"]), "season_on": int(season_on),
               "history_months": int(n_t), "horizon_months": int(lt.horizon_months),
               "left_out_months": json.dumps(ser["month"][artefact].tolist()),
               "left_out_counts": json.dumps(y.sum(axis=0)[artefact].tolist()),
               "left_out_segment_counts": json.dumps(y[:, artefact].tolist()),
               "left_out_exposure": json.dumps(ser["e"].max(axis=0)[artefact].tolist())},
    )


def _prior_state(
    y: np.ndarray, e: np.ndarray, lt: LocalTrendSettings, n: int, n_g: int
) -> tuple[np.ndarray, np.ndarray]:
    """Prior of the first state per (segment, grid point): the level near the first counts."""
    n_seg = y.shape[0]
    first = np.zeros(n_seg)
    for s in range(n_seg):
        seen = np.flatnonzero(e[s] > 0)[:3]
        first[s] = np.log((y[s, seen].sum() + 0.5) / max(e[s, seen].sum(), 1e-9))
    a0 = np.zeros((n_seg * n_g, n))
    a0[:, 0] = np.repeat(first, n_g)
    p0 = np.zeros((n_seg * n_g, n, n))
    p0[:, 0, 0] = LEVEL_PRIOR_VAR
    p0[:, 1, 1] = lt.slope_prior_sd**2
    return a0, p0


def _backlog(state: xr.Dataset, as_of: pd.Timestamp) -> dict[str, np.ndarray]:
    """The trailing months read as not yet fully recorded, as days before ``as_of``."""
    months = json.loads(state.attrs.get("left_out_months", "[]"))
    seg_counts = np.asarray(json.loads(state.attrs.get("left_out_segment_counts", "[]")))
    expo = json.loads(state.attrs.get("left_out_exposure", "[]"))
    mid = -int(state.attrs["history_months"]) // 2
    keep = [i for i, m in enumerate(months) if m >= mid]
    base = as_of.normalize().to_period("M")
    lo, hi = [], []
    for i in keep:
        start = (base + int(months[i])).start_time
        end = min((base + int(months[i]) + 1).start_time, as_of.normalize())
        lo.append(float((start - as_of.normalize()).days))
        hi.append(float((end - as_of.normalize()).days))
    n_seg = state.sizes["segment"]
    return {
        "backlog_lo": np.array(lo), "backlog_hi": np.array(hi),
        "backlog_exposure": np.array([expo[i] for i in keep], dtype=float),
        "backlog_observed": (seg_counts[:, keep] if keep else np.zeros((n_seg, 0))).reshape(
            n_seg, len(keep)),
    }


def sample_states(state: xr.Dataset, n_draws: int, rng: np.random.Generator
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Grid points (D,) drawn by their weights, and each segment's (level, slope) at the
    as-of month given its point (S, D, 2): the Gaussian of the point's Laplace fit."""
    weight = state["weight"].values
    mean = state["state_mean"].values  # (S, G, 2)
    cov = state["state_cov"].values
    g = rng.choice(len(weight), size=n_draws, p=weight)
    chol = np.linalg.cholesky(cov[:, g] + 1e-12 * np.eye(2))  # (S, D, 2, 2)
    z = rng.standard_normal((mean.shape[0], n_draws, 2))
    return g, mean[:, g] + np.einsum("sdij,sdj->sdi", chol, z)


def draws(
    state: xr.Dataset, n_draws: int, rng: np.random.Generator, as_of: pd.Timestamp | None = None
) -> ArrivalDraws:
    """``n_draws`` paths of every segment's log mean monthly arrivals from the as-of month.

    With ``as_of``, the trailing months left out as not yet fully recorded become the
    backlog of :class:`~targetsim.model.params.ArrivalDraws`.
    """
    pts = state["grid"].values
    n_seg = state["state_mean"].shape[0]
    months = int(state.attrs["horizon_months"])
    moy = (int(state.attrs["as_of_moy"]) + np.arange(months)) % 12
    g, x = sample_states(state, n_draws, rng)
    level, slope = x[..., 0], x[..., 1]
    sd_l, sd_b, damp = pts[g, 0], pts[g, 1], pts[g, 2]
    shocks = rng.standard_normal((months, 2, n_seg, n_draws))
    path = np.zeros((n_draws, n_seg, months))
    for m in range(months):
        if m > 0:
            level = level + slope + sd_l * shocks[m, 0]
            slope = damp * slope + sd_b * shocks[m, 1]
        path[:, :, m] = level.T
    if int(state.attrs["season_on"]):
        sc = state["season_cov"].values
        vals, vecs = np.linalg.eigh(sc)
        root = vecs * np.sqrt(np.clip(vals, 0.0, None))
        season = state["season_mean"].values + rng.standard_normal((n_draws, 12)) @ root.T
        path = path + season[:, None, moy]
    inv_alpha = np.expm1(pts[g, 3] ** 2)
    with np.errstate(divide="ignore"):
        alpha = np.where(inv_alpha > 0, 1.0 / inv_alpha, np.inf)
    backlog = _backlog(state, as_of) if as_of is not None else {}
    return ArrivalDraws(log_rate=path, alpha=np.repeat(alpha[:, None], n_seg, axis=1),
                        **backlog)


def left_out(state: xr.Dataset, as_of: pd.Timestamp
             ) -> tuple[list[tuple[pd.Period, float]], list[tuple[pd.Period, float]]]:
    """Months read as export artefacts: (month, new opportunities) at the start and the end.

    The one reading of the fit's ``left_out_*`` attributes, for :func:`notes` and the report.
    """
    months = json.loads(state.attrs.get("left_out_months", "[]"))
    counts = json.loads(state.attrs.get("left_out_counts", "[]"))
    if not months:
        return [], []
    base = as_of.to_period("M")
    mid = -int(state.attrs["history_months"]) // 2
    pairs = [(int(m), float(c)) for m, c in zip(months, counts, strict=True)]
    return ([(base + m, c) for m, c in pairs if m < mid],
            [(base + m, c) for m, c in pairs if m >= mid])


def notes(state: xr.Dataset, as_of: pd.Timestamp) -> list[str]:
    """Plain-words notes on the fit: the months read as export artefacts."""
    start, end = left_out(state, as_of)

    def listed(sel: list[tuple[pd.Period, float]]) -> str:
        return ", ".join(f"{m.strftime('%b %Y')} ({c:,.0f})" for m, c in sel)

    out = []
    if start:
        out.append(
            f"new opportunities at the start of the history, {listed(start)}, are well below "
            "those of a typical month: read as the CRM's first months, they are left out of "
            "the arrival rate."
        )
    if end:
        out.append(
            f"new opportunities in the last months, {listed(end)}, are fewer than half those "
            "of a typical month: read as deals not yet recorded (an export artefact), they "
            "are left out of the arrival rate. If the drop is real, the forecast is too "
            "high: check those months."
        )
    return out
