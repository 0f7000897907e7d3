"""Calibration benchmark: are targetsim's 60 % targets reached 60 % of the time?

For each generator of :mod:`truthgen` (true processes written apart from targetsim) and
each of N data sets: write the CRM export, run ``targetsim.run_plan`` on it exactly as
shipped (MCMC draws and tuning untouched; ``--config`` passes model components), and
score every target of the baseline scenario (levels total and segment, periods FY and
quarters, metrics bookings and deals won) against the true distribution of the horizon's
outcomes, simulated from the true process conditional on the export's open pipeline.

Per target
    * true P(reach): ``P_true(Y >= target)``; the stated one is targets.csv's
      ``attainment_probability`` (0.6 lifted by rounding down and by integer deal counts);
    * true coverage: ``P_true(p10 <= Y <= p90)``; the stated one is the share of the plan's
      own draws (projection.nc) inside its band;
    * PIT of one realised future (one extra truth replication) under the plan's draws,
      randomised on ties: ``F(y-) + U (F(y) - F(y-))``;
    * the stated median over the true median.

Per generator (targets of one data set share its history, so they are correlated: every
mean is taken per data set first, then the mean and its standard error over data sets)
    * mean true P(reach) ± SE (and the mean stated probability beside it);
    * mean true p10-p90 coverage ± SE (and the stated coverage);
    * PIT uniformity: deciles of all PITs and a chi-square p-value with the second-order
      Rao-Scott correction for clustering by data set (:func:`pit_uniformity`);
    * share of fits passing the convergence gate (diagnostics.json ``converged``);
    * per segment, the sign of (stated FY bookings median - true median) on each data set;
      a segment with the same sign on every data set is flagged.

Bounds of issue 11, marked pass/fail per generator: mean true P(reach) within 0.05 of the
stated probability (0.60 for bookings; a whole number of deals lifts it to about 0.63),
mean true coverage within 0.05 of the stated coverage (0.81: the band's ends are
inclusive), no flagged segment, at least 95 % of fits passing the gate. A missed bound
says by how many standard errors (over data sets) it is missed: with 8 data sets the
standard error of the mean true P(reach) is about 0.03, so a calibrated model misses
±0.05 on about one generator in ten by chance; use more data sets for a verdict.

Usage::

    python benchmarks/calibration.py                      # every generator, 8 data sets
    python benchmarks/calibration.py --quick              # 3 generators x 2 data sets
    python benchmarks/calibration.py --generators growth,q4_peak --datasets 5
    python benchmarks/calibration.py --config cycle=hazard,size=empirical --out new.jsonl
    python benchmarks/calibration.py --summary-only --out results.jsonl

Results are appended to ``--out`` (JSON lines, one per data set); a data set already there
(same generator, index, seed, configuration and truth replications) is skipped, so an
interrupted run resumes. The markdown table is printed and written beside ``--out``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import shutil
import sys
import tempfile
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats


def _load_truthgen() -> ModuleType:
    """The sibling module ``truthgen`` (benchmarks/ is not a package)."""
    if "truthgen" in sys.modules:
        return sys.modules["truthgen"]
    spec = importlib.util.spec_from_file_location("truthgen", Path(__file__).with_name(
        "truthgen.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["truthgen"] = module
    spec.loader.exec_module(module)
    return module


tg = _load_truthgen()

#: Issue 11's bounds.
P_TOLERANCE = 0.05
COVERAGE_TOLERANCE = 0.05
GATE_MIN = 0.95
#: What is scored.
LEVELS = ("total", "segment")
METRICS = ("bookings", "deals_won")
DEFAULT_DATASETS = 8
DEFAULT_REPS = 4000
QUICK_DATASETS = 2
QUICK_REPS = 1000
QUICK_GENERATORS = ("lognormal_core", "weibull_cycles", "outside_families")
PIT_BINS = 10


# --------------------------------------------------------------------------- options


def parse_config(text: str | None) -> dict[str, Any]:
    """``"cycle=hazard,won_log_days.mu=4"`` → ``{"cycle": "hazard", "won_log_days": {"mu": 4}}``.

    Values are read as JSON when they parse (numbers, ``true``, ``null``), else as strings;
    dotted keys nest.
    """
    out: dict[str, Any] = {}
    for item in filter(None, (s.strip() for s in (text or "").split(","))):
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--config: expected key=value, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw.strip()
        node = out
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return out


def config_key(config: dict[str, Any]) -> str:
    """Canonical text of a configuration (``{}`` = the shipped defaults)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def dataset_seed(root: int, generator: str, index: int, stream: int = 0) -> int:
    """Seed of data set ``index`` of ``generator`` (stable across runs and machines)."""
    ss = np.random.SeedSequence([root, zlib.crc32(generator.encode()), index, stream])
    return int(ss.generate_state(1, dtype=np.uint32)[0])


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class TargetScore:
    """One target of the plan scored against the truth."""

    level: str
    name: str
    period: str
    metric: str
    target: float
    stated_p: float
    p10: float
    p50: float
    p90: float
    stated_coverage: float
    true_p: float
    true_coverage: float
    pit: float
    true_median: float


