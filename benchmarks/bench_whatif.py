"""Benchmark of one what-if on the demo's saved fit, as ``targetsim serve`` answers it.

One what-if = a scenario change (YAML text validated by ``parse_scenario``) → re-simulate the
posterior draws with the vectorised engine → targets with their probability and band
(``compute_targets``: every level, period and metric) and the probability of the board's
number. Figures printed:

* the wall time of one what-if for ``--draws`` (400) draws: median over ``--repeats``
  different changes, after one warm-up (goal: at or under 1 s);
* the SimPy engine against the vectorised one on the same inputs (engines alone, same seed;
  goal: vectorised at least 50x faster); the two agree exactly when capacity never binds,
  which is checked and printed;
* start-up: ``targetsim --help`` and ``import targetsim.simulate`` in a fresh interpreter
  (goal: under 1 s), and whether the sampler's packages (PyMC, PyTensor, JAX, nutpie) were
  imported by the steps after the fit.

Only public API is used. The saved fit is ``--plan`` (default ``build/demo``), made with
``targetsim demo --out build/demo`` first when it is missing.

Usage: ``python benchmarks/bench_whatif.py [--plan DIR] [--draws 400] [--repeats 5]
[--des-repeats 1] [--json FILE]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("pymc", "pytensor", "jax", "nutpie")
STEPS = ("simulate", "calibrate", "report", "track", "serve")
#: The what-ifs timed: a change of one or two assumptions each (a session's questions).
CHANGES = (
    {"lead_volume": 1.1},
    {"win_rate": 0.97},
    {"lead_volume": 0.9, "deal_size": 1.05},
    {"cycle_length": 1.15},
    {"lead_volume": 1.2, "win_rate": 1.03},
    {"deal_size": 0.9},
    {"win_rate": 0.9, "cycle_length": 1.1},
)


def targetsim_exe() -> str:
    """The ``targetsim`` console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("targetsim")
    return str(beside) if beside.exists() else (shutil.which("targetsim") or "targetsim")


def ensure_plan(plan: Path) -> None:
    """Build the demo's plan directory when its fit is missing."""
    if (plan / "fit.nc").is_file():
        return
    print(f"{plan / 'fit.nc'} not found: running `targetsim demo --out {plan}` first", flush=True)
    subprocess.run([targetsim_exe(), "demo", "--out", str(plan), "--no-progress"], check=False,
                   stdout=subprocess.DEVNULL)
    if not (plan / "fit.nc").is_file():
        sys.exit(f"could not build {plan}")


def wall(cmd: list[str], repeats: int) -> tuple[float, str]:
    """Median wall seconds of a command over ``repeats`` runs, and its last stdout."""
    times, out = [], ""
    for _ in range(repeats):
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t)
        out = proc.stdout
    return statistics.median(times), out


def startup(repeats: int) -> dict[str, object]:
    """Start-up times and the heavy packages each step's import pulls in."""
    res: dict[str, object] = {}
    res["help_s"], _ = wall([targetsim_exe(), "--help"], repeats)
    res["import_simulate_s"], _ = wall([sys.executable, "-c", "import targetsim.simulate"],
                                       repeats)
    heavy: dict[str, object] = {}
    for step in STEPS:  # a fresh interpreter per step: what importing that step alone loads
        probe = (
            "import importlib, json, sys\n"
            "try:\n"
            f"    importlib.import_module('targetsim.{step}')\n"
            "except ImportError as exc:\n"
            "    print(json.dumps('not importable: ' + str(exc)))\n"
            "else:\n"
            f"    print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
        )
        _, text = wall([sys.executable, "-c", probe], 1)
        heavy[step] = json.loads(text)
    res["heavy_after_import"] = heavy
    return res


