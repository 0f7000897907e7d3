"""One what-if: re-simulate, then everything the page shows, from the existing steps.

* :func:`simulate_assumptions` runs :func:`targetsim.simulate.simulate` on the plan's
  draws, seed and horizon (``auto`` engine: SimPy when the scenario has capacity);
* :func:`build_view` reads the projection with the calibrate step's functions:
  ``compute_targets`` (company, segment and rep targets with probability and band),
  ``company_probabilities`` (the board's number) and ``allocate`` (per-rep quotas that add
  up to the company number at one common probability), beside last year's bookings;
* :func:`solve_board_levers` is ``targetsim plan --company-target``'s lever search
  (:func:`targetsim.plan.solve_topdown`);
* :func:`write_plan_dir` writes a plan directory for the assumptions on screen with
  ``calibrate``/``write_calibration`` and ``write_report``.

Every number is computed here, never in the browser, which only formats and draws.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.calibrate import FY, allocate, company_probabilities, compute_targets
from targetsim.io import atomic_path, write_text_atomic
from targetsim.serve.assumptions import Assumptions
from targetsim.serve.context import PlanContext

ProgressFn = Callable[[int, int], None]


def simulate_assumptions(
    ctx: PlanContext, a: Assumptions, on_progress: ProgressFn | None = None
) -> xr.Dataset:
    """The projection of the assumptions' scenario (the plan's draws, seed and horizon).

    Like the plan's, it lists the segments without won amounts (deals-won targets only).
    """
    from targetsim.calibrate.amounts import ATTR
    from targetsim.simulate import simulate

    ds = simulate(ctx.params, ctx.open_pipeline, [a.scenario], start=ctx.start,
                  months=ctx.months, engine="auto", random_seed=ctx.seed, progress=False,
                  on_progress=on_progress)
    ds.attrs[ATTR] = json.dumps(list(ctx.segments_without_amounts))
    return ds


def json_safe(obj: Any) -> Any:
    """``obj`` with every NaN or infinite number replaced by None (JSON has neither)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def _growth(value: float, last: float | None) -> float | None:
    if last is None or last <= 0:
        return None
    return value / last - 1.0


def _row(r: Any, last: float | None) -> dict[str, Any]:
    return {
        "name": str(r.name), "period": str(r.period), "metric": str(r.metric),
        "target": float(r.target), "probability": float(r.attainment_probability),
        "p10": float(r.p10), "p50": float(r.p50), "p90": float(r.p90),
        "last_year": last, "growth": _growth(float(r.target), last),
    }


def _fan(ds: xr.Dataset, scenario: str) -> dict[str, Any]:
    """Quantiles of cumulative bookings per month: the company and each segment."""
    da = ds["bookings"].sel(scenario=scenario).transpose("draw", "segment", "month")
    x = np.asarray(da.values, dtype=float)
    cum_seg = np.cumsum(x, axis=2)
    cum_total = np.cumsum(x.sum(axis=1), axis=1)

    def band(c: np.ndarray) -> dict[str, list[float]]:
        q = np.quantile(c, [0.1, 0.5, 0.9], axis=0)
        return {"p10": q[0].tolist(), "p50": q[1].tolist(), "p90": q[2].tolist()}

    months = pd.DatetimeIndex(ds["month"].values)
    return {
        "months": [m.strftime("%Y-%m") for m in months],
        "total": band(cum_total),
        "segments": {str(s): band(cum_seg[:, i, :]) for i, s in enumerate(ds["segment"].values)},
    }


