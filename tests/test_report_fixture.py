"""A small hand-made plan directory for the report tests (no MCMC, no simulator).

The projection is drawn here from known distributions and targets.csv is computed here with
an independent implementation of the contract's quantile convention (the target at
probability p is ``sorted(x)[n - ceil(p n)]``, rounded down to three significant figures),
so the report's own numbers can be checked against it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

MALICIOUS = "<script>alert(1)</script>"
SEGMENTS = ("Enterprise", MALICIOUS)
OWNERS = ("Ann", "Bob & Co")
OWNER_SEGMENT = {"Ann": "Enterprise", "Bob & Co": MALICIOUS}
SCENARIOS = ("baseline", "tension")
N_DRAWS = 200
PROBABILITY = 0.6


def _target(x: np.ndarray, p: float, metric: str) -> float:
    x = np.sort(x)
    n = x.size
    t = float(x[n - math.ceil(p * n - 1e-9)])
    if t <= 0:
        return 0.0
    if metric == "deals_won":
        return float(math.floor(t))
    step = max(10.0 ** (math.floor(math.log10(t)) - 2), 1.0)
    return float(math.floor(t / step) * step)


def make_projection(seed: int = 1) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    months = pd.date_range("2027-01-01", periods=12, freq="MS")
    # tension: 30 % fewer deals; Enterprise sells larger deals than the other segment.
    scale = np.array([1.0, 0.7])[None, :, None, None]
    wins = rng.poisson(np.array([6.0, 10.0])[None, None, :, None] * scale,
                       size=(N_DRAWS, 2, 2, 12))
    size = np.array([20_000.0, 5_000.0])[None, None, :, None]
    bookings = wins * size * rng.lognormal(0.0, 0.3, size=wins.shape)
    # Owners split their segment's outcomes (Ann all of Enterprise, Bob all of the other).
    owner_bookings = bookings.copy()
    owner_wins = wins.copy()
    new_opps = rng.poisson(30.0, size=wins.shape)
    lost = rng.poisson(15.0, size=wins.shape)
    open_count = rng.poisson(40.0, size=wins.shape)
    seg_dims = ("draw", "scenario", "segment", "month")
    return xr.Dataset(
        {
            "bookings": (("draw", "scenario", "segment", "month"), bookings),
            "deals_won": (("draw", "scenario", "segment", "month"), wins),
            "new_opportunities": (("draw", "scenario", "segment", "month"), new_opps),
            "owner_bookings": (("draw", "scenario", "owner", "month"), owner_bookings),
            "owner_deals_won": (("draw", "scenario", "owner", "month"), owner_wins),
            "capacity": (seg_dims, np.full(wins.shape, np.inf)),
            "deals_lost": (seg_dims, lost),
            "went_cold": (seg_dims, np.zeros_like(lost)),
            "open_count": (seg_dims, open_count),
            "open_value": (seg_dims, open_count * 8_000.0),
            "open_count_final": (("draw", "scenario", "segment"), open_count[..., -1]),
            "initial_open": (("draw", "scenario", "segment"), open_count[..., 0]),
        },
        coords={
            "draw": np.arange(N_DRAWS),
            "scenario": list(SCENARIOS),
            "segment": list(SEGMENTS),
            "owner": list(OWNERS),
            "month": months,
        },
        attrs={
            "as_of": "2026-12-31", "horizon_start": "2027-01-01", "months": 12, "seed": seed,
            "engine": "fixture", "n_draws": N_DRAWS, "scenarios_json": "[]",
            "targetsim_version": "0.1.0",
        },
    )


def _periods(months: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    out = {"FY": np.arange(len(months))}
    for q in range(1, 5):
        out[f"2027-Q{q}"] = np.flatnonzero(months.quarter == q)
    return out


def make_targets(ds: xr.Dataset, p: float = PROBABILITY) -> pd.DataFrame:
    months = pd.DatetimeIndex(ds["month"].values)
    rows = []
    for sc in SCENARIOS:
        for level in ("total", "segment", "owner"):
            names = ["total"] if level == "total" else SEGMENTS if level == "segment" else OWNERS
            for name in names:
                for period, idx in _periods(months).items():
                    for metric in ("bookings", "deals_won"):
                        var = f"owner_{metric}" if level == "owner" else metric
                        da = ds[var].sel(scenario=sc).isel(month=idx)
                        if level == "segment":
                            da = da.sel(segment=name)
                        elif level == "owner":
                            da = da.sel(owner=name)
                        x = np.asarray(da.values, dtype=float).reshape(N_DRAWS, -1).sum(axis=1)
                        t = _target(x, p, metric)
                        q10, q50, q90 = np.quantile(x, [0.1, 0.5, 0.9])
                        rows.append((sc, level, name, period, metric, t,
                                     float(np.mean(x >= t)), q10, q50, q90))
    return pd.DataFrame(rows, columns=[
        "scenario", "level", "name", "period", "metric", "target",
        "attainment_probability", "p10", "p50", "p90",
    ])


def make_plan_dir(path: Path, *, optional: bool = True) -> Path:
    """Write a plan directory; ``optional=False`` leaves out every optional file."""
    path.mkdir(parents=True, exist_ok=True)
    ds = make_projection()
    ds.to_netcdf(path / "projection.nc", engine="h5netcdf")
    targets = make_targets(ds)
    targets.to_csv(path / "targets.csv", index=False)
    pd.DataFrame(
        [
            (seg, par, "", m, lo, m, hi)
            for seg in SEGMENTS
            for par, m, lo, hi in (
                ("win_rate", 0.30, 0.25, 0.35),
                ("cycle_days_median", 60.0, 50.0, 75.0),
                ("deal_size_median", 10_000.0, 4_000.0, 25_000.0),  # wide on purpose
                ("arrivals_per_month", 30.0, 27.0, 33.0),
            )
        ],
        columns=["segment", "parameter", "stage", "mean", "q05", "q50", "q95"],
    ).to_csv(path / "fit_summary.csv", index=False)
    (path / "diagnostics.json").write_text(json.dumps(
        {"rhat_max": 1.004, "ess_bulk_min": 812.0, "divergences": 0, "converged": True}
    ))
    if not optional:
        return path
    (path / "plan.json").write_text(json.dumps({
        "version": "0.1.0", "seed": 7, "as_of": "2026-12-31", "probability": PROBABILITY,
        "scenarios": list(SCENARIOS), "converged": True, "timings": {},
    }))
    base = targets[targets.scenario == "baseline"]
    stress = base.drop(columns=["scenario", "attainment_probability", "p10", "p50", "p90"])
    frames = []
    for sc in SCENARIOS:
        probs = []
        for r in stress.itertuples(index=False):
            sub = targets[(targets.scenario == sc) & (targets.level == r.level)
                          & (targets.name == r.name) & (targets.period == r.period)
                          & (targets.metric == r.metric)].iloc[0]
            # A normal approximation from the band is enough for a fixture.
            sd = max((sub.p90 - sub.p10) / 2.563, 1e-9)
            probs.append(float(1 - 0.5 * (1 + math.erf((r.target - sub.p50) / sd / 2**0.5))))
        frames.append(stress.assign(scenario=sc, attainment_probability=probs))
    pd.concat(frames)[["level", "name", "period", "metric", "target", "scenario",
                       "attainment_probability"]].to_csv(path / "stress.csv", index=False)
    ind = []
    for sc in SCENARIOS:
        for seg in SEGMENTS:
            for q in range(1, 5):
                t = targets[(targets.scenario == sc) & (targets.level == "segment")
                            & (targets.name == seg) & (targets.period == f"2027-Q{q}")
                            & (targets.metric == "bookings")].iloc[0].target
                ind.append((sc, seg, f"2027-Q{q}", t, 90.0, 20.0, 2.5 * t, 2.5, 90 / 13, 20 / 13))
    pd.DataFrame(ind, columns=[
        "scenario", "segment", "period", "target", "new_opportunities", "wins_needed",
        "pipeline_at_quarter_start", "pipeline_coverage", "weekly_new_opportunities",
        "weekly_wins",
    ]).to_csv(path / "indicators.csv", index=False)
    (path / "objectives.md").write_text(
        f"# Objectives\n\n- Reach the **target** on segment {MALICIOUS}.\n", encoding="utf-8"
    )
    return path


def test_fixture_targets_follow_the_contract(tmp_path: Path) -> None:
    """The fixture itself: P(outcome >= target) >= p for every row, as the contract says."""
    d = make_plan_dir(tmp_path / "plan")
    t = pd.read_csv(d / "targets.csv", keep_default_na=False)
    assert len(t) == 2 * (1 + 2 + 2) * 5 * 2
    assert (t.attainment_probability >= PROBABILITY).all()
    assert set(t.name) >= set(SEGMENTS) | set(OWNERS)
