"""Properties that hold for any parameters: flow conservation and bounds, both engines.

Hypothesis draws funnel parameters, scenario multipliers and capacity settings; each example
simulates a few draws with the engine the scenario calls for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targetsim.model.params import FunnelParams
from targetsim.simulate import simulate
from targetsim.simulate.scenario import parse_scenario

SEGS = ("A", "B")


@st.composite
def cases(draw):
    p_win = draw(st.floats(0.0, 1.0))
    p_lost = draw(st.floats(0.0, 1.0 - p_win))
    params = FunnelParams.constant(
        SEGS, p_win=p_win, p_lost=p_lost,
        won_median_days=draw(st.floats(1.0, 400.0)), won_sigma=draw(st.floats(0.05, 2.0)),
        lost_median_days=draw(st.floats(1.0, 400.0)), lost_sigma=draw(st.floats(0.05, 2.0)),
        arrivals_per_month=[draw(st.floats(0.01, 30.0)), draw(st.floats(0.01, 30.0))],
        arrival_alpha=draw(st.sampled_from([np.inf, 0.5, 5.0])), n_draws=3,
        as_of=draw(st.sampled_from(["2026-12-31", "2026-06-15", "2027-02-28"])),
    )
    n_open = draw(st.integers(0, 25))
    pipe = pd.DataFrame({
        "segment": [SEGS[i % 2] for i in range(n_open)],
        "age_days": draw(st.lists(st.floats(0.0, 2000.0), min_size=n_open, max_size=n_open)),
        "amount": np.nan,
    })
    market = {k: draw(st.floats(0.0, 3.0)) for k in ("lead_volume", "win_rate", "deal_size")}
    market["cycle_length"] = draw(st.floats(0.2, 3.0))
    items = ", ".join(f"{k}: {v!r}" for k, v in market.items())
    text = f"name: s\nmarket: {{{items}}}\n"
    if draw(st.booleans()):
        patience = draw(st.sampled_from(["null", "5", "60"]))
        text += (f"capacity: {{reps: {draw(st.integers(0, 3))}, max_open_deals_per_rep: "
                 f"{draw(st.integers(1, 10))}, ramp_months: {draw(st.floats(0, 4))!r}, "
                 f"attrition_per_year: {draw(st.floats(0, 2))!r}, patience_days: {patience}}}\n")
    return params, pipe, parse_scenario(text), draw(st.integers(1, 14))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_flow_conservation_and_bounds_for_any_parameters(case):
    params, pipe, scenario, months = case
    ds = simulate(params, pipe, [scenario], months=months, random_seed=0, progress=False)
    closed = ds.deals_won + ds.deals_lost + ds.went_cold
    lhs = ds.initial_open + ds.new_opportunities.sum("month")
    assert (lhs == closed.sum("month") + ds.open_count_final).all()
    for v in ("deals_won", "deals_lost", "went_cold", "new_opportunities", "open_count"):
        assert (ds[v] >= 0).all(), v
    assert np.isfinite(ds.bookings).all() and (ds.bookings >= 0).all()
    assert ((ds.bookings > 0) <= (ds.deals_won > 0)).all()
    if scenario.capacity is None:
        assert (ds.went_cold == 0).all() and np.isinf(ds.capacity).all()
    else:
        assert np.isfinite(ds.capacity).all() and (ds.capacity >= 0).all()
        if scenario.market.win_rate == 0:
            assert (ds.deals_won == 0).all()
