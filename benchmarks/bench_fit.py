"""Time to fit: the shipped model, and sufficient statistics versus the per-deal model.

Generates a CRM of about 50,000 opportunities over 12 segments (18 months, many open).

1. Fits the shipped model (:func:`targetsim.model.fit_funnel` with the default components:
   piecewise hazards sampled with nutpie / JAX, empirical sizes and trend-and-shift
   arrivals fitted directly) at the shipped MCMC settings: the time a user waits.
2. For the ratio, fits the log-normal components on their sufficient statistics and then
   the same funnel written the straightforward way: one likelihood term per deal (won,
   lost, censored open deals via ``pm.Potential``), sampled with ``pm.sample``.

Prints compile, sampling and direct-fit seconds, the ratio, and whether each fit passed
the diagnostics gate.

Usage::

    python benchmarks/bench_fit.py            # the issue's setup (per-deal model: minutes)
    python benchmarks/bench_fit.py --quick    # 5,000 deals, for a smoke run
    python benchmarks/bench_fit.py --skip-per-deal
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def truth(n_target: int, n_seg: int = 12, months: int = 18):
    from targetsim.model.params import FunnelParams

    rng = np.random.default_rng(2024)
    segs = tuple(f"seg{i:02d}" for i in range(n_seg))
    weights = rng.uniform(0.5, 1.5, n_seg)
    rates = n_target / months * weights / weights.sum()
    p_win = rng.uniform(0.2, 0.5, n_seg)
    p_lost = (1 - p_win) * rng.uniform(0.6, 0.9, n_seg)
    return FunnelParams.constant(
        segs,
        p_win=list(p_win),
        p_lost=list(p_lost),
        won_median_days=list(rng.uniform(30, 120, n_seg)),
        lost_median_days=list(rng.uniform(15, 60, n_seg)),
        size_median=list(rng.uniform(3_000, 50_000, n_seg)),
        arrivals_per_month=list(rates),
        as_of="2026-12-31",
    )


def per_deal_model(funnel):
    """The straightforward model: same parameters, one likelihood term per deal."""
    import pymc as pm
    import pytensor.tensor as pt
    from pymc.distributions.dist_math import normal_lccdf

    d = funnel.deals
    segs = funnel.segments
    s = d["segment"].map({x: i for i, x in enumerate(segs)}).to_numpy()
    t = np.maximum(d["duration_days"].to_numpy(), 0) + 0.5
    won = (d["outcome"] == "won").to_numpy()
    lost = (d["outcome"] == "lost").to_numpy()
    op = (d["outcome"] == "open").to_numpy()
    amt = d["amount"].to_numpy()
    arr = funnel.arrivals
    a_seg = arr["segment"].map({x: i for i, x in enumerate(segs)}).to_numpy()
    with pm.Model(coords={"segment": segs}) as m:

        def hier(name, mu, sd):
            pop = pm.Normal(f"{name}_pop", mu, 1.5)
            tau = pm.HalfNormal(f"{name}_sd", sd)
            z = pm.Normal(f"{name}_z", 0, 1, dims="segment")
            return pop + tau * z

        a = hier("win", 0.0, 0.5)
        b = hier("lost_share", 1.0, 0.5)
        wmu = hier("won_mu", np.log(60), 0.5)
        wsig = pt.exp(hier("won_ls", np.log(0.7), 0.3))
        lmu = hier("lost_mu", np.log(30), 0.5)
        lsig = pt.exp(hier("lost_ls", np.log(0.7), 0.3))
        smu = hier("size_mu", 9.0, 1.0)
        ssig = pt.exp(hier("size_ls", np.log(0.6), 0.3))
        lpw = -pt.softplus(-a)
        lpn = -pt.softplus(a)
        lpl = lpn - pt.softplus(-b)
        lps = lpn - pt.softplus(b)
        lt = np.log(t)
        pm.Potential(
            "won",
            pt.sum(lpw[s[won]] + pm.logp(pm.LogNormal.dist(wmu[s[won]], wsig[s[won]]), t[won])),
        )
        pm.Potential(
            "lost",
            pt.sum(lpl[s[lost]] + pm.logp(pm.LogNormal.dist(lmu[s[lost]], lsig[s[lost]]), t[lost])),
        )
        so = s[op]
        pm.Potential(
            "open",
            pt.sum(
                pt.logsumexp(
                    pt.stack(
                        [
                            lpw[so] + normal_lccdf(wmu[so], wsig[so], lt[op]),
                            lpl[so] + normal_lccdf(lmu[so], lsig[so], lt[op]),
                            lps[so],
                        ]
                    ),
                    axis=0,
                )
            ),
        )
        ok = won & (amt > 0)
        pm.LogNormal("size", smu[s[ok]], ssig[s[ok]], observed=amt[ok])
        lvl = hier("level", 3.0, 1.0)
        inv = pm.HalfNormal("inv_alpha", 0.3, dims="segment")
        pm.NegativeBinomial(
            "arrivals",
            mu=arr["exposure"].to_numpy() * pt.exp(lvl[a_seg]),
            alpha=1 / inv[a_seg] ** 2,
            observed=arr["count"].to_numpy(),
        )
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 deals instead of 50,000")
    ap.add_argument("--skip-per-deal", action="store_true")
    ap.add_argument("--draws", type=int, default=None, help="default: the shipped draws")
    ap.add_argument("--tune", type=int, default=None, help="default: the shipped tuning")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    from targetsim.model import FunnelModel, ModelConfig
    from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE
    from targetsim.synthetic import synthetic_funnel

    args.draws = args.draws or DEFAULT_DRAWS
    args.tune = args.tune or DEFAULT_TUNE
    n_target = 5_000 if args.quick else 50_000
    f = synthetic_funnel(truth(n_target), random_seed=7)
    n = len(f.deals)
    n_open = int(f.deals["censored"].sum())
    print(f"data: {n} opportunities, {n_open} open, {len(f.segments)} segments")

    t0 = time.perf_counter()
    shipped = FunnelModel(ModelConfig())
    shipped.build_model(f)
    t_build = time.perf_counter() - t0
    fit = shipped.fit(draws=args.draws, tune=args.tune, chains=2, random_seed=1,
                      progress=False)
    tm = fit.timings
    total = t_build + tm["compile_seconds"] + tm["sampling_seconds"] + tm["direct_seconds"]
    d = fit.diagnostics
    print(
        f"shipped model (hazard cycles, empirical sizes, trend-and-shift arrivals; "
        f"2 x {args.draws} draws): build {t_build:.1f} s, compile {tm['compile_seconds']:.1f} s, "
        f"sampling {tm['sampling_seconds']:.1f} s, direct fits {tm['direct_seconds']:.1f} s, "
        f"total {total:.1f} s; gate {'PASSED' if d.converged else 'FAILED'} (R-hat max "
        f"{d.rhat_max:.3f}, ESS bulk min {d.ess_bulk_min:.0f}, divergences {d.divergences})"
    )
    for p in d.problems:
        print(f"  problem: {p}")

    t0 = time.perf_counter()
    # The log-normal components without the abandoned-deal rule: the per-deal model below
    # has neither, and the two must be the same model for the ratio to mean anything.
    model = FunnelModel(ModelConfig(cycle="lognormal", size="lognormal", arrivals="negbin",
                                    stale_after_days=None))
    model.build_model(f)
    t_build = time.perf_counter() - t0
    print(f"log-normal on sufficient statistics: {model.stats.n_groups} censored (cell, age) "
          f"groups; build {t_build:.1f} s")
    fit = model.fit(draws=args.draws, tune=args.tune, chains=2, random_seed=1, progress=False)
    ours_c, ours_s = fit.timings["compile_seconds"], fit.timings["sampling_seconds"]
    ours = t_build + ours_c + ours_s
    d = fit.diagnostics
    print(
        f"log-normal (nutpie): compile {ours_c:.1f} s, sampling {ours_s:.1f} s, total "
        f"{ours:.1f} s; "
        f"gate {'PASSED' if d.converged else 'FAILED'} (R-hat max {d.rhat_max:.3f}, "
        f"ESS bulk min {d.ess_bulk_min:.0f}, tail min {d.ess_tail_min:.0f}, "
        f"divergences {d.divergences})"
    )
    for p in d.problems:
        print(f"  problem: {p}")
    if args.skip_per_deal:
        return

    import pymc as pm

    t0 = time.perf_counter()
    m = per_deal_model(f)
    fn = m.compile_logp(), m.compile_dlogp()
    fn[1](m.initial_point())
    t_comp = time.perf_counter() - t0
    t0 = time.perf_counter()
    idata = pm.sample(
        draws=args.draws,
        tune=args.tune,
        chains=2,
        cores=2,
        random_seed=1,
        model=m,
        progressbar=False,
        compute_convergence_checks=False,
    )
    t_samp = time.perf_counter() - t0
    per_deal = t_comp + t_samp
    div = int(idata.sample_stats["diverging"].sum())
    print(
        f"per-deal (pm.sample): compile {t_comp:.1f} s, sampling {t_samp:.1f} s "
        f"(includes its own compile), total {per_deal:.1f} s, divergences {div}"
    )
    print(f"speed-up: {per_deal / ours:.1f}x (total time)")


if __name__ == "__main__":
    main()
