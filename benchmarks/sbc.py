"""Simulation-based calibration of the log-normal components (Talts et al. 2018).

SBC needs a generative prior to draw truths from: the log-normal components (``cycle:
lognormal``, ``size: lognormal``, ``arrivals: negbin``) have one, one segment. For each
replication: draw every parameter from their priors (``ModelConfig`` defaults), generate an
18-month CRM export from them (:func:`targetsim.synthetic.generate_crm`), fit those
components, and record the rank of the true value among thinned posterior draws. If the
posterior is calibrated the ranks are uniform; the script prints a chi-square uniformity
p-value per quantity (10 bins) and the rank histograms. (The shipped components, which
assume no shape, are checked against truths they do not assume by
``benchmarks/calibration.py``.)

Reference: S. Talts, M. Betancourt, D. Simpson, A. Vehtari, A. Gelman (2018),
"Validating Bayesian Inference Algorithms with Simulation-Based Calibration",
arXiv:1804.06788.

Usage::

    python benchmarks/sbc.py --reps 50          # a few minutes
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from scipy import stats
from scipy.special import expit

QUANTITIES = ("p_win", "p_lost", "won_mu", "lost_mu", "size_mu", "arrival_log_rate")


def _legacy():
    from targetsim.model import ModelConfig

    # The stale-deal rule is a data-dependent cut, not part of the generative model the
    # truth is drawn from: SBC checks the inference without it.
    return ModelConfig(cycle="lognormal", size="lognormal", arrivals="negbin",
                       stale_after_days=None)


LEGACY = None  # set in main (importing the model config lazily keeps --help fast)


def _truth_value(truth, q: str) -> float:  # noqa: ANN001
    if q == "arrival_log_rate":
        return float(truth.arrivals.log_mean(np.array([0]))[0, 0, 0])
    if q in ("p_win", "p_lost"):
        return float(getattr(truth, q)[0, 0])
    if q == "size_mu":
        return float(truth.size.size_mu[0, 0])
    return float(getattr(truth.outcome, q)[0, 0])


def _posterior_value(fit, q: str) -> np.ndarray:  # noqa: ANN001
    post = fit.idata.posterior.stack(sample=("chain", "draw")).transpose("sample", ...)
    if q == "arrival_log_rate":
        # Month 0 of the arrival clock: level + season of the as-of month (trend * 0).
        p = fit.params(None)
        return p.arrivals.log_mean(np.array([0]))[:, 0, 0]
    if q == "size_mu":
        return np.asarray(post["size_theta"].values)[:, 0, 0]
    th = np.asarray(post["outcome_theta"].values)[:, :, 0]
    p_win = expit(th[:, 0])
    return {"p_win": p_win, "p_lost": (1 - p_win) * expit(th[:, 1]), "won_mu": th[:, 2],
            "lost_mu": th[:, 4]}[q]


def prior_truth(rng: np.random.Generator, as_of: str = "2026-12-31", history_months: int = 18):
    """One draw of every model parameter from the default priors, as FunnelParams.

    The trend and seasonality are drawn only when ``history_months`` reaches the config's
    ``trend_min_months`` / ``season_min_months``; below, the model fixes them at 0, so
    the truth must too (SBC checks the model it is given, not another one).
    """
    from targetsim.model.components.lognormal import _priors
    from targetsim.model.params import FunnelParams

    cfg = LEGACY
    pairs = [(cfg.win_logit, cfg.win_logit_sd), (cfg.lost_share_logit, cfg.lost_share_logit_sd),
             (cfg.won_log_days, cfg.won_log_days_sd), (cfg.won_log_sigma, cfg.won_log_sigma_sd),
             (cfg.lost_log_days, cfg.lost_log_days_sd),
             (cfg.lost_log_sigma, cfg.lost_log_sigma_sd), (cfg.size_log, cfg.size_log_sd),
             (cfg.size_log_sigma, cfg.size_log_sigma_sd),
             (cfg.arrival_log_level, cfg.arrival_log_level_sd),
             (cfg.arrival_trend, cfg.arrival_trend_sd)]
    mu0, sig0, a0, b0 = _priors(pairs)
    # One segment: the model integrates the mean out, theta | sd ~ N(mu0, sigma0^2 + sd^2).
    sd = rng.gamma(a0, 1.0 / b0)
    th = rng.normal(mu0, np.sqrt(sig0**2 + sd**2))
    (win, lost_share, won_mu, won_ls, lost_mu, lost_ls, size_mu, size_ls, level, trend) = th
    trend *= history_months >= cfg.trend_min_months
    p_win = expit(win)
    scale = abs(rng.normal(0.0, cfg.season_scale.sigma))
    scale *= history_months >= cfg.season_min_months
    z = rng.standard_normal(12)
    inv = rng.gamma(cfg.arrival_inv_sqrt_alpha.alpha, 1.0 / cfg.arrival_inv_sqrt_alpha.beta)

    def one(x: float) -> np.ndarray:
        return np.array([[x]])

    return FunnelParams.lognormal(
        ("all",),
        p_win=one(p_win),
        p_lost=one((1 - p_win) * expit(lost_share)),
        won_mu=one(won_mu),
        won_sigma=one(np.exp(won_ls)),
        lost_mu=one(lost_mu),
        lost_sigma=one(np.exp(lost_ls)),
        size_mu=one(size_mu),
        size_sigma=one(np.exp(size_ls)),
        arrival_log_rate=one(level),
        arrival_trend=one(trend),
        season=(scale * (z - z.mean()))[None, :],
        arrival_alpha=one(1.0 / inv**2),
        as_of=as_of,
        history_months=history_months,
    )


def run(reps: int, seed: int, draws: int, tune: int, thin: int) -> dict[str, np.ndarray]:
    from targetsim.model import fit_funnel
    from targetsim.synthetic import synthetic_funnel

    ss = np.random.SeedSequence(seed)
    ranks = {q: [] for q in QUANTITIES}
    skipped = 0
    t0 = time.perf_counter()
    for i, child in enumerate(ss.spawn(reps)):
        rng = np.random.default_rng(child)
        truth = prior_truth(rng)
        try:
            funnel = synthetic_funnel(truth, random_seed=int(rng.integers(2**31)))
            if len(funnel.deals) < 2:
                raise ValueError("fewer than 2 deals")
            fit = fit_funnel(funnel, LEGACY, draws=draws, tune=tune, chains=2,
                             random_seed=i, progress=False)
        except Exception as exc:  # report and skip degenerate prior draws, never hide them
            skipped += 1
            print(f"rep {i}: skipped ({type(exc).__name__}: {exc})")
            continue
        for q in QUANTITIES:
            post = _posterior_value(fit, q)[::thin]
            ranks[q].append(int((post < _truth_value(truth, q)).sum()))
        if (i + 1) % 5 == 0:
            print(f"{i + 1}/{reps} replications, {time.perf_counter() - t0:.0f} s")
    print(f"skipped {skipped} of {reps} replications")
    return {q: np.array(r) for q, r in ranks.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description="SBC of the one-segment funnel model")
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--draws", type=int, default=300)
    ap.add_argument("--tune", type=int, default=300)
    ap.add_argument("--thin", type=int, default=6)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    global LEGACY
    LEGACY = _legacy()
    ranks = run(args.reps, args.seed, args.draws, args.tune, args.thin)
    n_post = len(range(0, 2 * args.draws, args.thin))
    bins = 10
    pvals = []
    for q, r in ranks.items():
        hist = np.histogram(r, bins=bins, range=(0, n_post + 1))[0]
        p = stats.chisquare(hist).pvalue if len(r) else float("nan")
        pvals.append(p)
        print(f"{q:>18}: ranks of {len(r)} reps in {bins} bins {hist.tolist()}, p = {p:.3f}")
    all_ranks = np.concatenate(list(ranks.values()))
    hist = np.histogram(all_ranks, bins=bins, range=(0, n_post + 1))[0]
    print(
        f"{'all quantities':>18}: {hist.tolist()}, chi-square p = "
        f"{stats.chisquare(hist).pvalue:.3f} (quantities are not independent)"
    )
    print(f"min p over {len(pvals)} quantities: {np.nanmin(pvals):.3f}")


if __name__ == "__main__":
    main()
