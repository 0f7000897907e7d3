"""Scoring rules against known truth: closed forms, brute force and calibrated forecasts."""

from __future__ import annotations

import numpy as np
import pytest

from targetsim.calibrate.targets import target_at_probability
from targetsim.errors import ConfigError, DataError
from targetsim.track.scoring import (
    crps_from_samples,
    crps_normal,
    hit_rate,
    interval_coverage,
    probability_of_attainment,
)


def test_crps_matches_normal_closed_form():
    rng = np.random.default_rng(1)
    mu, sigma = 3.0, 2.0
    samples = rng.normal(mu, sigma, size=200_000)
    for y in (-1.0, 3.0, 4.5, 10.0):
        got = float(crps_from_samples(samples, y))
        want = float(crps_normal(mu, sigma, y))
        # Monte Carlo error of the sample CRPS with 2e5 draws is well below 0.5 %.
        assert got == pytest.approx(want, rel=5e-3), y


def test_crps_normal_at_the_mean_is_known_constant():
    # CRPS(N(0,1), 0) = 2 phi(0) - 1/sqrt(pi) = (sqrt(2) - 1) / sqrt(pi)
    assert float(crps_normal(0.0, 1.0, 0.0)) == pytest.approx((np.sqrt(2) - 1) / np.sqrt(np.pi))


def test_crps_sorted_identity_matches_brute_force_double_sum():
    rng = np.random.default_rng(2)
    x = rng.gamma(2.0, 3.0, size=(4, 37))
    y = rng.gamma(2.0, 3.0, size=4)
    brute = np.abs(x - y[:, None]).mean(1) - 0.5 * np.abs(x[:, :, None] - x[:, None, :]).mean(
        (1, 2)
    )
    np.testing.assert_allclose(crps_from_samples(x, y), brute, rtol=1e-12)


def test_crps_of_a_point_forecast_is_absolute_error():
    assert float(crps_from_samples(np.array([5.0]), 8.0)) == pytest.approx(3.0)


def test_crps_rejects_mismatched_shapes():
    with pytest.raises(ConfigError, match="do not match"):
        crps_from_samples(np.zeros((3, 10)), np.zeros(4))


def test_interval_coverage_counts_closed_bounds():
    lo = np.array([0.0, 0.0, 0.0, 0.0])
    hi = np.array([1.0, 1.0, 1.0, 1.0])
    y = np.array([0.0, 0.5, 1.0, 1.5])
    assert interval_coverage(lo, hi, y) == pytest.approx(0.75)
    assert np.isnan(interval_coverage(lo[:0], hi[:0], y[:0]))


def test_calibrated_forecast_hits_target_at_probability_p_and_covers_80_percent():
    # Forecasts that are the true distribution: outcomes reach the p-target a fraction p of
    # the time and fall in the p10-p90 band 80 % of the time (binomial tolerance, 4 sd).
    rng = np.random.default_rng(3)
    k, n = 4000, 400
    scale = rng.uniform(10, 100, size=k)
    samples = rng.gamma(3.0, 1.0, size=(k, n)) * scale[:, None]
    outcome = rng.gamma(3.0, 1.0, size=k) * scale
    for p in (0.5, 0.6, 0.8):
        rate = hit_rate(target_at_probability(samples, p), outcome)
        assert abs(rate - p) < 4 * np.sqrt(p * (1 - p) / k) + 1.0 / n, p
    p10, p90 = np.quantile(samples, [0.1, 0.9], axis=1)
    cov = interval_coverage(p10, p90, outcome)
    assert abs(cov - 0.8) < 4 * np.sqrt(0.16 / k) + 2.0 / n


def test_target_at_probability_guarantees_probability_on_samples():
    x = np.arange(10.0)
    t = float(target_at_probability(x, 0.6))
    assert float(probability_of_attainment(x, t)) >= 0.6
    assert float(probability_of_attainment(x, t + 1)) < 0.6
    assert target_at_probability(x, 1.0) == 0.0  # the smallest value is always reached
    with pytest.raises(DataError, match="probability"):
        target_at_probability(x, 1.5)