def build_view(ctx: PlanContext, a: Assumptions, ds: xr.Dataset) -> dict[str, Any]:
    """Everything the page shows for one what-if, as JSON-ready numbers and names.

    Returns
    -------
    dict
        ``company`` (FY bookings and deals won, quarters), ``segments`` (FY bookings),
        ``quotas`` (per rep), ``board`` (the board's number and its probability),
        ``fan`` (cumulative bookings bands), ``last_year``, ``engine``, ``draws``,
        ``seed``, ``probability``, ``scenario`` and the scenario file's ``yaml``.
    """
    name = a.scenario.name
    p = a.probability
    t = compute_targets(ds, p)
    t = t.loc[t["scenario"].eq(name)]
    total = t.loc[t["level"].eq("total")]
    company = {
        "bookings": _row(next(total.loc[total["period"].eq(FY) & total["metric"].eq(
            "bookings")].itertuples()), ctx.last_year_of("total", "total")),
        "deals_won": _row(next(total.loc[total["period"].eq(FY) & total["metric"].eq(
            "deals_won")].itertuples()), None),
        "quarters": [_row(r, None) for r in total.loc[
            total["period"].ne(FY) & total["metric"].eq("bookings")].itertuples()],
    }
    seg = t.loc[t["level"].eq("segment") & t["period"].eq(FY) & t["metric"].eq("bookings")]
    segments = [_row(r, ctx.last_year_of("segment", str(r.name))) for r in seg.itertuples()]

    board = None
    if a.company_target is not None:
        prob = company_probabilities(ds, a.company_target)[name]
        board = {"target": a.company_target, "probability": prob, "desired": p,
                 "reached": bool(prob >= p)}

    quotas = _quotas(ctx, t, ds, a)
    return json_safe({
        "scenario": name,
        "engine": str(ds.attrs.get("engine", "")),
        "draws": int(ds.sizes["draw"]),
        "seed": int(ds.attrs.get("seed", ctx.seed)),
        "probability": p,
        "company": company,
        "segments": segments,
        "board": board,
        "quotas": quotas,
        "fan": _fan(ds, name),
        "last_year": {"total": ctx.last_year_of("total", "total"),
                      "segments": {s: ctx.last_year_of("segment", s) for s in ctx.segments}},
        "capacity": a.scenario.capacity is not None,
        "yaml": a.yaml_text,
    })


def _quotas(ctx: PlanContext, t: pd.DataFrame, ds: xr.Dataset, a: Assumptions
            ) -> dict[str, Any] | None:
    """Per-rep quotas: the company number split at one common probability."""
    if "owner" not in ds.dims or ds.sizes["owner"] == 0:
        return None
    alloc, summaries = allocate(ds, a.probability, a.company_target)
    own = alloc.loc[alloc["level"].eq("owner") & alloc["scenario"].eq(a.scenario.name)]
    bands = t.loc[t["level"].eq("owner") & t["period"].eq(FY) & t["metric"].eq("bookings")]
    band = {str(n): (float(lo), float(hi)) for n, lo, hi in
            zip(bands["name"], bands["p10"], bands["p90"], strict=True)}
    summary = next((s for s in summaries if s.level == "owner"
                    and s.scenario == a.scenario.name), None)
    rows = []
    for r in own.itertuples():
        last = ctx.last_year_of("owner", str(r.name))
        lo, hi = band.get(str(r.name), (math.nan, math.nan))
        rows.append({
            "name": str(r.name), "quota": float(r.target),
            "probability": float(r.attainment_probability), "p10": lo, "p90": hi,
            "share": float(r.share_of_company_target), "last_year": last,
            "growth": _growth(float(r.target), last),
        })
    return {
        "company_target": float(summary.company_target) if summary else None,
        "common_probability": float(summary.common_probability) if summary else None,
        "expected_share_reaching": float(summary.expected_share_reaching) if summary else None,
        "rows": rows,
    }


def solve_board_levers(
    ctx: PlanContext, a: Assumptions, ds: xr.Dataset, on_progress: ProgressFn | None = None
) -> list[dict[str, Any]]:
    """The smallest lead-volume, win-rate and hiring changes that lift the board's number to
    the page's probability, as ``targetsim plan --company-target`` finds them (rows of
    topdown.csv; see :func:`lever_view` for the page's).

    Hires are searched only in a capacity scenario (without a capacity limit, headcount
    does not bind); each lever re-simulates at most ``LEVER_DRAWS`` draws.
    """
    from targetsim.plan import solve_topdown

    if a.company_target is None:
        return []
    return solve_topdown(ds, ctx.params, ctx.open_pipeline, [a.scenario], a.company_target,
                         a.probability, seed=ctx.seed, engine="auto", lang=ctx.lang,
                         simulate_kw={"on_progress": on_progress})


