"""Tracking a plan during the year: probability of each target given what is already booked.

For each target of the plan, the outcome of its period is

    booked to date (won amounts / wins closed in the period up to today)
    + simulated rest of the period,

where the rest comes from the plan's posterior and **today's** open pipeline (the deals
open in the fresh export, at their current age), simulated from the first day after today.
The probability of reaching the target is the fraction of simulations whose outcome reaches
it. A period already over is decided (probability 0 or 1); one not started yet is simulated
whole, but from today's pipeline.

Calendar: the simulator counts whole calendar months, so "today" is the last complete
month end of the fresh export (the export is rewound to it with
:func:`~targetsim.track.cutoff.as_of_cutoff`; a note says so). The arrival clock of the
posterior (trend) is re-based on that date. Scenario multipliers of the plan are applied
to the rest of the year; capacity limits are not (their hires and ramps are dated from the
plan's start and are not re-run mid-year).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.data.funnel import Opportunities, build_funnel
from targetsim.errors import DataError
from targetsim.io import read_csv_output
from targetsim.model.params import FunnelParams
from targetsim.track.cutoff import as_of_cutoff
from targetsim.track.warnings import (
    EarlyWarning,
    aging_expected_days,
    cohort_probabilities,
    conversion_check,
    coverage_check,
    cycle_check,
    inflow_check,
    warnings_frame,
)

TRACK_COLUMNS = [
    "scenario", "level", "name", "period", "metric", "target", "period_start", "period_end",
    "status", "booked_to_date", "attainment_to_date", "gap", "plan_probability",
    "probability_now", "p10", "p50", "p90",
]


@dataclass(frozen=True)
class TrackResult:
    """What ``targetsim track`` reports.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per target of the plan, columns :data:`TRACK_COLUMNS`.
    warnings : pandas.DataFrame
        Every check and segment (:data:`~targetsim.track.warnings.WARNING_COLUMNS`).
    as_of : pandas.Timestamp
        The tracking date (last complete month end of the fresh export).
    plan_as_of : pandas.Timestamp
        The as-of date of the data the plan was fitted on.
    notes : tuple of str
        The same notes in English, for the console.
    note_keys : tuple of (str, dict)
        The notes as keys and values, for track.html in the reader's language
        (``month_end`` with ``as_of`` and ``export``; ``no_indicators``).
    """

    table: pd.DataFrame
    warnings: pd.DataFrame
    as_of: pd.Timestamp
    plan_as_of: pd.Timestamp
    notes: tuple[str, ...] = ()
    note_keys: tuple[tuple[str, dict[str, str]], ...] = ()


def to_month_end(opps: Opportunities) -> tuple[Opportunities, tuple[str, ...]]:
    """Rewind an export to its last complete month end (itself if it is one)."""
    as_of = pd.Timestamp(opps.as_of).normalize()
    end = as_of + pd.offsets.MonthEnd(0)
    if end == as_of:
        return opps, ()
    prev = as_of - pd.offsets.MonthEnd(1)
    note = (
        f"tracking as of {prev.date()}, the last complete month before the export's as-of "
        f"date {as_of.date()} (the simulation counts whole months)"
    )
    return as_of_cutoff(opps, prev), (note,)


def rebase_params(params: FunnelParams, as_of: pd.Timestamp) -> FunnelParams:
    """The posterior with its arrival clock moved to ``as_of`` (same expected arrivals).

    Month ``m`` of the old clock is ``m - k`` of the new one (``k`` months later): the
    arrival paths are read from month ``k`` on.
    """
    old = pd.Timestamp(params.as_of).to_period("M")
    k = (pd.Timestamp(as_of).to_period("M") - old).n
    return replace(
        params, arrivals=params.arrivals.rebase(k), as_of=str(pd.Timestamp(as_of).date())
    )


def _period_bounds(period: str, months: pd.DatetimeIndex) -> tuple[pd.Timestamp, pd.Timestamp]:
    if period == "FY":
        return months[0], months[-1] + pd.offsets.MonthEnd(0)
    try:
        q = pd.Period(period.replace("-", ""), freq="Q")
    except (ValueError, TypeError):
        raise DataError(
            f"targets.csv: unknown period {period!r} (expected FY or YYYY-Qn)"
        ) from None
    start = max(q.start_time.normalize(), months[0])
    end = min(q.end_time.normalize(), months[-1] + pd.offsets.MonthEnd(0))
    return start, end


def _booked(opps: Opportunities, start, end) -> dict[tuple[str, str, str], float]:  # noqa: ANN001
    """Won amount and count in ``[start, end]`` per (level, name, metric)."""
    t = opps.table
    won = t.loc[t["outcome"].eq("won") & (t["closed_at"] >= start) & (t["closed_at"] <= end)]
    out: dict[tuple[str, str, str], float] = {
        ("total", "total", "bookings"): float(won["amount"].sum()),
        ("total", "total", "deals_won"): float(len(won)),
    }
    for level, col in (("segment", "segment"), ("owner", "owner")):
        if col not in won:
            continue
        g = won.groupby(won[col].dropna().astype(str))
        for name, v in g["amount"].sum().items():
            out[(level, str(name), "bookings")] = float(v)
        for name, v in g.size().items():
            out[(level, str(name), "deals_won")] = float(v)
    return out


def _scenarios_of(projection: xr.Dataset | None, names: list[str]):  # noqa: ANN202
    """The plan's scenarios from the projection attributes, without horizon and capacity."""
    from targetsim.simulate import Scenario

    found = {}
    if projection is not None and "scenarios_json" in projection.attrs:
        for d in json.loads(projection.attrs["scenarios_json"]):
            sc = Scenario.model_validate(d)
            found[sc.name] = sc.model_copy(update={"horizon": None, "capacity": None})
    out = []
    for name in names:
        sc = found.get(name)
        if sc is None:
            sc = Scenario.baseline().model_copy(update={"name": name})
        out.append(sc)
    return out


