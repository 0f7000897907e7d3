"""Parameter recovery: the posterior covers known truths; the naive estimate does not.

Tolerance policy (written here so a failure is read against it):

* Data: 4 segments with different known win / loss / stall probabilities, won and lost
  cycle medians, deal sizes and arrival rates; 18 months ending at ``as_of``; a fifth or
  more of the deals still open (recent ones and stalled ones).
* Coverage: 5 parameters x 4 segments = 20 checks against their 90 % intervals. With
  independent checks the number inside is Binomial(20, 0.9): P(< 15) = 1.1 %, so we
  require at least 15 (75 %). No truth may sit more than 4 posterior standard deviations
  from the posterior mean ("no miss by a mile").
* Naive bias: for segments with a stall share of 25 %, the closed-deals estimates (win
  rate = won / (won + lost); median of closed won cycles) must fall outside our 90 %
  interval and be further from the truth than our posterior median.

One nutpie fit at the default draws / tune: the speed we ship is the speed we prove.
"""

from __future__ import annotations

import numpy as np
import pytest

from targetsim.model import fit_funnel
from targetsim.model.params import FunnelParams
from targetsim.synthetic import synthetic_funnel

SEGS = ("north", "south", "east", "west")
P_WIN = [0.25, 0.35, 0.45, 0.55]
P_LOST = [0.50, 0.40, 0.45, 0.35]  # stall = 0.25, 0.25, 0.10, 0.10
TRUTH = FunnelParams.constant(
    SEGS,
    p_win=P_WIN,
    p_lost=P_LOST,
    won_median_days=[45.0, 70.0, 100.0, 60.0],
    won_sigma=0.6,
    lost_median_days=[20.0, 35.0, 40.0, 25.0],
    lost_sigma=0.7,
    size_median=[4_000.0, 12_000.0, 30_000.0, 8_000.0],
    size_sigma=0.8,
    arrivals_per_month=[60.0, 40.0, 30.0, 50.0],
    as_of="2026-12-31",
)


@pytest.fixture(scope="module")
def recovery():
    funnel = synthetic_funnel(TRUTH, random_seed=11)
    fit = fit_funnel(funnel, draws=500, tune=500, chains=2, random_seed=3, progress=False)
    return funnel, fit


def _truth_values() -> dict[str, np.ndarray]:
    return {
        "win_rate": TRUTH.p_win[0],
        "cycle_days_median": np.exp(TRUTH.won_mu[0]),
        "loss_cycle_days_median": np.exp(TRUTH.lost_mu[0]),
        "deal_size_median": np.exp(TRUTH.size_mu[0]),
        "arrival_log_rate": TRUTH.arrival_log_rate[0],
    }


def _posterior(fit) -> dict[str, np.ndarray]:
    # The fit orders segments alphabetically; align with the truth by name.
    d = fit.derived().sel(segment=list(SEGS))
    d = d.stack(sample=("chain", "draw")).transpose("sample", ...)
    return {
        "win_rate": d["p_win"].values,
        "cycle_days_median": np.exp(d["won_mu"].values),
        "loss_cycle_days_median": np.exp(d["lost_mu"].values),
        "deal_size_median": np.exp(d["size_mu"].values),
        # The generator's monthly mean at month m is exp(level + trend m + season); the
        # truth has neither trend nor season, so the level is the comparable quantity.
        "arrival_log_rate": d["arrival_log_rate"].values,
    }


@pytest.mark.slow
def test_data_has_many_open_deals(recovery):
    funnel, _ = recovery
    assert funnel.deals["censored"].mean() > 0.2


@pytest.mark.slow
def test_posterior_covers_truth(recovery):
    _, fit = recovery
    truth, post = _truth_values(), _posterior(fit)
    inside, misses = 0, []
    for name, true in truth.items():
        draws = post[name]
        lo, hi = np.quantile(draws, [0.05, 0.95], axis=0)
        z = np.abs(draws.mean(0) - true) / draws.std(0)
        for j, seg in enumerate(SEGS):
            inside += lo[j] <= true[j] <= hi[j]
            if z[j] > 4:
                misses.append(f"{name}[{seg}]: truth {true[j]:.4g}, z = {z[j]:.1f}")
    assert inside >= 15, f"only {inside}/20 truths inside their 90 % intervals"
    assert not misses, misses
    assert fit.diagnostics.divergences == 0, fit.diagnostics.problems


@pytest.mark.slow
def test_naive_closed_deal_estimates_are_biased_ours_are_not(recovery):
    funnel, fit = recovery
    post = _posterior(fit)
    d = funnel.deals
    truth = _truth_values()
    # Win rate: stalled deals never close, so won / (won + lost) overstates it.
    for j, seg in enumerate(SEGS[:2]):  # the segments with a 25 % stall share
        dd = d.loc[d["segment"] == seg]
        won, lost = (dd["outcome"] == "won").sum(), (dd["outcome"] == "lost").sum()
        naive = won / (won + lost)
        draws = post["win_rate"][:, j]
        lo, hi = np.quantile(draws, [0.05, 0.95])
        assert lo <= truth["win_rate"][j] <= hi, f"win_rate[{seg}]: ours misses the truth"
        assert naive > hi, f"win_rate[{seg}]: naive {naive:.3f} not above ours [{lo:.3f}, {hi:.3f}]"
    # Cycle: recent slow wins are still open, so the median of closed wins is too short.
    # The effect grows with the cycle length; east has the longest (100 days).
    j = SEGS.index("east")
    dd = d.loc[(d["segment"] == "east") & (d["outcome"] == "won")]
    naive = np.median(dd["duration_days"] + 0.5)
    true = truth["cycle_days_median"][j]
    draws = post["cycle_days_median"][:, j]
    lo, hi = np.quantile(draws, [0.05, 0.95])
    assert lo <= true <= hi
    assert naive < 0.95 * true
    assert abs(naive - true) > abs(np.median(draws) - true)
