"""The synthetic CRM generator reproduces the truth it was given."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, logit

from targetsim.errors import ConfigError
from targetsim.model.params import FunnelParams
from targetsim.synthetic import CANONICAL_COLUMNS, generate_crm, synthetic_funnel

AS_OF = "2026-12-31"


def _truth(**kw) -> FunnelParams:
    base = dict(
        p_win=[0.3, 0.5],
        p_lost=[0.5, 0.3],
        won_median_days=[40.0, 80.0],
        lost_median_days=[20.0, 30.0],
        size_median=[5_000.0, 20_000.0],
        arrivals_per_month=[300.0, 120.0],
        as_of=AS_OF,
    )
    base.update(kw)
    return FunnelParams.constant(("A", "B"), **base)


def test_columns_and_determinism():
    t = _truth()
    a = generate_crm(t, random_seed=3)
    b = generate_crm(t, random_seed=3)
    c = generate_crm(t, random_seed=4)
    assert tuple(a.columns) == CANONICAL_COLUMNS
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    assert a["opportunity_id"].is_unique
    assert (a["created_at"] <= pd.Timestamp(AS_OF)).all()
    closed = a["outcome"] != "open"
    assert a.loc[closed, "closed_at"].notna().all()
    assert a.loc[~closed, "closed_at"].isna().all()
    assert (a.loc[closed, "closed_at"] <= pd.Timestamp(AS_OF)).all()
    assert (a.loc[closed, "closed_at"] >= a.loc[closed, "created_at"]).all()
    assert a.loc[a["outcome"] == "won", "amount"].gt(0).all()


def test_counts_and_medians_match_truth():
    t = _truth()
    df = generate_crm(t, history_months=24, random_seed=1)
    as_of = pd.Timestamp(AS_OF)
    for j, seg in enumerate(t.segments):
        d = df.loc[df["segment"] == seg]
        # Arrivals: Poisson with known monthly mean over 24 full months.
        expected = 24 * np.exp(t.arrivals.log_mean(np.array([0]))[0, j, 0])
        assert abs(len(d) - expected) < 4 * np.sqrt(expected)
        # Deals older than 300 days have all closed unless stalled (lognormal tails ~0).
        old = d.loc[d["created_at"] < as_of - pd.Timedelta(days=300)]
        frac = old["outcome"].value_counts(normalize=True)
        se = np.sqrt(0.25 / len(old))
        assert abs(frac["won"] - t.p_win[0, j]) < 4 * se
        assert abs(frac["lost"] - t.p_lost[0, j]) < 4 * se
        assert abs(frac["open"] - t.p_stall[0, j]) < 4 * se
        won = old.loc[old["outcome"] == "won"]
        days = (won["closed_at"] - won["created_at"]).dt.days + 0.5
        assert np.median(days) == pytest.approx(np.exp(t.outcome.won_mu[0, j]), rel=0.1)
        lost = old.loc[old["outcome"] == "lost"]
        ldays = (lost["closed_at"] - lost["created_at"]).dt.days + 0.5
        assert np.median(ldays) == pytest.approx(np.exp(t.outcome.lost_mu[0, j]), rel=0.1)
        assert won["amount"].median() == pytest.approx(np.exp(t.size.size_mu[0, j]), rel=0.1)
        # Recent deals are mostly still open: censoring is real.
        recent = d.loc[d["created_at"] > as_of - pd.Timedelta(days=20)]
        assert (recent["outcome"] == "open").mean() > 0.6


def test_no_losses_and_negative_binomial_overdispersion():
    t = _truth(p_lost=[0.0, 0.0], arrival_alpha=2.0)
    df = generate_crm(t, history_months=36, random_seed=2)
    assert (df["outcome"] != "lost").all()
    monthly = df.loc[df["segment"] == "A"].groupby(df["created_at"].dt.to_period("M")).size()
    # NegBin(alpha=2): variance = mean + mean**2/2, far above the Poisson variance.
    assert monthly.var() > 5 * monthly.mean()


def test_owners_receive_their_effect():
    segs = ("A",)
    base = FunnelParams.constant(segs, p_win=0.4, p_lost=0.4, arrivals_per_month=800.0)
    truth = dataclasses.replace(
        base, owners=("good", "bad"),
        outcome=dataclasses.replace(base.outcome, owner_effect=np.array([[1.0, -1.0]])),
    )
    df = generate_crm(truth, history_months=24, owners_per_segment=2, random_seed=5)
    assert set(df["owner"]) == {"good", "bad"}
    old = df.loc[df["created_at"] < pd.Timestamp(truth.as_of) - pd.Timedelta(days=300)]
    rate = old.groupby("owner")["outcome"].apply(lambda s: (s == "won").mean())
    expected = expit(logit(0.4) + np.array([1.0, -1.0]))
    assert rate["good"] == pytest.approx(expected[0], abs=0.03)
    assert rate["bad"] == pytest.approx(expected[1], abs=0.03)
    with pytest.raises(ConfigError, match="owners_per_segment=3"):
        generate_crm(truth, owners_per_segment=3)


def test_synthetic_funnel_with_stages():
    t = _truth()
    f = synthetic_funnel(t, stages=True, random_seed=0)
    assert f.stages == ("qualified",)
    assert set(f.stage_steps["to_stage"]) == {"qualified", "won"}
    n = len(f.deals)
    assert n == int(f.arrivals["count"].sum())
    assert (f.deals["outcome"] == "open").sum() == len(f.open_pipeline)
    # Every won deal passed the stage before winning.
    won = f.stage_steps.loc[(f.stage_steps["to_stage"] == "won")]
    assert (won["outcome"] == "converted").sum() == (f.deals["outcome"] == "won").sum()
    assert (won.loc[won["outcome"] == "converted", "duration_days"] >= 0).all()
