"""Leading indicators and the top-down solvers, against answers computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from targetsim.calibrate import leading_indicators, round_target, target_at_probability
from targetsim.calibrate.indicators import INDICATOR_COLUMNS
from targetsim.calibrate.topdown import (
    LeverResult,
    company_probabilities,
    describe_change,
    solve_integer,
    solve_multiplier,
)
from targetsim.errors import ConfigError
from test_calibrate_cubes import make_cube


def test_indicators_are_medians_over_the_draws_that_reach_the_target() -> None:
    ds = make_cube(n_draws=500, seed=5)
    # Make bookings depend on new opportunities, as in a real funnel: draws that reach the
    # target must then have needed more opportunities than the typical draw.
    ds["bookings"] = ds["new_opportunities"] * 1000.0 + ds["bookings"] * 0.01
    ind = leading_indicators(ds, 0.6)
    assert list(ind.columns) == INDICATOR_COLUMNS
    assert len(ind) == 2 * 2 * 4  # scenarios x segments x quarters
    row = ind.query("scenario == 'baseline' and segment == 'A' and period == '2027-Q2'").iloc[0]
    sub = ds.sel(scenario="baseline", segment="A")
    q = [3, 4, 5]
    x = sub["bookings"].isel(month=q).sum("month").values
    t = round_target(target_at_probability(x, 0.6), "bookings")
    hit = x >= t
    new = sub["new_opportunities"].isel(month=q).sum("month").values
    pipe = sub["open_value"].isel(month=3).values
    assert row["target"] == t
    assert row["new_opportunities"] == np.median(new[hit])
    assert row["new_opportunities"] > np.median(new)
    assert row["pipeline_at_quarter_start"] == round(float(np.median(pipe[hit])))
    assert row["pipeline_coverage"] == round(float(np.median(pipe[hit])) / t, 2)
    assert row["weekly_new_opportunities"] == round(row["new_opportunities"] / 13, 2)


def test_solve_multiplier_finds_the_smallest_value_on_the_grid() -> None:
    def f(m: float) -> float:
        return float(stats.norm.cdf((m - 1.3) / 0.1))

    res = solve_multiplier(f, 0.6, 1.0, 4.0, tol=0.01)
    exact = 1.3 + 0.1 * stats.norm.ppf(0.6)  # 1.3253
    assert res.value == pytest.approx(1.33)
    assert res.value >= exact
    assert res.probability >= 0.6
    assert solve_multiplier(f, 0.6, 1.5, 4.0).value == 1.5  # already there: no change
    assert solve_multiplier(lambda m: 0.1, 0.6).value is None


def test_solve_integer_finds_the_smallest_count() -> None:
    res = solve_integer(lambda k: min(1.0, 0.1 * k), 0.6, 0, 50)
    assert res.value == 6
    assert solve_integer(lambda k: 0.0, 0.6).value is None


def test_company_probabilities_and_phrases() -> None:
    ds = make_cube(n_draws=300)
    probs = company_probabilities(ds, 300_000.0)
    fy = ds["bookings"].sum(["segment", "month"])
    for s, p in probs.items():
        assert p == float(np.mean(fy.sel(scenario=s).values >= 300_000.0))
    assert probs["baseline"] > probs["tension"]
    with pytest.raises(ConfigError, match="--company-target"):
        company_probabilities(ds, -1.0)
    assert describe_change("lead_volume", LeverResult(1.18, 0.6, 5)) == "+18% leads"
    assert describe_change("lead_volume", LeverResult(1.18, 0.6, 5), lang="fr") == \
        "+18\u00a0% de leads"
    assert describe_change("win_rate", LeverResult(1.2, 0.6, 5), base_win_rate=0.3,
                           lang="fr") == "+6,0 points de taux de transformation (x1,20)"
    assert describe_change("win_rate", LeverResult(1.2, 0.6, 5), base_win_rate=0.3) == (
        "+6.0 points of win rate (x1.20)")
    assert describe_change("hires", LeverResult(2.0, 0.6, 5), hire_month="2027-03") == (
        "+2 hire(s) per segment by 2027-03")
    assert describe_change("hires", LeverResult(2.0, 0.6, 5), hire_month="2027-03",
                           lang="fr") == "+2 recrutement(s) par segment d'ici 2027-03"
