"""``targetsim plan``: ingest → fit → simulate → calibrate → report, in one call.

:func:`run_plan` writes into ``out_dir`` everything DESIGN.md lists under "Outputs of
targetsim plan" (targets.csv, fit_summary.csv, diagnostics.json, fit.nc, projection.nc,
report.html, targets.xlsx) plus objectives.md, indicators.csv, allocation.csv, stress.csv,
tiers.csv (with ``tiers``), topdown.csv (with ``company_target``), quota_scores.csv and
quota_rollup.csv (with ``quotas``: :mod:`targetsim.calibrate.score`), expected_close.csv
(when open deals carry expected close dates) and plan.json (metadata: version, seed,
as_of, probability, scenarios, convergence, timings per step). The output folder is locked
for the run (a second run into it stops), and every file is first written into a hidden
staging folder and moved into place at the end: a run that fails or is interrupted leaves
the folder as it was (:mod:`targetsim.io`). A fit that did not converge still writes
everything; the result (and plan.json) says so, and the CLI exits with code 3.

:func:`run_calibrate` is the calibrate step alone, from a directory holding projection.nc
(and fit.nc for the top-down levers).

Draws
-----
``draws`` (``--draws``) is the number of posterior draws simulated (one simulated year each),
in every command that simulates (plan, demo, simulate, track). MCMC draws per chain are
``mcmc_draws`` (``--mcmc-draws``); by default MCMC runs
``chains`` chains of ``max(ceil(draws / chains), DEFAULT_DRAWS)`` draws after ``tune``
tuning steps (default ``DEFAULT_TUNE``; both in :mod:`targetsim.model.config`): the
convergence gate needs about a thousand draws per chain to judge R-hat on a few hundred
parameters, more than a plan simulates.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from targetsim.calibrate import Calibration, calibrate, write_calibration
from targetsim.calibrate.amounts import mark_projection, scope_projection
from targetsim.calibrate.targets import check_probability
from targetsim.errors import ConfigError, ConvergenceError, DataError
from targetsim.io import (
    output_folder,
    read_csv_output,
    staged_outputs,
    write_csv_atomic,
    write_text_atomic,
)

if TYPE_CHECKING:
    from targetsim.calibrate.score import Quotas
    from targetsim.data.adapters import ExportOptions
    from targetsim.data.funnel import FunnelData
    from targetsim.data.options import ReadOptions
    from targetsim.model.config import ModelConfig
    from targetsim.model.params import FunnelParams
    from targetsim.simulate.scenario import Scenario

#: Bundled scenarios ``targetsim demo`` runs.
DEMO_SCENARIOS = ("baseline", "growth", "tension")
#: Posterior draws the top-down levers re-simulate with (each lever costs ~8 simulations).
LEVER_DRAWS = 200


@dataclass(frozen=True)
class PlanResult:
    """What :func:`run_plan` (or :func:`run_calibrate`) produced.

    Attributes
    ----------
    out_dir : Path
    calibration : Calibration
    converged : bool
        The fit's convergence verdict (True when the fit was not run here and unknown).
    timings : dict of str to float
        Seconds per step (``ingest``, ``fit``, ``simulate``, ``calibrate``, ``report``).
    files : tuple of Path
        Files written.
    metadata : dict
        The content of plan.json.
    """

    out_dir: Path
    calibration: Calibration
    converged: bool
    timings: dict[str, float] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


def resolve_scenarios(scenarios: Sequence[Scenario | str | Path]) -> list[Scenario]:
    """Scenario objects from objects, file paths or bundled names (empty → baseline)."""
    from targetsim.simulate import Scenario, load_scenario

    out = [s if isinstance(s, Scenario) else load_scenario(s) for s in scenarios]
    return out or [Scenario.baseline()]


def _check_options(draws: int, months: int, company_target: float | None) -> None:
    from targetsim.simulate.budget import check_months

    if int(draws) < 10:
        raise ConfigError(f"--draws: need at least 10 posterior draws, got {draws}")
    check_months(months)
    if company_target is not None and (not math.isfinite(company_target) or company_target <= 0):
        raise ConfigError(f"--company-target: must be a positive amount, got {company_target}")


def solve_topdown(
    projection: xr.Dataset,
    params: FunnelParams,
    open_pipeline: Any,
    scenarios: Sequence[Scenario],
    company_target: float,
    probability: float,
    *,
    seed: int = 0,
    engine: str = "auto",
    lang: str = "en",
    simulate_kw: dict[str, Any] | None = None,
    progress: bool = False,
) -> list[dict[str, object]]:
    """Top-down rows for every scenario: probability now and the levers that lift it.

    Levers are re-simulated with at most :data:`LEVER_DRAWS` posterior draws; scenarios
    that already reach ``probability`` (on the full projection) need no change. With
    ``progress`` a bar counts the re-simulations (minutes on a large plan);
    ``simulate_kw`` goes to every re-simulation (``targetsim serve`` passes its progress
    callback).
    """
    from targetsim.calibrate.levers import max_simulations, solve_levers
    from targetsim.calibrate.topdown import company_probabilities, phrase
    from targetsim.progress import StepBar

    projection, unsized = scope_projection(projection)  # bookings of segments with amounts
    now = company_probabilities(projection, company_target)
    sub = params.first(LEVER_DRAWS)
    start = str(projection.attrs.get("horizon_start") or "") or None
    months = int(projection.sizes["month"])
    todo = [sc for sc in scenarios if now[sc.name] < probability]
    skipped: set[str] = set()
    if unsized:  # a re-simulation would count the made-up bookings of those segments
        skipped, todo = {sc.name for sc in todo}, []
    budget = [max_simulations(sc) for sc in todo]
    levers: dict[str, list[dict[str, object]]] = {}
    with StepBar("top-down levers", sum(budget), enabled=progress and bool(todo)) as bar:
        done = 0
        for sc, n in zip(todo, budget, strict=True):
            bar.describe(sc.name)

            def tick(lever: str, name: str = sc.name) -> None:
                bar.step(f"{name}, {lever.replace('_', ' ')}")

            eng = "auto" if (engine == "fast" and sc.capacity is not None) else engine
            levers[sc.name] = solve_levers(sub, open_pipeline, sc, company_target, probability,
                                           start=start, months=months, engine=eng,
                                           random_seed=seed, lang=lang, on_simulation=tick,
                                           simulate_kw=simulate_kw)
            done += n
            bar.complete_to(done)
    rows: list[dict[str, object]] = []
    for sc in scenarios:
        if sc.name not in levers and sc.name not in skipped:
            rows.append({
                "scenario": sc.name, "company_target": float(company_target),
                "attainment_probability": now[sc.name], "target_probability": probability,
                "lever": "none", "value": 1.0, "achieved_probability": now[sc.name],
                "change": phrase("none", lang),
            })
        if sc.name in skipped:
            rows.append({
                "scenario": sc.name, "company_target": float(company_target),
                "attainment_probability": now[sc.name], "target_probability": probability,
                "lever": "none", "value": float("nan"), "achieved_probability": now[sc.name],
                "change": phrase("unsized", lang).format(x=", ".join(unsized)),
            })
            continue
        for row in levers.get(sc.name, []):
            row["attainment_probability"] = now[sc.name]
            rows.append(row)
    return rows


def _write_report(out: Path, lang: str, progress: bool) -> tuple[list[Path], str | None]:
    try:
        from targetsim.report import write_report
    except ImportError as exc:  # the report step is optional at run time
        return [], f"report skipped: targetsim.report is not available ({exc})"
    return list(write_report(out, lang=lang, progress=progress)), None


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _write_plan_json(out: Path, meta: dict[str, Any]) -> Path:
    return write_text_atomic(out / "plan.json",
                             json.dumps(meta, indent=2, default=_json_default) + "\n")


def run_plan(
    data: str | Path | FunnelData,
    out_dir: str | Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    segment_col: str | None = None,
    stages: Sequence[str] = (),
    as_of: str | None = None,
    skip_invalid: bool = False,
    scenarios: Sequence[Scenario | str | Path] = (),
    probability: float = 0.6,
    tiers: tuple[float, float, float] | None = None,
    company_target: float | None = None,
    start: str | None = None,
    months: int = 12,
    draws: int = 400,
    mcmc_draws: int | None = None,
    tune: int | None = None,
    chains: int = 2,
    sampler: str = "nutpie",
    model_config: ModelConfig | dict[str, Any] | None = None,
    seed: int = 0,
    engine: str = "auto",
    workers: int | None = None,
    scheduler: str | None = None,
    lang: str = "en",
    currency: str = "USD",
    over_assignment: float = 1.0,
    teams: str | Path | None = None,
    priors: Any = None,
    report: bool = True,
    progress: bool = True,
    quotas: Quotas | None = None,
    options: ExportOptions | None = None,
    read: ReadOptions | None = None,
) -> PlanResult:
    """Run the whole pipeline and write the plan directory.

    Parameters
    ----------
    data : path or FunnelData
        CRM export (loaded with the loading options) or funnel facts already built.
    out_dir : path
        Output directory (created).
    fmt, mapping, segment_col, stages, as_of, skip_invalid, options
        Loading options of :func:`targetsim.data.load_funnel` (``options``: stage names,
        stage history, currencies, placeholder amounts).
    scenarios : sequence of Scenario, path or bundled name
        Default: the baseline of no change.
    probability : float
        Attainment probability of the targets.
    tiers : (floor, target, stretch) probabilities, optional
    company_target : float, optional
        The board's FY bookings number (top-down analysis, allocation of that number).
    start, months
        Horizon (default: the month after as_of, 12 months).
    draws, mcmc_draws, tune, chains, sampler
        Posterior draws simulated, and MCMC settings: draws per chain (default: see the
        module docstring), tuning steps, chains, sampler.
    model_config : ModelConfig or mapping, optional
        Priors and model components (a mapping is validated as a ``ModelConfig``);
        default ``ModelConfig()``.
    seed : int
        Root seed of the fit, the draw selection and the simulation.
    engine, workers, scheduler
        Simulation engine and parallelism (:func:`targetsim.simulate.simulate`).
    lang : {"en", "fr"}
    currency : str
        ISO 4217 code of the data's amounts (``USD``, ``EUR``...).
    over_assignment : float
        Sum of rep quotas ÷ company number (1.0: they add up; 1.1 is common practice).
    teams : path, optional
        Teams file (``owner, manager, region``), copied to ``teams.csv`` for the quota sheet.
    priors : ModelConfig or path, optional
        Priors of the model (``--priors FILE.yaml``); default the shipped ones.
    report : bool
        Write report.html and targets.xlsx (skipped with a note if unavailable).
    progress : bool
    quotas : Quotas, optional
        Proposed or existing quotas (``--quotas``, :func:`targetsim.calibrate.score.read_quotas`):
        checked against the data's segments, owners and the horizon before the fit, scored
        after calibration (quota_scores.csv, quota_rollup.csv, a section of the report and a
        sheet of targets.xlsx).
    read : ReadOptions, optional
        How the export writes dates and amounts, which Excel sheet (with a path ``data``).

    Returns
    -------
    PlanResult
    """
    from targetsim import __version__
    from targetsim.formatting import check_currency
    from targetsim.model import ModelConfig, fit_funnel, write_fit_outputs
    from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE
    from targetsim.simulate import save_projection, simulate
    from targetsim.simulate.budget import check_history

    if model_config is None and priors is not None:
        model_config = priors
    if model_config is not None and not isinstance(model_config, ModelConfig):
        model_config = ModelConfig.from_dict(dict(model_config))

    p = check_probability(probability)
    _check_options(draws, months, company_target)
    currency = check_currency(currency)
    scenario_objs = resolve_scenarios(scenarios)
    team_frame = None
    if teams is not None:
        from targetsim.data.teams import read_teams

        team_frame = read_teams(teams)
    # Locked for the run; files go to a staging folder and into `out` only at the end.
    with output_folder(out_dir) as out, staged_outputs(out, commit_on=(ConvergenceError,)) as stage:
        timings: dict[str, float] = {}

        t0 = time.perf_counter()
        if isinstance(data, str | Path):
            from targetsim.data import load_funnel

            funnel = load_funnel(data, fmt=fmt, mapping=mapping, segment_col=segment_col,
                                 stages=tuple(stages), as_of=as_of, skip_invalid=skip_invalid,
                                 options=options, read=read)
            source = str(data)
        else:
            funnel, source = data, getattr(data, "source", "<memory>")
        if funnel.deals.empty:
            raise DataError(f"{source}: no opportunities to plan from")
        if company_target is not None and not (
            funnel.deals["outcome"].eq("won") & funnel.deals["amount"].gt(0)
        ).any():
            raise ConfigError(
                "--company-target is a bookings number, but no won deal of the data has a "
                "positive amount: only deals-won targets can be set"
            )
        if quotas is not None:
            quotas = _check_quotas_early(quotas, funnel, scenario_objs, start, months)
        has_cap = any(sc.capacity is not None for sc in scenario_objs)
        # Refused now rather than after minutes of fitting (simulate checks again, exactly).
        check_history(funnel, draws, scenario_objs, months,
                      ("des" if has_cap else "fast") if engine == "auto" else engine)
        timings["ingest"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        per_chain = (int(mcmc_draws) if mcmc_draws is not None
                     else max(int(math.ceil(draws / chains)), DEFAULT_DRAWS))
        if per_chain * chains < draws:
            raise ConfigError(f"--mcmc-draws {per_chain} x --chains {chains} gives fewer "
                              f"posterior draws than --draws {draws} simulates")
        n_tune = tune if tune is not None else DEFAULT_TUNE
        fit = fit_funnel(funnel, model_config, draws=per_chain, tune=n_tune, chains=chains,
                         sampler=sampler, random_seed=seed, progress=progress)
        written = write_fit_outputs(fit, stage)
        files = list(written.values() if isinstance(written, dict) else written)
        converged = bool(fit.diagnostics.converged)
        timings["fit"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        params = fit.params(draws, random_seed=seed)
        _check_arrivals(params, months, converged, out)
        projection = simulate(params, fit.open_pipeline, scenario_objs, start=start,
                              months=months, engine=engine, random_seed=seed, workers=workers,
                              scheduler=scheduler, progress=progress)
        projection = mark_projection(projection, fit)  # segments without amounts, for calibrate
        files.append(save_projection(projection, stage / "projection.nc"))
        timings["simulate"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        rows = None
        if company_target is not None:
            rows = solve_topdown(projection, params, fit.open_pipeline, scenario_objs,
                                 float(company_target), p, seed=seed, engine=engine, lang=lang,
                                 progress=progress)
        last_year = _last_year(funnel, stage)
        cal = calibrate(projection, probability=p, tiers=tiers, company_target=company_target,
                        topdown_rows=rows, lang=lang, currency=currency,
                        over_assignment=over_assignment, last_year=last_year)
        files += write_calibration(cal, stage)
        files += _write_expected_close(funnel, stage)
        if quotas is not None:
            from targetsim.calibrate.score import DEFAULT_TIERS, score_quotas, write_scores

            scores = score_quotas(projection, quotas, tiers=tiers or DEFAULT_TIERS,
                                  targets=cal.targets, company_target=company_target,
                                  lang=lang)
            files += write_scores(scores, stage)
        if team_frame is not None:
            files.append(_write_teams(team_frame, stage))
        timings["calibrate"] = time.perf_counter() - t0

        meta: dict[str, Any] = {
            "targetsim_version": __version__,
            "data": source,
            "seed": int(seed),
            "as_of": str(funnel.as_of.date()),
            "horizon_start": str(projection.attrs.get("horizon_start", "")),
            "months": int(projection.sizes["month"]),
            "probability": p,
            "tiers": list(tiers) if tiers is not None else None,
            "company_target": company_target,
            "scenarios": [sc.name for sc in scenario_objs],
            "reference_scenario": cal.reference,
            "segments": list(funnel.segments),
            "owners": len(funnel.owners),
            "draws": int(draws),
            "chains": int(chains),
            "tune": int(n_tune),
            "engine": str(projection.attrs.get("engine", engine)),
            "lang": lang,
            "currency": currency,
            "over_assignment": float(over_assignment),
            "teams": str(teams) if teams is not None else None,
            "sampler": sampler,
            "converged": converged,
            "diagnostics": _diagnostics_dict(fit),
            "warnings": list(funnel.warnings),
            "notes": [*fit.notes, *cal.notes],
            "quotas": quotas.source if quotas is not None else None,
            "allocation": [a.to_dict() for a in cal.allocation_summary],
            "company_probability": cal.company_probability,
            "timings_seconds": {},
        }
        # plan.json first, so the report can read it; rewritten with the report's timing.
        _write_plan_json(stage, meta | {"timings_seconds": _rounded(timings)})
        t0 = time.perf_counter()
        note = None
        if report:
            written, note = _write_report(stage, lang, progress)
            files += written
        timings["report"] = time.perf_counter() - t0
        timings["total"] = sum(v for k, v in timings.items() if k != "total")
        meta["timings_seconds"] = _rounded(timings)
        if note:
            meta["notes"] = [*meta["notes"], note]
        files.append(_write_plan_json(stage, meta))
    return PlanResult(out_dir=out, calibration=cal, converged=converged, timings=timings,
                      files=tuple(out / f.name for f in files), metadata=meta)


def _check_quotas_early(
    quotas: Quotas, funnel: FunnelData, scenarios: Sequence[Scenario], start: str | None,
    months: int,
) -> Quotas:
    """Quota names, periods and scenarios checked against the data before the fit."""
    from targetsim.calibrate.periods import periods_of_months
    from targetsim.calibrate.score import check_quotas
    from targetsim.simulate.timeline import make_timeline

    horizon = make_timeline(funnel.as_of, start, months).month_starts
    return check_quotas(
        quotas, names={"segment": funnel.segments, "owner": funnel.owners},
        periods=list(periods_of_months(horizon)), scenarios=[sc.name for sc in scenarios],
    )


def _write_expected_close(funnel: FunnelData, out: Path) -> list[Path]:
    """expected_close.csv: open deals by the quarter their reps expect (a leading signal)."""
    from targetsim.data.adapters import expected_close_signal

    table = expected_close_signal(funnel.open_pipeline, funnel.as_of)
    if table is None:
        return []
    return [write_csv_atomic(table, out / "expected_close.csv", float_format="%.10g")]


#: Monthly arrivals per segment above which a posterior draw is not a plausible funnel.
MAX_MONTHLY_ARRIVALS = 1e6


def _check_arrivals(params: FunnelParams, months: int, converged: bool, out: Path) -> None:
    """Refuse to simulate draws whose arrival rate explodes over the horizon.

    An unconverged chain can wander to a trend that implies billions of opportunities a
    month; simulating it would exhaust memory. The fit outputs are already written.
    """
    from targetsim.errors import ConvergenceError

    last = min(months + 18, params.arrivals.last_month)
    log_rate = params.arrivals.log_mean(np.arange(1, last + 1))
    worst = float(np.exp(np.max(log_rate)))
    if not np.isfinite(worst) or worst > MAX_MONTHLY_ARRIVALS:
        state = "did not converge" if not converged else "converged"
        raise ConvergenceError(
            f"the fit {state} but some posterior draws imply {worst:.3g} new opportunities a "
            f"month in a segment; not simulating them (see {out / 'diagnostics.json'}); "
            "rerun with more --draws or check the data's creation dates"
        )


def _last_year(funnel: FunnelData, out: Path) -> Any:
    """Last year's actuals from the data (fit_summary.csv names the drivers of a flag)."""
    from targetsim.calibrate.context import LastYear

    fs_path = out / "fit_summary.csv"
    fs = None
    if fs_path.is_file():
        fs = read_csv_output(fs_path, dtype={"segment": str, "stage": str},
                             keep_default_na=False, na_values=[""])
        fs["stage"] = fs["stage"].fillna("")
    return LastYear.from_deals(funnel.deals, funnel.as_of, fs)