def scenario_text(base: dict[str, float], change: dict[str, float], name: str) -> str:
    market = {**base, **change}
    lines = [f"name: {name}", "market:"] + [f"  {k}: {v}" for k, v in market.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plan", type=Path, default=REPO / "build" / "demo")
    ap.add_argument("--draws", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=5, help="what-ifs timed (after a warm-up)")
    ap.add_argument("--des-repeats", type=int, default=1)
    ap.add_argument("--startup-repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args()

    ensure_plan(args.plan)
    print(f"start-up ({args.startup_repeats} runs each, median):", flush=True)
    start = startup(args.startup_repeats)
    print(f"  targetsim --help                 {start['help_s']:6.2f} s   (goal < 1 s)")
    print(f"  import targetsim.simulate        {start['import_simulate_s']:6.2f} s")
    for step, mods in start["heavy_after_import"].items():  # type: ignore[union-attr]
        print(f"  after import targetsim.{step:<9} sampler packages loaded: {mods or 'none'}")

    t0 = time.perf_counter()
    import numpy as np

    import targetsim
    from targetsim.calibrate import company_probabilities, compute_targets
    from targetsim.simulate import simulate
    from targetsim.simulate.scenario import parse_scenario

    t_import = time.perf_counter() - t0
    meta = json.loads((args.plan / "plan.json").read_text()) if (
        args.plan / "plan.json").is_file() else {}
    seed = int(meta.get("seed", 0))
    probability = float(meta.get("probability", 0.6))
    t0 = time.perf_counter()
    fit = targetsim.FunnelFit.load(args.plan / "fit.nc")
    params = fit.params(args.draws, random_seed=seed)
    pipeline = fit.open_pipeline
    t_load = time.perf_counter() - t0
    print(f"\nin-process: import {t_import:.2f} s (sampler packages included until they are "
          f"split off), load fit + {args.draws} draws {t_load:.2f} s", flush=True)

    base = {"lead_volume": 1.0, "win_rate": 1.0, "deal_size": 1.0, "cycle_length": 1.0}
    ref = simulate(params, pipeline, [parse_scenario(scenario_text(base, {}, "baseline"))],
                   random_seed=seed, progress=False, engine="fast")
    board = 1.2 * float(
        compute_targets(ref, probability).query("level == 'total' and period == 'FY' "
                                                "and metric == 'bookings'")["target"].iloc[0])

    def what_if(change: dict[str, float]) -> tuple[float, float, float]:
        t = time.perf_counter()
        sc = parse_scenario(scenario_text(base, change, "what-if"), "bench")
        ds = simulate(params, pipeline, [sc], random_seed=seed, progress=False, engine="fast")
        tg = compute_targets(ds, probability)
        p_board = company_probabilities(ds, board)["what-if"]
        company = tg.query("level == 'total' and period == 'FY' and metric == 'bookings'")
        return time.perf_counter() - t, float(company["target"].iloc[0]), p_board

    warm, _, _ = what_if(CHANGES[-1])
    times = []
    print(f"\none what-if ({args.draws} draws, vectorised engine; targets at "
          f"{probability:.0%}, P(board's {board:,.0f})):")
    print(f"  warm-up                              {warm:6.2f} s")
    for k in range(args.repeats):
        change = CHANGES[k % len(CHANGES)]
        dt, target, p_board = what_if(change)
        times.append(dt)
        label = ", ".join(f"{key} x{v:g}" for key, v in change.items())
        print(f"  {label:<36} {dt:6.2f} s   company target {target:,.0f}, "
              f"P(board) {p_board:.0%}")
    med = statistics.median(times)
    print(f"  median                               {med:6.2f} s   (goal <= 1 s)", flush=True)

    sc = parse_scenario(scenario_text(base, {"lead_volume": 0.8, "win_rate": 0.85,
                                             "deal_size": 0.95, "cycle_length": 1.2}, "tension"))
    fast_t, des_t = [], []
    for _ in range(3):
        t = time.perf_counter()
        fast = simulate(params, pipeline, [sc], random_seed=seed, progress=False, engine="fast")
        fast_t.append(time.perf_counter() - t)
    for _ in range(max(args.des_repeats, 1)):
        t = time.perf_counter()
        des = simulate(params, pipeline, [sc], random_seed=seed, progress=False, engine="des")
        des_t.append(time.perf_counter() - t)
    same = all(np.array_equal(fast[v].values, des[v].values) for v in ("bookings", "deals_won"))
    f_med, d_med = statistics.median(fast_t), statistics.median(des_t)
    ratio = d_med / f_med
    print(f"\nengines alone, same inputs ({args.draws} draws, tension multipliers, no capacity):")
    print(f"  vectorised                       {f_med:6.2f} s")
    print(f"  SimPy                            {d_med:6.2f} s")
    print(f"  ratio SimPy / vectorised         {ratio:6.1f}x  (goal >= 50x); "
          f"identical outputs: {'yes' if same else 'NO'}")

    figures = {
        "draws": args.draws, "plan": str(args.plan), "seed": seed,
        "whatif_median_s": round(med, 3), "whatif_times_s": [round(t, 3) for t in times],
        "whatif_warmup_s": round(warm, 3), "fast_s": round(f_med, 3), "des_s": round(d_med, 3),
        "des_over_fast": round(ratio, 2), "engines_identical": same,
        "load_fit_s": round(t_load, 3), **start,
    }
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