def check_export(opps_now: Opportunities, params: FunnelParams, plan_as_of: pd.Timestamp) -> None:
    """Raise :class:`DataError` when the fresh export cannot be tracked against the plan."""
    now = pd.Timestamp(opps_now.as_of).normalize()
    if now < plan_as_of:
        raise DataError(
            f"{opps_now.source}: as-of date {now.date()} is before the plan's as-of date "
            f"{plan_as_of.date()}: tracking needs an export at least as recent as the plan's"
        )
    segs = set(opps_now.table["segment"].astype(str))
    unknown = sorted(segs - set(params.segments))
    if unknown:
        raise DataError(
            f"{opps_now.source}: segment(s) {', '.join(unknown)} are not in the plan "
            f"(plan segments: {', '.join(params.segments)}); use the same --segment-col as "
            "the plan, or map the new segments"
        )


def track_targets(
    params: FunnelParams,
    targets: pd.DataFrame,
    opps_now: Opportunities,
    *,
    horizon_start: str | pd.Timestamp,
    horizon_months: int,
    scenarios: list | None = None,
    random_seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Probability of each target given the bookings so far and today's pipeline.

    Parameters
    ----------
    params : FunnelParams
        The plan's posterior draws (``params.as_of`` is the plan's as-of date).
    targets : pandas.DataFrame
        ``targets.csv`` of the plan.
    opps_now : Opportunities
        The fresh export, its as-of date a month end on or after the plan's.
    horizon_start, horizon_months
        The plan's horizon (first month and number of months).
    scenarios : list of Scenario, optional
        One per scenario name of ``targets`` (default: baselines named like them).
    random_seed : int
    on_step : callable, optional
        Called with the name of the next step when the simulation is done (a progress bar).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`TRACK_COLUMNS`, one row per target. ``target`` is the number handed
        out (``quota`` when targets.csv has it: the one the report and the quota sheet show)
        and ``plan_probability`` its probability at planning time.
    """
    from targetsim.simulate import simulate

    now = pd.Timestamp(opps_now.as_of).normalize()
    if now != now + pd.offsets.MonthEnd(0):
        raise DataError(f"tracking date {now.date()} must be a month end (see to_month_end)")
    plan_as_of = pd.Timestamp(params.as_of).normalize()
    check_export(opps_now, params, plan_as_of)
    months = pd.date_range(pd.Timestamp(horizon_start), periods=horizon_months, freq="MS")
    horizon_end = months[-1] + pd.offsets.MonthEnd(0)
    names = [str(s) for s in dict.fromkeys(targets["scenario"].astype(str))]
    scenarios = scenarios if scenarios is not None else _scenarios_of(None, names)

    # Simulate the rest of the horizon from today, if any is left.
    first = max(now + pd.Timedelta(days=1), months[0])
    rest = None
    if first <= horizon_end:
        n_rest = (horizon_end.to_period("M") - first.to_period("M")).n + 1
        pipeline = build_funnel(opps_now).open_pipeline
        rest = simulate(
            rebase_params(params, now), pipeline, scenarios, start=str(first.date()),
            months=n_rest, engine="fast", random_seed=random_seed, progress=False,
        )
    if on_step is not None:
        on_step("bookings to date")
    rows = []
    booked_cache: dict[tuple[pd.Timestamp, pd.Timestamp], dict] = {}
    for r in targets.itertuples(index=False):
        start, end = _period_bounds(str(r.period), months)
        key = (start, min(end, now))
        if key not in booked_cache:
            booked_cache[key] = _booked(opps_now, *key) if start <= now else {}
        booked = booked_cache[key].get((str(r.level), str(r.name), str(r.metric)), 0.0)
        target, plan_p = _handed_out(r)
        if end <= now:
            status, outcome = "closed", np.array([booked])
        else:
            status = "in progress" if start <= now else "not started"
            outcome = booked + _simulated(rest, str(r.scenario), str(r.level), str(r.name),
                                          str(r.metric), max(start, first), end)
        p10, p50, p90 = np.quantile(outcome, [0.1, 0.5, 0.9])
        rows.append(
            {
                "scenario": r.scenario, "level": r.level, "name": r.name, "period": r.period,
                "metric": r.metric, "target": target, "period_start": start.date().isoformat(),
                "period_end": end.date().isoformat(), "status": status,
                "booked_to_date": booked,
                "attainment_to_date": booked / target if target > 0 else np.nan,
                "gap": max(target - booked, 0.0),
                "plan_probability": plan_p,
                "probability_now": float(np.mean(outcome >= target)),
                "p10": float(p10), "p50": float(p50), "p90": float(p90),
            }
        )
    return pd.DataFrame(rows, columns=TRACK_COLUMNS)


def _handed_out(r: object) -> tuple[float, float]:
    """A targets.csv row's number handed out and its planned probability: the quota when
    the row has one (quotas add up; the documents show them), else the target."""
    quota = float(getattr(r, "quota", np.nan))
    if np.isfinite(quota):
        return quota, float(getattr(r, "quota_probability", np.nan))
    return float(r.target), float(getattr(r, "attainment_probability", np.nan))  # type: ignore[attr-defined]


def _simulated(
    rest: xr.Dataset | None, scenario: str, level: str, name: str, metric: str,
    start: pd.Timestamp, end: pd.Timestamp,
) -> np.ndarray:
    """Simulated total of ``metric`` in months ``[start, end]`` per draw."""
    if rest is None:
        return np.zeros(1)
    month = pd.DatetimeIndex(rest["month"].values)
    sel = (month >= start.to_period("M").start_time) & (month <= end)
    sub = rest.sel(scenario=scenario).isel(month=np.flatnonzero(sel))
    if level == "owner":
        var = "owner_bookings" if metric == "bookings" else "owner_deals_won"
        if var not in sub or name not in sub["owner"].values:
            return np.zeros(sub.sizes["draw"])
        return np.asarray(sub[var].sel(owner=name).sum("month").values, dtype=float)
    da = sub[metric].sum("month")
    if level == "segment":
        if name not in da["segment"].values:
            raise DataError(f"targets.csv: segment {name!r} is not in the plan's fit")
        da = da.sel(segment=name)
    else:
        da = da.sum("segment")
    return np.asarray(da.values, dtype=float)


def early_warnings(
    params: FunnelParams,
    opps_now: Opportunities,
    *,
    indicators: pd.DataFrame | None = None,
    targets: pd.DataFrame | None = None,
    projection: xr.Dataset | None = None,
    horizon_start: str | pd.Timestamp | None = None,
    scenario: str = "baseline",
    random_seed: int = 0,
) -> list[EarlyWarning]:
    """Run the four checks of :mod:`targetsim.track.warnings` per segment.

    The conversion and cycle checks need only the posterior and the export; the inflow check
    uses ``indicators`` (else the posterior's expected arrivals), the coverage check needs
    ``indicators`` and is skipped without them.
    """
    plan_as_of = pd.Timestamp(params.as_of).normalize()
    now = pd.Timestamp(opps_now.as_of).normalize()
    check_export(opps_now, params, plan_as_of)
    t = opps_now.table
    t = t.loc[~t["created_imputed"].astype(bool)]
    seeds = iter(
        int(s.generate_state(1)[0])
        for s in np.random.SeedSequence(random_seed).spawn(4 * len(params.segments))
    )
    out: list[EarlyWarning] = []
    # The cohort: open at the plan's as-of date, or created since.
    cohort = t.loc[t["closed_at"].isna() | (t["closed_at"] > plan_as_of)]
    for j, seg in enumerate(params.segments):
        c = cohort.loc[cohort["segment"].astype(str) == seg]
        age_now = (now - c["created_at"]).dt.days.to_numpy(float)
        age_then = np.maximum((plan_as_of - c["created_at"]).dt.days.to_numpy(float), 0.0)
        p_won, p_open = cohort_probabilities(params, j, age_then, age_now)
        won = int(c["outcome"].eq("won").sum())
        out.append(conversion_check(seg, p_won, won, random_seed=next(seeds)))
        days = aging_expected_days(params, j)
        # Only deals created since the plan: an old deal open at the plan date is explained
        # by the model as probably stalled, which would mask lengthening cycles.
        old = (age_now > days) & (c["created_at"] > plan_as_of).to_numpy()
        still_open = int((c["outcome"].eq("open").to_numpy() & old).sum())
        out.append(cycle_check(seg, p_open[:, old], still_open, days, random_seed=next(seeds)))
        if horizon_start is not None:
            out += _inflow_and_coverage(
                params, j, t, now, pd.Timestamp(horizon_start), indicators, targets,
                projection, scenario,
            )
    return out


def _inflow_and_coverage(
    params: FunnelParams, j: int, t: pd.DataFrame, now: pd.Timestamp, h0: pd.Timestamp,
    indicators: pd.DataFrame | None, targets: pd.DataFrame | None,
    projection: xr.Dataset | None, scenario: str,
) -> list[EarlyWarning]:
    seg = params.segments[j]
    out = []
    if now < h0:
        return out
    seg_t = t.loc[t["segment"].astype(str) == seg]
    observed = int(((seg_t["created_at"] >= h0) & (seg_t["created_at"] <= now)).sum())
    # Monthly counts are NegativeBinomial(alpha); a sum over k months of similar means has
    # variance mean + mean**2 / (alpha k), i.e. dispersion alpha k.
    months_elapsed = max(((now - h0).days + 1) / 30.4375, 1.0)
    dispersion = float(np.median(params.arrivals.alpha[:, j])) * months_elapsed
    ind = None
    if indicators is not None and len(indicators):
        ind = indicators.loc[
            (indicators["segment"].astype(str) == seg)
            & (indicators["scenario"].astype(str) == scenario)
        ]
    if ind is not None and len(ind):
        needed = 0.0
        for r in ind.itertuples(index=False):
            q = pd.Period(str(r.period).replace("-", ""), freq="Q")
            q0, q1 = max(q.start_time.normalize(), h0), q.end_time.normalize()
            if q0 > now:
                continue
            share = ((min(q1, now) - q0).days + 1) / ((q1 - q0).days + 1)
            needed += float(r.new_opportunities) * share
        out.append(inflow_check(seg, observed, needed, dispersion=dispersion))
    else:
        # No requirement in the plan: compare with the posterior's expected arrivals.
        plan_month = pd.Timestamp(params.as_of).to_period("M")
        needed = 0.0
        for m in pd.period_range(h0, now, freq="M"):
            k = (m - plan_month).n
            rate = np.exp(params.arrivals.log_mean(np.array([k]))[:, j, 0])
            needed += float(np.median(rate))
        out.append(inflow_check(seg, observed, needed, dispersion=dispersion,
                                reference="the plan's expected arrivals"))
    if ind is None or not len(ind) or targets is None:
        return out
    nxt = (now + pd.Timedelta(days=1)).to_period("Q")
    label = f"{nxt.year}-Q{nxt.quarter}"
    row = ind.loc[ind["period"].astype(str) == label]
    if not len(row):
        return out
    open_deals = seg_t.loc[seg_t["outcome"].eq("open")]
    size = params.size.mean()[:, j]
    value = float(open_deals["amount"].fillna(float(np.median(size))).sum())
    projected = None
    if projection is not None and "open_value" in projection:
        month = pd.DatetimeIndex(projection["month"].values)
        at = np.flatnonzero(month == (now + pd.Timedelta(days=1)))
        if len(at) and scenario in projection["scenario"].values:
            projected = np.asarray(
                projection["open_value"].sel(scenario=scenario, segment=seg)
                .isel(month=int(at[0])).values, dtype=float,
            )
    r0 = row.iloc[0]
    out.append(coverage_check(seg, value, float(r0["target"]), float(r0["pipeline_coverage"]),
                              projected, quarter=label))
    return out


def plan_language(plan_dir: str | Path) -> tuple[str, str]:
    """The plan's language and currency (plan.json; ``en`` and ``USD`` when unknown)."""
    path = Path(plan_dir) / "plan.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        meta = {}
    lang = meta.get("lang") if meta.get("lang") in ("en", "fr") else "en"
    currency = meta.get("currency") if isinstance(meta.get("currency"), str) else "USD"
    return str(lang), str(currency)


def plan_draws_and_seed(plan_dir: str | Path) -> tuple[int | None, int | None]:
    """The posterior draws and seed the plan simulated with (plan.json), if recorded."""
    path = Path(plan_dir) / "plan.json"
    if not path.is_file():
        return None, None
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None, None
    draws, seed = meta.get("draws"), meta.get("seed")
    return (int(draws) if isinstance(draws, int) else None,
            int(seed) if isinstance(seed, int) else None)


def track_plan(
    plan_dir: str | Path,
    opps_now: Opportunities,
    *,
    n_draws: int | None = None,
    random_seed: int | None = None,
    params: FunnelParams | None = None,
    progress: bool = False,
) -> TrackResult:
    """Track a plan directory (``targets.csv``, ``fit.nc``, ``projection.nc``) with a fresh export.

    Parameters
    ----------
    plan_dir : path
        Output directory of ``targetsim plan``; ``indicators.csv`` is used when present.
    opps_now : Opportunities
        The fresh export.
    n_draws : int, optional
        Posterior draws simulated. Default: the plan's own (plan.json), else 1,000.
    random_seed : int, optional
        Default: the plan's seed. With the plan's draws and seed, track draws the **same**
        posterior draws and the same random streams as the plan (common random numbers):
        re-tracking an unchanged plan with no new data reproduces the plan's probabilities
        (exactly when the plan ran the vectorised engine), and a change of probability
        reflects the data, not Monte-Carlo noise. With other draws the two estimates are
        independent: their difference has standard deviation
        ``sqrt(p (1 - p) (1 / n_plan + 1 / n_track))``, about 2.9 points at p = 0.6 for 400
        and 1,000 draws, so moves of 5-9 points happen on some of a few hundred targets.
    params : FunnelParams, optional
        Parameters to use instead of the posterior in ``fit.nc`` (which is then not needed),
        e.g. known parameters.
    progress : bool
        A progress bar on stderr (reading the fit and simulating the rest of the year take
        seconds on a large plan).

    Raises
    ------
    DataError
        A plan file is missing or malformed, or the export is older than the plan or has
        segments the plan does not know.
    """
    plan = Path(plan_dir)
    targets_path = plan / "targets.csv"
    if not targets_path.is_file():
        raise DataError(f"{targets_path}: not found; is {plan} a plan directory (targetsim plan)?")
    # read_csv_output: names exactly as written before CSV neutralisation (-North stays -North)
    targets = read_csv_output(targets_path, dtype={"scenario": str, "name": str, "level": str})
    missing = [c for c in ("scenario", "level", "name", "period", "metric", "target")
               if c not in targets]
    if missing:
        raise DataError(f"{targets_path}: missing column(s) {', '.join(missing)}")
    from targetsim.progress import StepBar
    from targetsim.simulate import load_projection

    plan_n, plan_seed = plan_draws_and_seed(plan)
    same = (n_draws is None or n_draws == plan_n) and (random_seed is None
                                                       or random_seed == plan_seed)
    n_draws = n_draws if n_draws is not None else (plan_n or 1000)
    random_seed = random_seed if random_seed is not None else (plan_seed or 0)
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(random_seed).spawn(3)]
    if same and plan_n is not None and plan_seed is not None:
        # The plan's own posterior draws and simulation seed (plan.py: fit.params(draws,
        # random_seed=seed), simulate(random_seed=seed)): common random numbers.
        seeds[0] = seeds[1] = plan_seed
    steps = ("read the plan's fit", "simulate the rest of the year", "bookings to date",
             "early warnings")
    with StepBar("track", len(steps), enabled=progress) as bar:
        bar.describe(steps[0])
        if params is None:
            fit_path = plan / "fit.nc"
            if not fit_path.is_file():
                raise DataError(f"{fit_path}: not found; track needs the plan's fit")
            from targetsim.model import FunnelFit

            params = FunnelFit.load(fit_path).params(n_draws, random_seed=seeds[0])
        projection = load_projection(plan / "projection.nc")
        ind_path = plan / "indicators.csv"
        indicators = (read_csv_output(ind_path, dtype={"segment": str}) if ind_path.is_file()
                      else None)
        plan_as_of = pd.Timestamp(params.as_of).normalize()
        check_export(opps_now, params, plan_as_of)
        now_opps, notes = to_month_end(opps_now)
        if pd.Timestamp(now_opps.as_of) < plan_as_of:
            raise DataError(
                f"{opps_now.source}: no complete month after the plan's as-of date "
                f"{plan_as_of.date()} yet; track again after the end of the month"
            )
        h0 = pd.Timestamp(projection.attrs["horizon_start"])
        n_months = int(projection.attrs["months"])
        names = [str(s) for s in dict.fromkeys(targets["scenario"])]
        bar.step(steps[1])
        table = track_targets(
            params, targets, now_opps, horizon_start=h0, horizon_months=n_months,
            scenarios=_scenarios_of(projection, names), random_seed=seeds[1],
            on_step=bar.step,
        )
        bar.step(steps[3])
        primary = "baseline" if "baseline" in names else names[0]
        warns = early_warnings(
            params, now_opps, indicators=indicators, targets=targets, projection=projection,
            horizon_start=h0, scenario=primary, random_seed=seeds[2],
        )
        bar.step()
    keys: tuple[tuple[str, dict[str, str]], ...] = ()
    if notes:
        keys += (("month_end", {"as_of": str(pd.Timestamp(now_opps.as_of).date()),
                                "export": str(pd.Timestamp(opps_now.as_of).date())}),)
    if indicators is None:
        notes += ("indicators.csv not in the plan: no coverage check",)
        keys += (("no_indicators", {}),)
    return TrackResult(
        table=table, warnings=warnings_frame(warns),
        as_of=pd.Timestamp(now_opps.as_of), plan_as_of=plan_as_of, notes=notes, note_keys=keys,
    )