def _write_teams(teams: Any, out: Path) -> Path:
    return write_csv_atomic(teams, out / "teams.csv")


def _rounded(timings: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 2) for k, v in timings.items()}


def _diagnostics_dict(fit: Any) -> dict[str, Any]:
    d = fit.diagnostics
    keys = ("rhat_max", "ess_bulk_min", "divergences", "converged")
    return {k: getattr(d, k) for k in keys if hasattr(d, k)}


def run_calibrate(
    plan_dir: str | Path,
    *,
    probability: float = 0.6,
    tiers: tuple[float, float, float] | None = None,
    company_target: float | None = None,
    lang: str = "en",
    currency: str = "USD",
    over_assignment: float = 1.0,
    seed: int = 0,
    report: bool = False,
    progress: bool = True,
) -> PlanResult:
    """The calibrate step alone, from ``plan_dir/projection.nc`` (and ``fit.nc``).

    The top-down levers (with ``company_target``) re-simulate from ``fit.nc`` with the
    projection's scenarios and horizon; without ``fit.nc`` only the probabilities of the
    company target are reported.
    """
    from targetsim.simulate import Scenario, load_projection

    p = check_probability(probability)
    out = Path(plan_dir)
    path = out / "projection.nc"
    if not path.exists():
        raise DataError(f"{path}: no projection here; run `targetsim simulate {out}` first")
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    with output_folder(out, "DIR"):  # one run at a time writes into a plan folder
        projection = load_projection(path)
        rows = None
        if company_target is not None:
            _check_options(10, 1, company_target)
            fit_path = out / "fit.nc"
            raw = projection.attrs.get("scenarios_json")
            if fit_path.exists() and raw:
                from targetsim.model import FunnelFit

                fit = FunnelFit.load(fit_path)
                loaded = json.loads(raw) if isinstance(raw, str) else raw
                scenarios = [Scenario.model_validate(s) for s in loaded]
                params = fit.params(min(int(projection.sizes["draw"]), LEVER_DRAWS),
                                    random_seed=seed)
                rows = solve_topdown(projection, params, fit.open_pipeline, scenarios,
                                     float(company_target), p, seed=seed, lang=lang,
                                     progress=progress)
        from targetsim.calibrate.context import LastYear

        as_of = projection.attrs.get("as_of") or _plan_json(out).get("as_of")
        last_year = LastYear.from_plan_dir(out, as_of) if as_of else None
        cal = calibrate(projection, probability=p, tiers=tiers, company_target=company_target,
                        topdown_rows=rows, lang=lang, currency=currency,
                        over_assignment=over_assignment, last_year=last_year)
        with staged_outputs(out) as stage:  # all the calibration files, or none
            files = [out / f.name for f in write_calibration(cal, stage)]
        timings["calibrate"] = time.perf_counter() - t0
        if report:
            written, _ = _write_report(out, lang, progress)
            files += written
    return PlanResult(out_dir=out, calibration=cal, converged=True, timings=timings,
                      files=tuple(files), metadata={})


def _plan_json(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