def randomised_pit(draws: np.ndarray, y: float, u: float) -> float:
    """PIT of ``y`` under the empirical law of ``draws``, uniform on ties (discrete counts)."""
    below = float(np.mean(draws < y))
    return below + u * float(np.mean(draws == y))


def stated_cube(projection: xr.Dataset, scenario: str) -> tuple[pd.PeriodIndex, dict[str, Any]]:
    """Months and per-metric (draw, segment, month) arrays of one scenario of projection.nc."""
    months = pd.DatetimeIndex(projection["month"].values).to_period("M")
    cube = {}
    for metric in METRICS:
        da = projection[metric].sel(scenario=scenario).transpose("draw", "segment", "month")
        cube[metric] = (tuple(str(s) for s in da["segment"].values), np.asarray(da.values,
                                                                                 dtype=float))
    return months, cube


def _stated_draws(cube: dict[str, Any], periods: dict[str, np.ndarray], metric: str,
                  name: str, period: str) -> np.ndarray:
    segments, values = cube[metric]
    per_seg = values[:, :, periods[period]].sum(axis=2)
    return per_seg.sum(axis=1) if name == tg.TOTAL else per_seg[:, segments.index(name)]


def _check_band(row: pd.Series, draws: np.ndarray) -> None:
    """The draws read here must be the ones targets.csv was computed from."""
    tol = 0.05 if row["metric"] == "deals_won" else 0.5
    q50 = float(np.quantile(draws, 0.5))
    if abs(q50 - float(row["p50"])) > tol + 1e-9 * abs(q50):
        raise RuntimeError(
            f"projection.nc and targets.csv disagree on {row['level']} {row['name']} "
            f"{row['period']} {row['metric']}: median of the draws {q50} vs p50 {row['p50']}"
        )


def score_targets(targets: pd.DataFrame, projection: xr.Dataset, truth: Any, realised: Any,
                  rng: np.random.Generator) -> list[TargetScore]:
    """Score every total/segment target of targets.csv against the truth.

    Parameters
    ----------
    targets : DataFrame
        targets.csv of the plan (one scenario).
    projection : xarray.Dataset
        projection.nc of the plan: the stated distribution.
    truth : truthgen.Truth
        Replications of the true outcomes.
    realised : truthgen.Truth
        One more replication, independent of ``truth``: the future that "happened".
    rng : numpy.random.Generator
        For the randomised PIT.
    """
    scenarios = targets["scenario"].unique()
    if len(scenarios) != 1:
        raise RuntimeError(f"expected the baseline scenario alone, got {list(scenarios)}")
    months, cube = stated_cube(projection, str(scenarios[0]))
    if not months.equals(truth.months):
        raise RuntimeError(f"horizon mismatch: plan {list(months)} vs truth {list(truth.months)}")
    periods = truth.periods()
    rows = targets.loc[targets["level"].isin(LEVELS) & targets["metric"].isin(METRICS)]
    scores = []
    for _, row in rows.iterrows():
        metric, name, period = str(row["metric"]), str(row["name"]), str(row["period"])
        draws = _stated_draws(cube, periods, metric, name, period)
        _check_band(row, draws)
        y = truth.outcome(metric, name, period)
        y_real = float(realised.outcome(metric, name, period)[0])
        lo, hi, t = float(row["p10"]), float(row["p90"]), float(row["target"])
        scores.append(TargetScore(
            level=str(row["level"]), name=name, period=period, metric=metric, target=t,
            stated_p=float(row["attainment_probability"]), p10=lo, p50=float(row["p50"]),
            p90=hi, stated_coverage=float(np.mean((draws >= lo) & (draws <= hi))),
            true_p=float(np.mean(y >= t)), true_coverage=float(np.mean((y >= lo) & (y <= hi))),
            pit=randomised_pit(draws, y_real, float(rng.uniform())),
            true_median=float(np.median(y)),
        ))
    return scores


