"""Benchmark of the simulator: 1,000 draws × 12 segments × 12 months.

~5,000 new opportunities a year plus an open pipeline of 1,500 deals. Prints seconds for the
vectorised engine, the SimPy engine on 1 and 2 workers, and their ratios. Goals: vectorised
< 5 s, SimPy < 120 s on 2 workers.

Usage: ``python benchmarks/bench_simulate.py [--draws N] [--skip-des]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from targetsim.model.params import FunnelParams
from targetsim.simulate import simulate
from targetsim.simulate.scenario import parse_scenario

SEGMENTS = tuple(f"segment {i:02d}" for i in range(12))


def inputs(n_draws: int) -> tuple[FunnelParams, pd.DataFrame]:
    rng = np.random.default_rng(0)
    share = rng.dirichlet(np.full(12, 3.0))  # uneven segments, 5,000 arrivals a year in total
    p = FunnelParams.constant(
        SEGMENTS, p_win=0.25, p_lost=0.6, arrivals_per_month=list(5000 / 12 * share),
        won_median_days=60.0, lost_median_days=35.0, arrival_alpha=30.0, n_draws=n_draws,
    )
    n = 1500
    pipe = pd.DataFrame({
        "opportunity_id": np.arange(n).astype(str),
        "segment": rng.choice(SEGMENTS, n, p=share),
        "owner": None,
        "age_days": rng.exponential(120, n).round(),
        "amount": np.where(rng.random(n) < 0.4, np.nan, rng.lognormal(9, 0.5, n)),
        "stage": "created",
    })
    return p, pipe


def timed(label: str, fn) -> float:
    """Wall seconds of ``fn()`` (CPU seconds of this process alongside: the machine may be
    shared, and worker processes' CPU is not counted)."""
    t, c = time.perf_counter(), time.process_time()
    ds = fn()
    dt, dc = time.perf_counter() - t, time.process_time() - c
    won = float(ds.deals_won.sum(("segment", "month")).mean())
    new = float(ds.new_opportunities.sum(("segment", "month")).mean())
    print(f"{label:<34} {dt:8.2f} s wall {dc:8.2f} s CPU here   "
          f"(mean deals won {won:,.0f}, new opportunities {new:,.0f})")
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--skip-des", action="store_true")
    a = ap.parse_args()
    p, pipe = inputs(a.draws)
    # Capacity that binds: ~1,000 open deals on average vs 12 × 6 × 12 slots.
    cap = parse_scenario("name: capacity\ncapacity: {reps: 6, max_open_deals_per_rep: 12, "
                         "attrition_per_year: 0.15, patience_days: 30}")
    print(f"{a.draws} draws × {len(SEGMENTS)} segments × 12 months, "
          f"{len(pipe)} open deals, ~5,000 new opportunities a year")
    fast = timed("vectorised (fast)", lambda: simulate(p, pipe, engine="fast", progress=False))
    if a.skip_des:
        return
    des1 = timed("SimPy (des, capacity), 1 worker",
                 lambda: simulate(p, pipe, [cap], engine="des", progress=False))
    des2 = timed("SimPy (des, capacity), 2 workers",
                 lambda: simulate(p, pipe, [cap], engine="des", workers=2, progress=False))
    print(f"ratio SimPy 1 worker / vectorised:   {des1 / fast:6.1f}")
    print(f"ratio SimPy 2 workers / vectorised:  {des2 / fast:6.1f}")
    print(f"speed-up 2 workers vs 1:             {des1 / des2:6.2f}")
    print(f"goals: vectorised < 5 s: {'met' if fast < 5 else 'MISSED'}; "
          f"SimPy 2 workers < 120 s: {'met' if des2 < 120 else 'MISSED'}")


if __name__ == "__main__":
    main()
