"""Backtest with the real fit at the cutoff (slow: one small MCMC fit).

Known truth: a generated export; the model's forecast of the quarter after the cutoff must
centre on what the true parameters forecast for the same pipeline (tolerance 15 %: the
posterior of 21 months of data is within a few percent, the rest is Monte Carlo).
"""

from __future__ import annotations

import numpy as np
import pytest

from targetsim.track.backtest import backtest, model_forecaster, params_forecaster
from test_track_sim import TRUTH


@pytest.mark.slow
def test_backtest_with_the_fitted_model_centres_on_the_truth():
    from targetsim.synthetic import generate_crm, opportunities_from_frame

    truth = TRUTH
    opps = opportunities_from_frame(generate_crm(truth, history_months=24, random_seed=5),
                                    truth.as_of)
    common = dict(horizon_months=3, hide_amounts=True, random_seed=4)
    fitted = backtest(opps, "2026-09-30", forecaster=model_forecaster(draws=150, tune=150,
                                                                      chains=2), **common)
    many = truth.subset(np.zeros(400, dtype=int))
    exact = backtest(opps, "2026-09-30", forecaster=params_forecaster(many), **common)
    for res in (fitted, exact):
        assert set(res.table["method"]) == {"model", "last_period", "pipeline"}
    m = fitted.table.set_index(["level", "name", "metric", "method"])
    t = exact.table.set_index(["level", "name", "metric", "method"])
    for metric in ("bookings", "deals_won"):
        got = m.loc[("total", "total", metric, "model"), "forecast"]
        want = t.loc[("total", "total", metric, "model"), "forecast"]
        print(f"{metric}: fitted p50 {got:,.0f}, truth p50 {want:,.0f}, actual "
              f"{m.loc[('total', 'total', metric, 'model'), 'actual']:,.0f}")
        assert abs(got / want - 1) < 0.15, metric
        lo, hi = m.loc[("total", "total", metric, "model"), ["p10", "p90"]]
        assert lo < got < hi
