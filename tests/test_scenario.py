"""Scenario files: bundled scenarios, defaults, overrides and the exact messages of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from targetsim.errors import ScenarioError
from targetsim.simulate import Scenario, bundled_scenarios, load_scenario
from targetsim.simulate.scenario import MULTIPLIERS, parse_scenario

FIXTURES = Path(__file__).parent / "fixtures" / "scenarios"
REPO = Path(__file__).resolve().parents[1]


def test_bundled_scenarios_load_and_tell_a_story():
    assert set(bundled_scenarios()) >= {"baseline", "growth", "tension", "hiring-freeze"}
    for name in bundled_scenarios():
        sc = load_scenario(name)
        assert sc.name == name
        assert sc.description and "\n" not in sc.description
        # Bundled files must work with any data: no per-segment blocks, no named hires.
        assert sc.segments == {}
        if sc.capacity is not None:
            assert isinstance(sc.capacity.reps, int)
            assert sc.capacity.hires == ()


def test_repo_root_scenarios_is_the_package_data():
    assert (REPO / "scenarios" / "tension.yaml").is_file()
    sc = load_scenario(REPO / "scenarios" / "tension.yaml")
    assert sc.model_dump() == load_scenario("tension").model_dump()
    assert sc.market.cycle_length == 1.2 and sc.market.lead_volume == 0.8


def test_baseline_is_no_change():
    sc = Scenario.baseline()
    assert sc.name == "baseline" and sc.capacity is None
    assert all(sc.multiplier(k, "any") == 1.0 for k in MULTIPLIERS)
    assert load_scenario("baseline").market == sc.market


def test_segment_override_replaces_market_value():
    sc = parse_scenario(
        "name: x\nmarket: {win_rate: 0.8, lead_volume: 1.5}\nsegments: {A: {win_rate: 1.2}}"
    )
    assert sc.multiplier("win_rate", "A") == 1.2
    assert sc.multiplier("lead_volume", "A") == 1.5
    assert sc.multiplier("win_rate", "B") == 0.8


def test_capacity_defaults_and_one_number_for_all_segments():
    sc = parse_scenario("name: x\ncapacity: {reps: 4, max_open_deals_per_rep: 10}")
    assert sc.capacity.reps_of("A") == sc.capacity.reps_of("B") == 4
    assert sc.capacity.patience_days == 30.0 and sc.capacity.ramp_months == 3.0
    forever = parse_scenario(
        "name: x\ncapacity: {reps: 4, max_open_deals_per_rep: 10, patience_days: null}"
    )
    assert forever.capacity.patience_days is None


def test_design_example_parses():
    text = """
name: tension
description: "Downturn: fewer leads, harder wins, longer cycles."
horizon: {start: 2027-01-01, months: 12}
market: {lead_volume: 0.8, win_rate: 0.85, deal_size: 0.95, cycle_length: 1.2}
segments:
  Enterprise: {lead_volume: 0.7}
capacity:
  reps: {Enterprise: 4, SMB: 6}
  max_open_deals_per_rep: 25
  ramp_months: 3
  attrition_per_year: 0.15
  hires: [{month: 2027-03, segment: SMB, count: 2}]
"""
    sc = parse_scenario(text, "design.yaml")
    assert sc.horizon.start == "2027-01-01"
    assert sc.capacity.hires[0].month == "2027-03" and sc.capacity.hires[0].count == 2
    sc.check_segments(("Enterprise", "SMB"), "the fit")
    with pytest.raises(ScenarioError) as err:
        sc.check_segments(("Enterprise", "SMB", "Mid"), "the fit")
    assert str(err.value) == (
        "design.yaml: capacity.reps: no headcount for segment(s) Mid; "
        "give every segment or one number for all"
    )
    assert json.loads(sc.to_json())["capacity"]["reps"] == {"Enterprise": 4, "SMB": 6}


EXPECTED = {
    "wrong_negative_multiplier.yaml": "market.win_rate: must be >= 0, got -0.2",
    "wrong_unknown_key.yaml": (
        "market.winrate: unknown key (allowed: lead_volume, win_rate, deal_size, cycle_length)"
    ),
    "wrong_invalid_yaml.yaml": (
        "invalid YAML at line 3, column 11: expected ',' or '}', but got ':'"
    ),
    "wrong_bad_month.yaml": "capacity.hires.0.month: must be a month YYYY-MM, got '2027-3'",
    "wrong_negative_reps.yaml": "capacity.reps: B must be a whole number >= 0, got -1",
    "wrong_not_mapping.yaml": "must be a mapping of keys (name, market, ...) to values",
    "wrong_missing_name.yaml": "name: required key is missing",
    "wrong_infinite_multiplier.yaml": "market.lead_volume: must be a finite number, got inf",
    "wrong_huge_multiplier.yaml": "market.lead_volume: must be <= 10, got 10000000.0",
    "wrong_not_utf8.yaml": (
        "not UTF-8 text: byte 0xf3 on line 1 cannot be decoded; save the file as UTF-8"
    ),
    "wrong_long_horizon.yaml": "horizon.months: must be <= 60, got 1000",
    "wrong_bool_multiplier.yaml": "market.win_rate: must be a number, got True",
    "wrong_bad_date.yaml": "invalid YAML: month must be in 1..12",
}


@pytest.mark.parametrize("fname", sorted(EXPECTED))
def test_wrong_fixture_exact_message(fname):
    path = FIXTURES / fname
    with pytest.raises(ScenarioError) as err:
        load_scenario(str(path))
    assert str(err.value) == f"{path}: {EXPECTED[fname]}"


def test_unknown_segment_exact_message():
    path = str(FIXTURES / "wrong_unknown_segment.yaml")
    sc = load_scenario(path)  # segments are only known once the scenario meets a fit
    with pytest.raises(ScenarioError) as err:
        sc.check_segments(("A", "B"), "fit.nc")
    assert str(err.value) == (
        f"{path}: segments.Mars: unknown segment 'Mars' (segments in fit.nc: A, B)"
    )


def test_every_wrong_fixture_is_covered():
    names = {p.name for p in FIXTURES.glob("wrong_*.yaml")}
    assert names == set(EXPECTED) | {"wrong_unknown_segment.yaml"}


def test_missing_file_and_unknown_bundled_name():
    with pytest.raises(ScenarioError, match=r"^nowhere/x\.yaml: scenario file not found$"):
        load_scenario("nowhere/x.yaml")
    with pytest.raises(ScenarioError, match=r"not a bundled scenario \(bundled: baseline, "):
        load_scenario("boom")


def test_zero_cycle_length_rejected_and_all_errors_listed():
    with pytest.raises(ScenarioError) as err:
        parse_scenario("name: x\nmarket: {cycle_length: 0, deal_size: -1}", "s.yaml")
    assert str(err.value) == (
        "s.yaml: market.deal_size: must be >= 0, got -1; market.cycle_length: must be > 0, got 0"
    )
