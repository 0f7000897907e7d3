"""Targets, tiers, stress test and periods: known answers on hand-built projection cubes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from targetsim.calibrate import (
    TARGET_COLUMNS,
    calibrate,
    compute_targets,
    compute_tiers,
    parse_tiers,
    period_months,
    round_target,
    stress_test,
    target_at_probability,
    write_calibration,
)
from targetsim.errors import ConfigError, DataError
from test_calibrate_cubes import make_cube


def test_target_convention_on_a_known_sample() -> None:
    x = np.arange(1.0, 11.0)  # 1..10
    # 6 of 10 draws are >= 5, only 5 are >= 6: the target at 0.6 is 5.
    assert target_at_probability(x, 0.6) == 5.0
    assert target_at_probability(x, 0.9) == 2.0
    assert target_at_probability(x, 0.05) == 10.0
    assert target_at_probability(x[::-1], 0.6) == 5.0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(0, 30), min_size=1, max_size=60),
    st.floats(0.01, 0.99),
)
def test_target_is_the_largest_value_reached_with_probability_p(
    values: list[int], p: float
) -> None:
    x = np.asarray(values, dtype=float)
    t = target_at_probability(x, p)
    assert np.mean(x >= t) >= p - 1e-12
    larger = x[x > t]
    if larger.size:
        assert np.mean(x >= larger.min()) < p


def test_target_recovers_a_known_quantile() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(100.0, 10.0, size=200_000)
    # P(X >= t) = 0.6  <=>  t = 100 + 10 * z_0.4
    assert target_at_probability(x, 0.6) == pytest.approx(100 + 10 * stats.norm.ppf(0.4),
                                                          abs=0.1)


@pytest.mark.parametrize(
    ("value", "metric", "expected"),
    [
        (1_234_567.0, "bookings", 1_230_000.0),
        (45_678.9, "bookings", 45_600.0),
        (999.9, "bookings", 999.0),
        (42.0, "bookings", 42.0),
        (0.0, "bookings", 0.0),
        (17.0, "deals_won", 17.0),
    ],
)
def test_round_target_rounds_down(value: float, metric: str, expected: float) -> None:
    assert round_target(value, metric) == expected


def test_periods_fy_and_calendar_quarters_of_an_offset_horizon() -> None:
    ds = make_cube(n_draws=5, start="2027-02-01", months=12)
    periods = period_months(ds)
    assert list(periods) == ["FY", "2027-Q1", "2027-Q2", "2027-Q3", "2027-Q4", "2028-Q1"]
    assert periods["FY"].tolist() == list(range(12))
    assert periods["2027-Q1"].tolist() == [0, 1]  # February, March
    assert periods["2028-Q1"].tolist() == [11]  # January 2028 only


def test_targets_match_an_independent_computation_from_the_cube() -> None:
    ds = make_cube(n_draws=300)
    df = compute_targets(ds, 0.6)
    assert list(df.columns) == TARGET_COLUMNS
    # 2 scenarios x (1 total + 2 segments + 3 owners) x 5 periods x 2 metrics
    assert len(df) == 2 * 6 * 5 * 2
    assert set(df["level"]) == {"total", "segment", "owner"}
    fy = ds["bookings"].sum(["segment", "month"]).sel(scenario="tension").values
    row = df.query("scenario == 'tension' and level == 'total' and period == 'FY' "
                   "and metric == 'bookings'").iloc[0]
    srt = np.sort(fy)
    raw = srt[300 - 180]  # ceil(0.6 * 300) = 180 draws must reach it
    assert row["target"] == round_target(raw, "bookings")
    assert row["attainment_probability"] == np.mean(fy >= row["target"])
    assert row["p10"] == round(float(np.quantile(fy, 0.1)))
    assert row["p90"] == round(float(np.quantile(fy, 0.9)))
    assert (df["attainment_probability"] >= 0.6).all()
    q2 = ds["bookings"].sel(segment="B", scenario="baseline").isel(month=[3, 4, 5]).sum("month")
    row = df.query("scenario == 'baseline' and level == 'segment' and name == 'B' "
                   "and period == '2027-Q2' and metric == 'bookings'").iloc[0]
    assert row["target"] == round_target(target_at_probability(q2.values, 0.6), "bookings")


def test_owner_level_absent_without_owner_variables() -> None:
    ds = make_cube(n_draws=50).drop_vars(["owner_bookings", "owner_deals_won"])
    ds = ds.drop_dims("owner") if "owner" in ds.dims else ds
    df = compute_targets(ds, 0.6)
    assert set(df["level"]) == {"total", "segment"}


def test_missing_bookings_is_a_data_error() -> None:
    ds = make_cube(n_draws=10).drop_vars("bookings")
    with pytest.raises(DataError, match="no 'bookings' variable"):
        compute_targets(ds, 0.6)


@pytest.mark.parametrize("p", [0.0, 1.0, -0.2, 1.5, "abc"])
def test_bad_probability_is_a_config_error(p: object) -> None:
    with pytest.raises(ConfigError, match="--probability"):
        compute_targets(make_cube(n_draws=10), p)  # type: ignore[arg-type]


def test_tiers_are_ordered_and_each_meets_its_probability() -> None:
    ds = make_cube(n_draws=200)
    tiers = compute_tiers(ds, parse_tiers("0.9,0.6,0.3"))
    wide = tiers.pivot_table(index=["scenario", "level", "name", "period", "metric"],
                             columns="tier", values="target")
    assert (wide["floor"] <= wide["target"]).all()
    assert (wide["target"] <= wide["stretch"]).all()
    assert (tiers["attainment_probability"] >= tiers["probability"]).all()
    # The middle tier is the plain target at the same probability.
    plain = compute_targets(ds, 0.6).set_index(["scenario", "level", "name", "period", "metric"])
    assert np.array_equal(wide["target"].sort_index().to_numpy(),
                          plain["target"].sort_index().to_numpy())


@pytest.mark.parametrize("text", ["0.9,0.6", "0.3,0.6,0.9", "0.9,0.6,1.2", "a,b,c"])
def test_bad_tiers_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError, match="--tiers"):
        parse_tiers(text)


def test_stress_gives_baseline_targets_their_probability_under_tension() -> None:
    ds = make_cube(n_draws=300)
    targets = compute_targets(ds, 0.6)
    stress = stress_test(ds, targets)
    assert set(stress["scenario"]) == {"tension"}
    base = targets.query("scenario == 'baseline'")
    assert len(stress) == len(base)
    row = stress.query("level == 'segment' and name == 'A' and period == 'FY' "
                       "and metric == 'bookings'").iloc[0]
    x = ds["bookings"].sel(scenario="tension", segment="A").sum("month").values
    assert row["attainment_probability"] == np.mean(x >= row["target"])
    # tension scales bookings by 0.8: the baseline FY bookings targets mostly fail there.
    fy = stress.query("period == 'FY' and metric == 'bookings'")
    assert (fy["attainment_probability"] < 0.3).all()


def test_calibration_files_are_identical_for_the_same_cube(tmp_path) -> None:
    ds = make_cube(n_draws=100, seed=3)
    for sub in ("a", "b"):
        cal = calibrate(ds, probability=0.6, tiers=(0.9, 0.6, 0.3), company_target=5e5)
        write_calibration(cal, tmp_path / sub)
    for name in ("targets.csv", "tiers.csv", "allocation.csv", "indicators.csv",
                 "stress.csv", "topdown.csv", "objectives.md"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    back = pd.read_csv(tmp_path / "a" / "targets.csv")
    # The contract's columns first; the quota plan's appended after them.
    assert list(back.columns) == TARGET_COLUMNS + ["quota", "quota_probability"]
    assert not list(tmp_path.glob("a/.*.tmp"))


def test_projection_without_months_is_a_data_error() -> None:
    ds = xr.Dataset({"bookings": (("draw",), np.zeros(3))})
    with pytest.raises(DataError, match="month"):
        compute_targets(ds, 0.6)
