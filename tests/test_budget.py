"""The simulation budget: deals counted before simulating, and a message naming what to lower."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from targetsim.errors import ConfigError
from targetsim.model.params import ArrivalDraws, FunnelParams
from targetsim.simulate import Scenario, simulate
from targetsim.simulate.budget import check_simulation, memory_budget
from targetsim.simulate.sampling import Multipliers, encode_pipeline, sample_deals
from targetsim.simulate.scenario import parse_scenario
from targetsim.simulate.timeline import make_timeline


def _params(n_draws: int = 40, backlog: bool = False) -> FunnelParams:
    """Arrival paths with a trend, seasonality and a level that differ by draw, over-
    dispersed counts, and (``backlog``) deals not yet recorded at the as-of date."""
    p = FunnelParams.constant(("A", "B"), p_win=0.3, arrivals_per_month=[30.0, 12.0],
                              n_draws=n_draws, as_of="2026-12-15")
    rng = np.random.default_rng(3)
    season = np.tile(0.3 * np.sin(np.arange(12) / 12 * 2 * np.pi), (n_draws, 1))
    level = np.log([30.0, 12.0])[None, :] + rng.normal(0, 0.2, size=(n_draws, 2))
    arrivals = ArrivalDraws.from_trend(
        level, rng.normal(0.02, 0.01, size=(n_draws, 2)), season,
        np.full((n_draws, 2), 5.0), 12, 40, first_month=-2,
    )
    if backlog:  # the last two weeks of the export hold a third of their deals
        arrivals = replace(arrivals, backlog_lo=np.array([-14.0]), backlog_hi=np.array([0.0]),
                           backlog_exposure=np.array([0.45]),
                           backlog_observed=np.array([[4.0], [1.0]]))
    return replace(p, arrivals=arrivals)


@pytest.mark.parametrize("backlog", [False, True])
def test_estimate_counts_the_deals_the_simulator_draws(backlog):
    """The estimate follows the simulator's own arrival paths (checked, not assumed)."""
    params = _params(backlog=backlog)
    pipeline = pd.DataFrame({"segment": ["A"] * 50 + ["B"] * 20, "age_days": 10.0})
    scenarios = [Scenario.baseline(), parse_scenario("name: up\nmarket: {lead_volume: 2.5}")]
    timeline = make_timeline(params.as_of, None, 24)
    budget = check_simulation(params, len(pipeline), scenarios, timeline, "fast")
    pipe = encode_pipeline(pipeline, params)
    drawn = 0
    for sc in scenarios:
        mult = Multipliers.of(sc, params.segments)
        for d in range(params.n_draws):
            deals = sample_deals(params, d, pipe, mult, timeline, np.random.default_rng(d))
            drawn += len(deals.segment)
    assert budget.total_deals == pytest.approx(drawn, rel=0.02)
    assert budget.busiest == "up" and budget.n_draws == params.n_draws


def test_over_the_memory_budget_names_the_lead_volume(monkeypatch):
    monkeypatch.setenv("TARGETSIM_MAX_MEMORY_GB", "0.001")
    boom = parse_scenario("name: boom\nmarket: {lead_volume: 10}", "boom.yaml")
    with pytest.raises(ConfigError) as exc:
        simulate(_params(5), None, [boom], progress=False)
    msg = str(exc.value)
    assert "of memory, more than the budget" in msg
    assert "lower lead_volume in scenario 'boom' (now 10) or --months" in msg


def test_too_many_draws_names_draws(monkeypatch):
    monkeypatch.setenv("TARGETSIM_MAX_MEMORY_GB", "0.01")
    with pytest.raises(ConfigError, match=r"for its results \(20,000 draws .* lower --draws"):
        simulate(FunnelParams.constant(("A", "B"), p_win=0.3, n_draws=20_000), None,
                 progress=False)
    monkeypatch.delenv("TARGETSIM_MAX_MEMORY_GB")
    monkeypatch.setenv("TARGETSIM_MAX_SIMULATION_HOURS", "0.0001")
    with pytest.raises(ConfigError, match=r"would take about .* lower --draws"):
        simulate(_params(200), None, progress=False)


def test_budget_settings_are_checked(monkeypatch):
    monkeypatch.setenv("TARGETSIM_MAX_MEMORY_GB", "lots")
    with pytest.raises(ConfigError, match="TARGETSIM_MAX_MEMORY_GB='lots'"):
        memory_budget()
    monkeypatch.delenv("TARGETSIM_MAX_MEMORY_GB")
    assert 0 < memory_budget() <= 8 * 1024**3


def test_a_normal_simulation_is_within_budget():
    ds = simulate(_params(20), None, [Scenario.baseline()], progress=False)
    assert ds.sizes["draw"] == 20


def test_cli_copy_of_the_longest_horizon_is_the_scenario_rule():
    from targetsim.cli._common import MAX_MONTHS as CLI_MAX
    from targetsim.simulate.scenario import MAX_MONTHS

    assert CLI_MAX == MAX_MONTHS == 60


def test_cli_start_does_not_load_the_sampler():
    import subprocess
    import sys

    code = ("import sys, targetsim.cli; "
            "print(sorted(m for m in ('pymc', 'arviz', 'targetsim.simulate') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