# --------------------------------------------------------------------------- one data set


@dataclass(frozen=True)
class RunOptions:
    """What identifies a run: root seed, model configuration, truth replications (and the
    version of :mod:`truthgen`)."""

    seed: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    reps: int = DEFAULT_REPS
    keep_dir: Path | None = None

    def key(self, generator: str, index: int) -> str:
        return json.dumps([generator, index, self.seed, config_key(self.config), self.reps,
                           tg.VERSION])


def _plan(csv: Path, out: Path, as_of: str, seed: int, config: dict[str, Any]) -> Any:
    import targetsim

    return targetsim.run_plan(csv, out, as_of=as_of, seed=seed, report=False, progress=False,
                              model_config=config or None)


def run_dataset(gen: Any, index: int, opts: RunOptions) -> dict[str, Any]:
    """Generate, plan, score one data set; the JSON record of :func:`main`'s output file."""
    seed = dataset_seed(opts.seed, gen.name, index)
    data = tg.generate(gen, seed)
    t0 = time.perf_counter()
    truth_all = tg.truth_of(data, reps=opts.reps + 1, seed=dataset_seed(opts.seed, gen.name,
                                                                         index, 1))
    truth_s = time.perf_counter() - t0
    record: dict[str, Any] = {
        "key": opts.key(gen.name, index), "generator": gen.name, "dataset": index,
        "seed": seed, "root_seed": opts.seed, "config": opts.config, "reps": opts.reps,
        "opportunities": len(data.export), "open": int((data.export["outcome"] == "open").sum()),
        "truth_seconds": round(truth_s, 2), "truthgen_version": tg.VERSION,
    }
    work = Path(tempfile.mkdtemp(prefix=f"calib-{gen.name}-{index}-"))
    try:
        csv = data.write_csv(work / "export.csv")
        out = work / "plan"
        t0 = time.perf_counter()
        try:
            _plan(csv, out, str(data.as_of.date()), seed % 2**31, opts.config)
        except Exception as exc:  # the product's failure on this data is a finding
            record |= {"status": "error", "error": f"{type(exc).__name__}: {exc}",
                       "converged": False, "wall_seconds": round(time.perf_counter() - t0, 2)}
            return record
        record["wall_seconds"] = round(time.perf_counter() - t0, 2)
        diag = json.loads((out / "diagnostics.json").read_text())
        targets = pd.read_csv(out / "targets.csv")
        projection = xr.load_dataset(out / "projection.nc", engine="h5netcdf")
        plan_meta = json.loads((out / "plan.json").read_text())
        rng = np.random.default_rng(dataset_seed(opts.seed, gen.name, index, 2))
        scores = score_targets(targets, projection, truth_all.take(slice(0, -1)),
                               truth_all.take(slice(-1, None)), rng)
        record |= {
            "status": "ok", "converged": bool(diag.get("converged")),
            "diagnostics": {k: diag.get(k) for k in ("rhat_max", "ess_bulk_min",
                                                     "divergences", "converged")},
            "timings": plan_meta.get("timings_seconds", {}),
            "targets": [asdict(s) for s in scores],
        }
        return record
    finally:
        if opts.keep_dir is not None:
            dest = opts.keep_dir / gen.name / str(index)
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(work, dest)
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------- summary