def lever_view(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """topdown.csv rows as the page shows them: lever, value, probability reached, change."""
    out = []
    for r in rows:
        value = r["value"]
        out.append({
            "lever": str(r["lever"]),
            "value": None if value is None or not math.isfinite(float(value)) else float(value),
            "achieved_probability": float(r["achieved_probability"]),
            "change": str(r["change"]),
        })
    return json_safe(out)


def _copy(src: Path, dst: Path) -> Path:
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def write_plan_dir(
    ctx: PlanContext,
    a: Assumptions,
    ds: xr.Dataset,
    out_dir: Path,
    *,
    lever_rows: list[dict[str, Any]] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write a plan directory for the assumptions on screen.

    The fit files (``fit.nc``, ``fit_summary.csv``, ``diagnostics.json``) are copied from
    the plan; ``projection.nc`` is the what-if's; ``targets.csv`` and the other
    calibration files come from :func:`targetsim.calibrate.calibrate`, ``report.html`` and
    ``targets.xlsx`` from :func:`targetsim.report.write_report`; ``scenario.yaml`` is the
    scenario file and ``plan.json`` the plan's, updated.

    Parameters
    ----------
    lever_rows : list of dict, optional
        topdown.csv rows already solved (else solved here when there is a board's number).
    on_stage : callable, optional
        Called with the name of each step.
    """
    from targetsim.calibrate import calibrate, write_calibration
    from targetsim.errors import DataError
    from targetsim.plan import solve_topdown
    from targetsim.report import write_report
    from targetsim.simulate import save_projection

    def stage(text: str) -> None:
        if on_stage is not None:
            on_stage(text)

    if ctx.plan_dir is None:
        raise DataError("no plan directory to copy the fit from")
    t0 = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stage("copying the fit")
    files = [_copy(ctx.plan_dir / f, out / f)
             for f in ("fit.nc", "fit_summary.csv", "diagnostics.json")
             if (ctx.plan_dir / f).is_file()]
    stage("writing projection.nc")
    files.append(save_projection(ds, out / "projection.nc"))
    rows = lever_rows
    if a.company_target is not None and rows is None:
        stage("solving the levers")
        rows = solve_topdown(ds, ctx.params, ctx.open_pipeline, [a.scenario],
                             a.company_target, a.probability, seed=ctx.seed, engine="auto",
                             lang=ctx.lang)
    stage("calibrating")
    cal = calibrate(ds, probability=a.probability, company_target=a.company_target,
                    topdown_rows=rows or None, lang=ctx.lang, currency=ctx.currency)
    files += write_calibration(cal, out)
    files.append(write_text_atomic(out / "scenario.yaml", a.yaml_text))
    meta: dict[str, Any] = {}
    src_meta = ctx.plan_dir / "plan.json"
    if src_meta.is_file():
        try:
            meta = json.loads(src_meta.read_text(encoding="utf-8"))
        except ValueError:
            meta = {}
    meta.update({
        "seed": ctx.seed, "draws": ctx.draws, "probability": a.probability,
        "company_target": a.company_target, "tiers": None,
        "horizon_start": str(ds.attrs.get("horizon_start", ctx.start)),
        "months": int(ds.sizes["month"]), "scenarios": [a.scenario.name],
        "reference_scenario": cal.reference, "engine": str(ds.attrs.get("engine", "")),
        "lang": ctx.lang, "currency": ctx.currency,
        "allocation": [s.to_dict() for s in cal.allocation_summary],
        "company_probability": cal.company_probability,
        "whatif": {"source_plan": str(ctx.plan_dir), "scenario_file": "scenario.yaml",
                   "written_by": "targetsim serve"},
    })
    write_text_atomic(out / "plan.json", json.dumps(meta, indent=2, default=str) + "\n")
    stage("writing report.html and targets.xlsx")
    files += write_report(out, lang=ctx.lang, progress=False)
    meta["timings_seconds"] = {"serve_write": round(time.perf_counter() - t0, 2)}
    files.append(write_text_atomic(out / "plan.json",
                                   json.dumps(meta, indent=2, default=str) + "\n"))
    return files
