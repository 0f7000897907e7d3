"""Benchmark of the two engines alone on a saved fit: wall and CPU seconds, and their ratio.

The demo's fit by default (``build/demo/fit.nc``, made with ``targetsim demo --out
build/demo``); 400 draws, the bundled ``tension`` scenario (no capacity, so both engines
apply and must agree exactly, which is checked). CPU seconds are this process's
(``time.process_time``): on a shared machine they move less than wall seconds. The first
call of the vectorised engine in a process loads its compiled loops (and compiles them
after an install): it is timed apart. Goal (issue 14): the vectorised engine at least 50x
faster than the SimPy engine. The vectorised engine runs its blocks on as many threads as
the process has processors (printed); on a machine whose cores are busy that gains nothing,
which the CPU seconds show.

Usage: ``python benchmarks/bench_engines.py [--fit FILE] [--draws 400] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", type=Path, default=REPO / "build" / "demo" / "fit.nc")
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3, help="runs of the vectorised engine")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    import numpy as np

    import targetsim
    from targetsim.simulate import load_scenario, simulate
    from targetsim.simulate.engine import default_threads

    fit = targetsim.FunnelFit.load(args.fit)
    params = fit.params(args.draws, random_seed=args.seed)
    scenario = [load_scenario("tension")]

    def run(engine: str):  # noqa: ANN202
        t, c = time.perf_counter(), time.process_time()
        ds = simulate(params, fit.open_pipeline, scenario, engine=engine,
                      random_seed=args.seed, progress=False)
        return time.perf_counter() - t, time.process_time() - c, ds

    first_wall, first_cpu, _ = run("fast")
    fast = [run("fast") for _ in range(args.repeats)]
    des_wall, des_cpu, des = run("des")
    f_wall = statistics.median(r[0] for r in fast)
    f_cpu = statistics.median(r[1] for r in fast)
    same = all(np.array_equal(fast[0][2][v].values, des[v].values) for v in des.data_vars)
    n_deals = int(des.initial_open.sum() + des.new_opportunities.sum()) / args.draws
    print(f"{args.fit} ({args.draws} draws, tension, about {n_deals:,.0f} deals a draw "
          f"in the horizon; vectorised engine on {default_threads()} thread(s))")
    print(f"  vectorised, first call     {first_wall:7.3f} s wall {first_cpu:7.3f} s CPU")
    print(f"  vectorised (median of {args.repeats})   {f_wall:7.3f} s wall {f_cpu:7.3f} s CPU")
    print(f"  SimPy                      {des_wall:7.3f} s wall {des_cpu:7.3f} s CPU")
    print(f"  ratio SimPy / vectorised   {des_wall / f_wall:7.1f}x wall {des_cpu / f_cpu:6.1f}x "
          f"CPU  (goal >= 50x); identical outputs: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