def pit_uniformity(pits: Sequence[np.ndarray], bins: int = PIT_BINS) -> tuple[float, np.ndarray]:
    """Decile shares of all PITs and a uniformity p-value robust to clustering.

    The PITs of one data set share its history and its realised future, so they are not
    independent. Pearson's chi-square ``X²`` of the pooled histogram gets the second-order
    Rao-Scott correction for clustering by data set (Rao & Scott 1984, Ann. Statist.
    12:46; the ``F`` statistic of R's ``survey::svychisq``): with ``Δ`` the estimated
    design-effect matrix (cluster-robust covariance of the bin shares over the multinomial
    one, ``bins - 1`` free shares), ``X² / tr Δ`` follows ``F(ν, ν (D - 1))`` with
    ``ν = (tr Δ)² / tr Δ²`` and ``D`` data sets. Where the design effect is below one on
    average, the plain chi-square is used (never more lenient than independence). One
    data set: no p-value (NaN).

    Returns
    -------
    p_value : float
    shares : ndarray, shape (bins,)
    """
    groups = [np.asarray(p, dtype=float) for p in pits if len(p)]
    if not groups:
        return float("nan"), np.full(bins, np.nan)
    counts = np.array([np.histogram(p, bins=bins, range=(0.0, 1.0))[0] for p in groups])
    n_d = counts.sum(axis=1)
    n = n_d.sum()
    share = counts.sum(axis=0) / n
    p0 = np.full(bins, 1.0 / bins)
    x2 = float(n * np.sum((share - p0) ** 2 / p0))
    d = len(groups)
    if d < 2:
        return float("nan"), share
    dev = (counts / n_d[:, None] - share) * (n_d / n)[:, None]
    v = d / (d - 1) * dev.T @ dev
    null = (np.diag(p0) - np.outer(p0, p0)) / n
    delta = np.linalg.solve(null[:-1, :-1], v[:-1, :-1])
    t1, t2 = float(np.trace(delta)), float(np.trace(delta @ delta))
    if t1 <= bins - 1:
        return float(stats.chi2.sf(x2, bins - 1)), share
    nu = t1 * t1 / t2
    return float(stats.f.sf(x2 / t1, nu, nu * (d - 1))), share


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray([x for x in values if np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    se = float(np.std(v, ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(v.mean()), se


@dataclass(frozen=True)
class GeneratorSummary:
    """The benchmark's figures for one generator (see the module docstring)."""

    generator: str
    attempted: int
    scored: int
    errors: int
    gate_share: float
    p_true: float
    p_true_se: float
    p_stated: float
    p_gap: float
    p_gap_se: float
    p_true_fy: float
    p_true_range: tuple[float, float]
    cov_true: float
    cov_true_se: float
    cov_stated: float
    cov_gap: float
    cov_gap_se: float
    pit_p: float
    pit_shares: tuple[float, ...]
    signs: dict[str, str]
    median_ratio: dict[str, float]
    flagged: tuple[str, ...]
    wall_mean: float

    def excess(self, check: str) -> float:
        """Standard errors by which a missed P(reach) or coverage bound is missed."""
        gap, se, tol = {"P(reach)": (self.p_gap, self.p_gap_se, P_TOLERANCE),
                        "coverage": (self.cov_gap, self.cov_gap_se, COVERAGE_TOLERANCE)}[check]
        return (abs(gap) - tol) / se if se > 0 else math.inf

    @property
    def checks(self) -> dict[str, bool]:
        """Issue 11's bounds: pass (True) or fail."""
        return {
            "P(reach)": bool(abs(self.p_gap) <= P_TOLERANCE),
            "coverage": bool(abs(self.cov_gap) <= COVERAGE_TOLERANCE),
            "bias": not self.flagged and self.scored > 0,
            "gate": bool(self.gate_share >= GATE_MIN),
        }


def dataset_means(targets: pd.DataFrame) -> dict[str, float]:
    """Means over one data set's targets (zero targets and zero bands carry no information)."""
    reach = targets.loc[targets["target"] > 0]
    band = targets.loc[targets["p90"] > 0]
    fy = reach.loc[reach["period"] == tg.FY]
    return {
        "p_true": float(reach["true_p"].mean()) if len(reach) else float("nan"),
        "p_stated": float(reach["stated_p"].mean()) if len(reach) else float("nan"),
        "p_gap": float((reach["true_p"] - reach["stated_p"]).mean()) if len(reach)
        else float("nan"),
        "p_true_fy": float(fy["true_p"].mean()) if len(fy) else float("nan"),
        "cov_true": float(band["true_coverage"].mean()) if len(band) else float("nan"),
        "cov_stated": float(band["stated_coverage"].mean()) if len(band) else float("nan"),
        "cov_gap": float((band["true_coverage"] - band["stated_coverage"]).mean())
        if len(band) else float("nan"),
    }


def summarise(generator: str, records: Sequence[dict[str, Any]]) -> GeneratorSummary:
    """Figures of one generator from its data sets' records."""
    ok = [r for r in records if r.get("status") == "ok"]
    per = [dataset_means(pd.DataFrame(r["targets"])) for r in ok]
    col = {k: [m[k] for m in per] for k in per[0]} if per else {}
    p_true, p_se = _mean_se(col.get("p_true", []))
    cov_true, cov_se = _mean_se(col.get("cov_true", []))
    pit_p, shares = pit_uniformity([pd.DataFrame(r["targets"])["pit"].to_numpy() for r in ok])
    signs: dict[str, str] = {}
    ratio: dict[str, list[float]] = {}
    for r in ok:
        t = pd.DataFrame(r["targets"])
        fy = t.loc[(t["level"] == "segment") & (t["period"] == tg.FY)
                   & (t["metric"] == "bookings")]
        for _, row in fy.iterrows():
            diff = row["p50"] - row["true_median"]
            signs[row["name"]] = signs.get(row["name"], "") + ("+" if diff > 0 else
                                                               "-" if diff < 0 else "0")
            if row["true_median"] > 0:
                ratio.setdefault(row["name"], []).append(row["p50"] / row["true_median"])
    flagged = tuple(s for s, v in signs.items() if len(v) >= 2 and len(set(v)) == 1
                    and v[0] != "0")
    walls = [r["wall_seconds"] for r in records if "wall_seconds" in r]
    gate = [bool(r.get("converged")) for r in records]
    p_range = (min(col["p_true"]), max(col["p_true"])) if per else (float("nan"),) * 2
    return GeneratorSummary(
        generator=generator, attempted=len(records), scored=len(ok),
        errors=len(records) - len(ok), gate_share=float(np.mean(gate)) if gate else math.nan,
        p_true=p_true, p_true_se=p_se, p_stated=_mean_se(col.get("p_stated", []))[0],
        p_gap=_mean_se(col.get("p_gap", []))[0], p_gap_se=_mean_se(col.get("p_gap", []))[1],
        p_true_fy=_mean_se(col.get("p_true_fy", []))[0],
        p_true_range=p_range, cov_true=cov_true, cov_true_se=cov_se,
        cov_stated=_mean_se(col.get("cov_stated", []))[0],
        cov_gap=_mean_se(col.get("cov_gap", []))[0],
        cov_gap_se=_mean_se(col.get("cov_gap", []))[1], pit_p=pit_p,
        pit_shares=tuple(float(x) for x in shares), signs=signs,
        median_ratio={s: float(np.mean(v)) for s, v in ratio.items()}, flagged=flagged,
        wall_mean=float(np.mean(walls)) if walls else math.nan,
    )


def _f(x: float, fmt: str = ".2f") -> str:
    return "n/a" if not np.isfinite(x) else format(x, fmt)


def markdown_table(summaries: Sequence[GeneratorSummary], title: str) -> str:
    """The benchmark table (one row per generator) and the per-segment bias detail."""
    head = ("| generator | data sets | gate | P(reach) true (stated) ± SE | range | FY "
            "| coverage true (stated) ± SE | PIT p | PIT deciles % | same-sign segments "
            "| s/fit | P | cov | bias | gate |")
    lines = [f"### {title}", "", head, "|" + "---|" * head.count(" | ") + "---|"]
    for s in summaries:
        c = {k: "pass" if v else "**fail**" for k, v in s.checks.items()}
        for k in ("P(reach)", "coverage"):
            if not s.checks[k] and np.isfinite(s.excess(k)):
                c[k] += f" ({s.excess(k):.1f} SE)"
        deciles = " ".join(_f(100 * x, ".0f") for x in s.pit_shares)
        n = f"{s.scored}/{s.attempted}" + (f" ({s.errors} err)" if s.errors else "")
        lines.append(
            f"| {s.generator} | {n} | {_f(s.gate_share)} "
            f"| {_f(s.p_true)} ({_f(s.p_stated)}) ± {_f(s.p_true_se)} "
            f"| {_f(s.p_true_range[0])}–{_f(s.p_true_range[1])} | {_f(s.p_true_fy)} "
            f"| {_f(s.cov_true)} ({_f(s.cov_stated)}) ± {_f(s.cov_true_se)} "
            f"| {_f(s.pit_p, '.3f')} | {deciles} | {', '.join(s.flagged) or '–'} "
            f"| {_f(s.wall_mean, '.0f')} | {c['P(reach)']} | {c['coverage']} | {c['bias']} "
            f"| {c['gate']} |"
        )
    lines += ["", "Stated FY bookings median vs the true median, per segment (sign on each "
              "data set; mean ratio):", ""]
    for s in summaries:
        detail = "; ".join(f"{seg} {v} ×{_f(s.median_ratio.get(seg, math.nan))}"
                           for seg, v in s.signs.items())
        lines.append(f"- {s.generator}: {detail}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main


def read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _append(path: Path, record: dict[str, Any]) -> None:
    with path.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


def _progress(record: dict[str, Any]) -> str:
    head = f"[{record['generator']} #{record['dataset']}]"
    if record.get("status") != "ok":
        return f"{head} ERROR after {record.get('wall_seconds')} s: {record.get('error')}"
    m = dataset_means(pd.DataFrame(record["targets"]))
    gate = "passes" if record["converged"] else "FAILS"
    return (f"{head} plan {record['wall_seconds']:.1f} s, gate {gate}, "
            f"mean true P(reach) {m['p_true']:.2f} (stated {m['p_stated']:.2f}), "
            f"coverage {m['cov_true']:.2f} (stated {m['cov_stated']:.2f})")


def run(generators: Iterable[str], datasets: int, opts: RunOptions, out: Path,
        *, summary_only: bool = False) -> list[GeneratorSummary]:
    """Run (or resume) the benchmark and summarise it per generator."""
    cat = tg.catalogue()
    done = {r["key"]: r for r in read_records(out)}
    if not summary_only:
        # Import the product (PyMC, JAX) once before timing any plan.
        import targetsim.model  # noqa: F401
        import targetsim.simulate  # noqa: F401

    summaries = []
    for name in generators:
        gen = cat[name]
        records = []
        for i in range(datasets):
            key = opts.key(name, i)
            if key not in done and not summary_only:
                done[key] = run_dataset(gen, i, opts)
                _append(out, done[key])
                print(_progress(done[key]), flush=True)
            if key in done:
                records.append(done[key])
        if records:
            summaries.append(summarise(name, records))
    return summaries


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generators", help="comma-separated names (default: all; see --list)")
    ap.add_argument("--datasets", type=int, help=f"data sets per generator ({DEFAULT_DATASETS})")
    ap.add_argument("--quick", action="store_true",
                    help=f"{', '.join(QUICK_GENERATORS)} × {QUICK_DATASETS} data sets, "
                         f"{QUICK_REPS} truth replications")
    ap.add_argument("--seed", type=int, default=0, help="root seed of the data sets")
    ap.add_argument("--out", type=Path, default=Path("calibration_results.jsonl"))
    ap.add_argument("--table", type=Path, help="markdown table (default: --out with .md)")
    ap.add_argument("--config", help="model configuration key=value,... (run_plan's "
                                     "model_config)")
    ap.add_argument("--reps", type=int, help=f"truth replications ({DEFAULT_REPS})")
    ap.add_argument("--keep", type=Path, help="keep every export and plan under this folder")
    ap.add_argument("--summary-only", action="store_true", help="tabulate --out, run nothing")
    ap.add_argument("--list", action="store_true", help="list the generators and exit")
    args = ap.parse_args(argv)

    cat = tg.catalogue()
    if args.list:
        for g in cat.values():
            print(f"{g.name:20s} {g.description}")
        return 0
    names = [s.strip() for s in args.generators.split(",")] if args.generators else (
        list(QUICK_GENERATORS) if args.quick else list(cat))
    unknown = [n for n in names if n not in cat]
    if unknown:
        raise SystemExit(f"--generators: unknown {unknown}; choose from {', '.join(cat)}")
    datasets = args.datasets or (QUICK_DATASETS if args.quick else DEFAULT_DATASETS)
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)
    opts = RunOptions(seed=args.seed, config=parse_config(args.config), reps=reps,
                      keep_dir=args.keep)
    args.out.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    summaries = run(names, datasets, opts, args.out, summary_only=args.summary_only)
    title = (f"Calibration benchmark: {datasets} data sets per generator, {reps} truth "
             f"replications, seed {args.seed}, model_config {config_key(opts.config)}")
    table = markdown_table(summaries, title)
    records = [r for r in read_records(args.out) if r.get("root_seed") == args.seed
               and r.get("config") == opts.config and r.get("reps") == reps]
    walls = [r["wall_seconds"] for r in records if r.get("generator") in names
             and r.get("dataset", datasets) < datasets and "wall_seconds" in r]
    if walls:
        table += (f"\nWall time per plan (fit, simulate, calibrate): mean {np.mean(walls):.1f} s,"
                  f" min {min(walls):.1f} s, max {max(walls):.1f} s over {len(walls)} fits.\n")
    print(table)
    print(f"(this invocation: {time.perf_counter() - t0:.0f} s)")
    table_path = args.table or args.out.with_suffix(".md")
    table_path.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
