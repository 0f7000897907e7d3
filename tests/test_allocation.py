"""Equal-probability allocation: checked against the closed form for independent normal parts.

For ``n`` independent parts each N(mu, sigma^2), ``Q_i(q) = mu + sigma z_{1-q}`` and the
company total is N(n mu, n sigma^2), so splitting the company target at ``p``,
``n mu + sqrt(n) sigma z_{1-p}``, needs ``z_{1-q} = z_{1-p} / sqrt(n)``; and the company
reaches the sum of individual quotas at ``p`` with probability ``Phi(-sqrt(n) z_{1-p})``.
Tolerances: 200 000 draws give quantiles to about 0.005 sigma (0.005 on q); targets are
rounded down to 3 significant figures (0.01 sigma here), hence 0.015 on reported probabilities.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from targetsim.calibrate import allocate, common_probability
from targetsim.calibrate.allocation import ALLOCATION_COLUMNS, allocate_parts
from test_calibrate_cubes import make_cube


@pytest.fixture(scope="module")
def normal_parts() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.normal(100_000.0, 10_000.0, size=(200_000, 4))


def test_common_probability_matches_the_closed_form(normal_parts: np.ndarray) -> None:
    n, p = 4, 0.6
    z = stats.norm.ppf(1 - p)
    company_target = n * 1e5 + np.sqrt(n) * 1e4 * z
    q = common_probability(normal_parts, company_target)
    assert q == pytest.approx(1 - stats.norm.cdf(z / np.sqrt(n)), abs=0.005)
    # Below p: splitting a team number needs less of each part than its own 60 % target.
    assert q < p


def test_parts_add_up_and_share_one_probability(normal_parts: np.ndarray) -> None:
    company = normal_parts.sum(axis=1)
    frame, summary = allocate_parts(normal_parts, ("a", "b", "c", "d"), company, 390_000.0, 0.6)
    # Targets are rounded down to 3 significant figures: at most 100 lost per part.
    assert 390_000.0 - 400 <= frame["target"].sum() <= 390_000.0
    q = summary["common_probability"]
    assert np.allclose(frame["attainment_probability"], q, atol=0.01)
    assert summary["expected_share_reaching"] == pytest.approx(q, abs=0.01)


def test_team_vs_sum_effect_matches_the_closed_form(normal_parts: np.ndarray) -> None:
    n, p = 4, 0.6
    company = normal_parts.sum(axis=1)
    _, s = allocate_parts(normal_parts, tuple("abcd"), company, 400_000.0, p)
    z = stats.norm.ppf(1 - p)
    # Each quota is rounded down to 3 significant figures: up to 400 lost over 4 parts.
    exact = n * (1e5 + 1e4 * z)
    assert exact - 400 - 150 <= s["sum_of_quotas_at_p"] <= exact + 150
    assert s["company_at_p"] == pytest.approx(n * 1e5 + np.sqrt(n) * 1e4 * z, abs=1100)
    assert s["sum_of_quotas_at_p"] < s["company_at_p"]
    assert s["p_company_reaches_sum"] == pytest.approx(stats.norm.cdf(-np.sqrt(n) * z),
                                                       abs=0.015)


def test_unreachable_and_trivial_targets() -> None:
    parts = np.array([[1.0, 2.0], [3.0, 4.0]])
    assert common_probability(parts, 100.0) == 0.0  # even the best draws fall short
    assert common_probability(parts, 1.0) == 1.0  # even the worst draws exceed it


def test_allocate_on_a_cube_splits_each_scenarios_total() -> None:
    ds = make_cube(n_draws=400)
    df, summaries = allocate(ds, 0.6)
    assert list(df.columns) == ALLOCATION_COLUMNS
    assert {(s.scenario, s.level) for s in summaries} == {
        ("baseline", "segment"), ("tension", "segment"),
        ("baseline", "owner"), ("tension", "owner"),
    }
    for _, grp in df.groupby(["scenario", "level"]):
        t = grp["company_target"].iloc[0]
        assert grp["target"].sum() == pytest.approx(t, rel=0.01)
        assert grp["common_probability"].nunique() == 1
    # Owners take fixed shares of the company total (perfectly correlated parts): the common
    # probability is then p itself, and the quotas are the owners' own 60 % targets.
    own = [s for s in summaries if s.level == "owner" and s.scenario == "baseline"][0]
    assert own.common_probability == pytest.approx(0.6, abs=0.01)


def test_company_target_is_split_when_given() -> None:
    ds = make_cube(n_draws=200)
    df, _ = allocate(ds, 0.6, company_target=123_456.0)
    assert (df["company_target"] == 123_456.0).all()
