"""Fast tests of the funnel model: statistics, likelihood, lifecycle, outputs, errors.

Sampling is mocked (``pymc.testing.mock_sample`` draws from the prior) wherever only the
plumbing is under test; real sampling lives in the slow tests (test_recovery.py,
test_sbc.py).
"""

from __future__ import annotations

import json
from functools import partial

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytest
from pymc.testing import mock_sample
from scipy import stats as sps
from scipy.special import expit

from targetsim.errors import ConfigError, DataError, ModelMismatchError, NotFittedError
from targetsim.model import (
    MODEL_VERSION,
    SUMMARY_COLUMNS,
    Diagnostics,
    FunnelFit,
    FunnelModel,
    ModelConfig,
    diagnose,
    fit_funnel,
    write_fit_outputs,
)
from targetsim.model.params import FunnelParams
from targetsim.model.stats import funnel_stats, history_table
from targetsim.synthetic import synthetic_funnel

TRUTH = FunnelParams.constant(
    ("A", "B"),
    p_win=[0.3, 0.5],
    p_lost=[0.5, 0.3],
    won_median_days=[40.0, 80.0],
    arrivals_per_month=[40.0, 20.0],
)


@pytest.fixture(scope="module")
def funnel():
    return synthetic_funnel(TRUTH, random_seed=1, owners_per_segment=2, stages=True)


@pytest.fixture(scope="module")
def mocked_fit(funnel):
    """A fit whose 'posterior' is prior draws: exercises everything but the sampler."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            pm,
            "sample",
            partial(mock_sample, sample_stats={"diverging": lambda size: np.zeros(size, bool)}),
        )
        return fit_funnel(funnel, draws=20, tune=5, chains=2, sampler="pymc", progress=False)


# ---------------------------------------------------------------- sufficient statistics
def test_stats_match_the_deals(funnel):
    st = funnel_stats(funnel)
    d = funnel.deals
    assert st.n_deals == len(d)
    assert st.n_won.sum() == (d["outcome"] == "won").sum()
    assert st.n_lost.sum() == (d["outcome"] == "lost").sum()
    assert st.open.count.sum() == (d["outcome"] == "open").sum()
    # Exact ages: each group's age is a whole number of days + 0.5.
    assert np.allclose(st.open.age % 1.0, 0.5)
    won_a = d.loc[(d["outcome"] == "won") & (d["segment"] == "A"), "duration_days"] + 0.5
    assert st.won_days.n[0] == len(won_a)
    assert st.won_days.s1[0] == pytest.approx(np.log(won_a).sum())
    assert st.won_days.s2[0] == pytest.approx((np.log(won_a) ** 2).sum())
    assert st.arrival_count.sum() == len(d)
    assert st.arrival_month.max() == 0  # months are counted back from the as-of month
    assert st.stages is not None and st.stages.steps == ("qualified", "won")
    # Cost is bounded by distinct (cell, age) pairs, not deals.
    assert len(st.open.count) <= len(st.cell_segment) * (d["duration_days"].max() + 1)


def test_history_table(funnel):
    h = history_table(funnel)
    seg = h.loc[h["level"] == "segment"].set_index("segment")
    d = funnel.deals
    for s in ("A", "B"):
        dd = d.loc[d["segment"] == s]
        assert seg.loc[s, "n_deals"] == len(dd)
        assert seg.loc[s, "won"] == (dd["outcome"] == "won").sum()
        won, lost = seg.loc[s, "won"], seg.loc[s, "lost"]
        assert seg.loc[s, "win_rate_closed"] == pytest.approx(won / (won + lost))
    assert seg["bookings_last_365"].to_numpy() == pytest.approx(
        funnel.bookings_last_year.to_numpy()
    )
    own = h.loc[h["level"] == "owner"]
    assert own["n_deals"].sum() == len(d)


# ---------------------------------------------------------------- likelihood = per-deal truth
LEGACY = ModelConfig(cycle="lognormal", size="lognormal", arrivals="negbin")


def _point(m, seed=0):
    rng = np.random.default_rng(seed)
    return {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in m.initial_point().items()}


def test_hazard_likelihood_equals_per_deal_computation(funnel):
    """The (segment, bin) sums give the per-deal piecewise-exponential competing risks."""
    from targetsim.model.components.hazard import hazard_edges

    model = FunnelModel()
    m = model.build_model(funnel)
    outs = m.replace_rvs_by_values([m["hz_deals"], m["hz_log_h"], m["owner_effect"]])
    fn = m.compile_fn(outs, inputs=m.value_vars, on_unused_input="ignore")
    ll, log_h, owner_eff = fn(_point(m))
    edges = hazard_edges(funnel_stats(funnel), ModelConfig())
    assert edges[-1] == np.floor(funnel.deals.loc[funnel.deals["outcome"] != "open",
                                                  "duration_days"].max() + 0.5) + 1
    d = funnel.deals
    seg = d["segment"].map({"A": 0, "B": 1}).to_numpy()
    own = d["owner"].map({o: i for i, o in enumerate(funnel.owners)}).to_numpy()
    t = d["duration_days"].to_numpy() + 0.5
    out = d["outcome"].to_numpy()
    total = 0.0
    for i in range(len(d)):  # one deal at a time, bin by bin: no sums shared with the model
        hw = np.exp(log_h[0, seg[i]] + owner_eff[own[i]])
        hl = np.exp(log_h[1, seg[i]])
        for j in range(len(edges) - 1):
            at_risk = min(max(t[i] - edges[j], 0.0), edges[j + 1] - edges[j])
            total -= (hw[j] + hl[j]) * at_risk
            if edges[j] <= t[i] < edges[j + 1]:
                total += np.log(hw[j]) if out[i] == "won" else (
                    np.log(hl[j]) if out[i] == "lost" else 0.0)
    assert float(ll) == pytest.approx(total, rel=1e-9)


def test_lognormal_likelihood_equals_per_deal_computation(funnel):
    """The legacy components' sufficient statistics equal the per-deal likelihood."""
    model = FunnelModel(LEGACY)
    m = model.build_model(funnel)
    outs = m.replace_rvs_by_values([
        m["outcome_deals"], m["size_deals"], m["stage_deals"], m["outcome_theta"],
        m["size_theta"], m["stage_theta"], m["owner_effect"], m["step_params"],
    ])
    fn = m.compile_fn(outs, inputs=m.value_vars, on_unused_input="ignore")
    ll_o, ll_s, ll_st, theta, size_th, stage_th, owner_eff, sp = fn(_point(m))
    d = funnel.deals
    seg = d["segment"].map({"A": 0, "B": 1}).to_numpy()
    own = d["owner"].map({o: i for i, o in enumerate(funnel.owners)}).to_numpy()
    a = theta[0, seg] + owner_eff[own]
    pw = expit(a)
    pl = (1 - pw) * expit(theta[1, seg])
    ps = 1 - pw - pl
    t = d["duration_days"].to_numpy() + 0.5
    won_d = sps.lognorm(s=np.exp(theta[3, seg]), scale=np.exp(theta[2, seg]))
    lost_d = sps.lognorm(s=np.exp(theta[5, seg]), scale=np.exp(theta[4, seg]))
    out = d["outcome"].to_numpy()
    # Open deals older than the longest closed cycle are abandoned: stall branch only.
    longest = d.loc[d["outcome"] != "open", "duration_days"].max()
    stale = (out == "open") & (d["duration_days"].to_numpy() > longest)
    assert stale.sum() > 0  # the rule is exercised
    per_deal = np.where(
        out == "won", np.log(pw) + won_d.logpdf(t),
        np.where(out == "lost", np.log(pl) + lost_d.logpdf(t),
                 np.where(stale, np.log(ps),
                          np.log(pw * won_d.sf(t) + pl * lost_d.sf(t) + ps))),
    ).sum()
    assert float(ll_o) == pytest.approx(per_deal, rel=1e-9)
    w = d["outcome"] == "won"
    size_d = sps.lognorm(s=np.exp(size_th[1, seg[w]]), scale=np.exp(size_th[0, seg[w]]))
    assert float(ll_s) == pytest.approx(size_d.logpdf(d.loc[w, "amount"].to_numpy()).sum(),
                                        rel=1e-9)
    # Funnel steps: the same competing risk per (step, segment).
    rows = [str(r) for r in m.coords["stage_theta_param"]]
    row = {n: i for i, n in enumerate(rows)}
    stp = funnel.stage_steps
    k = stp["step"].to_numpy(dtype=int)
    s2 = stp["segment"].map({"A": 0, "B": 1}).to_numpy()
    c = stage_th[np.array([row[f"stage_logit:{x}"] for x in ("qualified", "won")])[k], s2]
    mu = stage_th[np.array([row[f"stage_log_days:{x}"] for x in ("qualified", "won")])[k], s2]
    pc = expit(c)
    plk = (1 - pc) * expit(sp[0, k])
    conv_d = sps.lognorm(s=np.exp(sp[1, k]), scale=np.exp(mu))
    lost_k = sps.lognorm(s=np.exp(sp[3, k]), scale=np.exp(sp[2, k]))
    tt = stp["duration_days"].to_numpy(dtype=float) + 0.5
    o2 = stp["outcome"].to_numpy()
    per_step = np.where(
        o2 == "converted", np.log(pc) + conv_d.logpdf(tt),
        np.where(o2 == "lost", np.log(plk) + lost_k.logpdf(tt),
                 np.log(pc * conv_d.sf(tt) + plk * lost_k.sf(tt) + (1 - pc - plk))),
    ).sum()
    assert float(ll_st) == pytest.approx(per_step, rel=1e-9)


# ---------------------------------------------------------------- lifecycle and config
def test_lifecycle_errors_name_the_method(funnel):
    model = FunnelModel()
    with pytest.raises(NotFittedError, match="build_model"):
        model.fit(draws=10)
    model.build_model(funnel)
    with pytest.raises(NotFittedError, match=r"fit\(\)"):
        _ = model.idata
    with pytest.raises(ConfigError, match="sampler"):
        model.fit(sampler="gibbs")
    with pytest.raises(ConfigError, match="draws"):
        model.fit(draws=0)


def test_config_is_declarative_and_hashed():
    cfg = ModelConfig()
    assert FunnelModel.default_model_config == cfg
    assert cfg.won_log_days.mu == pytest.approx(np.log(60.0))
    assert (cfg.cycle, cfg.size, cfg.arrivals) == ("hazard", "empirical", "trend_shift")
    other = ModelConfig.from_dict({"win_logit": {"mu": -1.0, "sigma": 1.0}})
    assert other.win_logit.mu == -1.0
    assert other.config_hash() != cfg.config_hash()
    assert ModelConfig.from_dict(json.loads(cfg.model_dump_json())).config_hash() == (
        cfg.config_hash()
    )
    with pytest.raises(ConfigError, match="win_logit"):
        ModelConfig.from_dict({"win_logit": {"mu": 0.0, "sigma": -1.0}})
    with pytest.raises(ConfigError, match="no_such_prior"):
        ModelConfig.from_dict({"no_such_prior": {"mu": 0.0}})
    with pytest.raises(ConfigError, match="cycle"):
        ModelConfig.from_dict({"cycle": "weibull"})
    assert ModelConfig.from_dict({"cycle": "lognormal"}).config_hash() != cfg.config_hash()


def test_parameterisation_follows_the_data():
    """Heterogeneous data-rich segments are centred, homogeneous ones non-centred."""
    het = FunnelParams.constant(
        ("A", "B", "C"), p_win=[0.2, 0.4, 0.6], won_median_days=[20.0, 60.0, 150.0],
        arrivals_per_month=[200.0, 200.0, 200.0],
    )
    from targetsim.model.components.lognormal import OUTCOME_ROWS

    model = FunnelModel(LEGACY)
    model.build_model(synthetic_funnel(het, random_seed=2))
    row = {n: i for i, n in enumerate(OUTCOME_ROWS)}
    mask = model.model["outcome_theta_centred"].get_value()
    assert mask[row["win_logit"]].all()
    assert mask[row["won_log_days"]].all()
    hom = FunnelParams.constant(("A", "B", "C"), p_win=0.4, arrivals_per_month=30.0)
    model.build_model(synthetic_funnel(hom, random_seed=2))
    assert not model.model["outcome_theta_centred"].get_value()[row["won_log_days"]].any()


def test_empty_data_is_a_data_error(funnel):
    empty = type(funnel)(**{**funnel.__dict__, "deals": funnel.deals.iloc[:0]})
    with pytest.raises(DataError, match="no opportunities"):
        FunnelModel().build_model(empty)


# ---------------------------------------------------------------- outputs (mocked sampling)
def test_summary_contract(mocked_fit, funnel):
    s = mocked_fit.summary()
    assert tuple(s.columns) == SUMMARY_COLUMNS
    for p in ("win_rate", "cycle_days_median", "deal_size_median", "arrivals_per_month"):
        rows = s.loc[s["parameter"] == p]
        assert set(rows["segment"]) == {"A", "B"}
        assert (rows["stage"] == "").all()
    conv = s.loc[s["parameter"] == "conversion"]
    assert set(conv["stage"]) == {"qualified", "won"}
    assert (s["q05"] <= s["q50"]).all() and (s["q50"] <= s["q95"]).all()
    # cycle_days_median is the median time to a win among wins, per draw.
    q = mocked_fit.params().outcome.won_quantile(0.5)[:, 0]
    got = s.loc[(s["segment"] == "A") & (s["parameter"] == "cycle_days_median"), "q50"]
    assert got.iloc[0] == pytest.approx(float(np.quantile(q, 0.5)))


def test_params_maps_the_posterior(mocked_fit):
    p = mocked_fit.params()
    assert p.n_draws == 40 and p.segments == ("A", "B")
    assert p.p_win.shape == (40, 2) and p.arrivals.log_rate.shape[:2] == (40, 2)
    assert np.all((p.p_win + p.p_lost) <= 1 + 1e-12)
    assert p.owners == mocked_fit.owners and p.owner_effect.shape == (40, 4)
    assert np.allclose(p.owner_share.sum(axis=1), 1.0)
    # Owners of segment A only sell in A.
    a_owners = [i for i, o in enumerate(p.owners) if o.startswith("A-")]
    assert p.owner_share[1, a_owners].sum() == 0
    sub = mocked_fit.params(n_draws=7, random_seed=3)
    assert sub.n_draws == 7
    assert np.array_equal(sub.p_win, mocked_fit.params(n_draws=7, random_seed=3).p_win)
    big = mocked_fit.params(n_draws=100)
    assert big.n_draws == 100
    with pytest.raises(ConfigError):
        mocked_fit.params(n_draws=0)


def test_save_load_roundtrip(mocked_fit, tmp_path):
    paths = write_fit_outputs(mocked_fit, tmp_path / "out")
    assert {p.name for p in paths.values()} == {"fit.nc", "fit_summary.csv", "diagnostics.json"}
    diag = json.loads(paths["diagnostics"].read_text())
    assert {"rhat_max", "ess_bulk_min", "divergences", "converged"} <= set(diag)
    assert list(pd.read_csv(paths["summary"]).columns) == list(SUMMARY_COLUMNS)
    back = FunnelFit.load(paths["fit"])
    assert back.segments == mocked_fit.segments and back.owners == mocked_fit.owners
    assert back.stages == mocked_fit.stages and back.as_of == mocked_fit.as_of
    assert back.config_hash == mocked_fit.config_hash and back.seed == mocked_fit.seed
    assert back.diagnostics == mocked_fit.diagnostics
    pd.testing.assert_frame_equal(back.open_pipeline, mocked_fit.open_pipeline, check_dtype=False)
    pd.testing.assert_frame_equal(back.history, mocked_fit.history, check_dtype=False)
    assert back.open_pipeline["owner"].map(type).eq(str).all()
    np.testing.assert_allclose(back.params().p_win, mocked_fit.params().p_win)
    pd.testing.assert_frame_equal(back.summary(), mocked_fit.summary())
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_load_rejects_other_model_versions(mocked_fit, tmp_path, monkeypatch):
    path = mocked_fit.save(tmp_path / "fit.nc")
    import targetsim.model.fit as fitmod

    monkeypatch.setattr(fitmod, "MODEL_VERSION", "funnel-999")
    with pytest.raises(ModelMismatchError, match=f"model version '{MODEL_VERSION}'"):
        FunnelFit.load(path)
    monkeypatch.undo()
    with pytest.raises(DataError, match="no such fit file"):
        FunnelFit.load(tmp_path / "missing.nc")
    junk = tmp_path / "junk.nc"
    junk.write_text("not a netcdf file")
    with pytest.raises(DataError, match="not a readable fit"):
        FunnelFit.load(junk)


def test_mocked_fit_is_seeded(funnel):
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pm, "sample", partial(
            mock_sample, sample_stats={"diverging": lambda size: np.zeros(size, bool)}
        ))
        a = fit_funnel(funnel, draws=10, chains=2, sampler="pymc", random_seed=5, progress=False)
        b = fit_funnel(funnel, draws=10, chains=2, sampler="pymc", random_seed=5, progress=False)
    np.testing.assert_array_equal(a.idata.posterior["hz_curve"], b.idata.posterior["hz_curve"])


def test_normal_survival_is_exact_far_into_the_tail():
    """The JAX-friendly survival matches scipy where open deals are old (z up to 30)."""
    import pytensor.tensor as pt

    from targetsim.model.components.common import normal_sf

    x = np.linspace(-8.0, 30.0, 2001)
    got = normal_sf(pt.constant(0.0), pt.constant(1.0), pt.constant(x)).eval()
    want = sps.norm.sf(x)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-300)


def test_between_segment_spread_recovers_a_known_spread():
    """DerSimonian-Laird: unbiased-ish tau from noisy estimates, 0 for pure noise."""
    from targetsim.model.components.common import between_sd as _between_sd

    rng = np.random.default_rng(0)
    se = rng.uniform(0.05, 0.5, 400)
    true = rng.normal(0.0, 0.3, 400)
    assert _between_sd(true + se * rng.standard_normal(400), se) == pytest.approx(0.3, rel=0.15)
    assert _between_sd(se * rng.standard_normal(400), se) < 0.05
    # One small, far-off segment does not make six tight, precise ones look spread.
    est = np.array([3.5, 3.37, 3.39, 3.36, 3.38, 3.37, 3.36])
    se7 = np.array([0.6, 0.04, 0.04, 0.04, 0.04, 0.04, 0.04])
    assert _between_sd(est, se7) < 0.04


def test_short_history_leaves_trend_and_seasonality_out_of_the_graph(funnel):
    """Under 24 months of arrivals nothing but the prior would inform them: not sampled."""
    model = FunnelModel(LEGACY)
    model.build_model(funnel)
    free = {v.name for v in model.model.free_RVs}
    assert "season_z" not in free and "season_scale" not in free
    assert "arrival_trend" not in model.model.coords["arrival_theta_param"]
    assert "arrival_trend" in model.model.named_vars  # still there for the simulator: 0
    short = LEGACY.model_copy(update={"trend_min_months": 2, "season_min_months": 12})
    model = FunnelModel(short)
    model.build_model(funnel)
    free = {v.name for v in model.model.free_RVs}
    assert "arrival_trend" in model.model.coords["arrival_theta_param"]
    assert "season_z" in free


def test_stale_rule_defaults_to_the_longest_closed_cycle(funnel):
    """Open deals older than any closed one only have the stall branch (and are flagged)."""
    from targetsim.model.components.lognormal import stale_after_days

    st = funnel_stats(funnel)
    d = funnel.deals
    longest = d.loc[d["outcome"].isin(["won", "lost"]), "duration_days"].max()
    assert st.max_closed_days == longest
    assert stale_after_days(ModelConfig(), st) == longest
    assert stale_after_days(ModelConfig(stale_after_days=None), st) == np.inf
    assert stale_after_days(ModelConfig(stale_after_days=90), st) == 90.0
    with pytest.raises(ConfigError):
        ModelConfig.from_dict({"stale_after_days": -3})


def test_stale_open_deals_only_speak_for_the_stall_branch(funnel):
    """An abandoned deal's likelihood term is log p_stall, whatever the cycle parameters."""
    cfg = LEGACY.model_copy(update={"stale_after_days": 10.0})
    model = FunnelModel(cfg)
    model.build_model(funnel)
    assert model.meta["stale_after_days"] == 10.0
    alive = model.model["outcome_surv_alive"].get_value()
    assert 0 < alive.sum() < len(alive)  # young deals keep their survival terms
    free = FunnelModel(LEGACY.model_copy(update={"stale_after_days": None}))
    free.build_model(funnel)
    assert free.model["outcome_surv_alive"].get_value().all()
    # The hazard component's last bin edge plays the same part.
    from targetsim.model.components.hazard import hazard_edges

    st = funnel_stats(funnel)
    assert hazard_edges(st, ModelConfig(stale_after_days=90.0))[-1] == 90.0


@pytest.mark.slow
def test_one_segment_fit_converges():
    """No segment column: one segment, no segment deviations in the graph."""
    one = FunnelParams.constant(("all",), p_win=0.35, p_lost=0.45, arrivals_per_month=60.0)
    f = synthetic_funnel(one, random_seed=8)
    fit = fit_funnel(f, random_seed=2, progress=False)
    assert "hz_won_segment_raw" not in fit.idata.posterior
    assert fit.diagnostics.divergences == 0, fit.diagnostics.problems
    assert fit.diagnostics.rhat_max < 1.02
    s = fit.summary().set_index("parameter")
    assert s.loc["win_rate", "q05"] < 0.35 < s.loc["win_rate", "q95"]


@pytest.mark.slow
def test_real_nutpie_fit_is_reproducible_bit_for_bit():
    """Same data and seed: the same posterior, to the last bit (JAX backend, 2 chains)."""
    small = FunnelParams.constant(("A", "B"), p_win=[0.3, 0.5], arrivals_per_month=15.0)
    f = synthetic_funnel(small, random_seed=4)
    a = fit_funnel(f, draws=60, tune=60, chains=2, random_seed=11, progress=False)
    b = fit_funnel(f, draws=60, tune=60, chains=2, random_seed=11, progress=False)
    c = fit_funnel(f, draws=60, tune=60, chains=2, random_seed=12, progress=False)
    np.testing.assert_array_equal(a.idata.posterior["hz_log_h"], b.idata.posterior["hz_log_h"])
    assert not np.array_equal(a.idata.posterior["hz_log_h"], c.idata.posterior["hz_log_h"])
    pa, pb = a.params(50, random_seed=1), b.params(50, random_seed=1)
    np.testing.assert_array_equal(pa.size.slices, pb.size.slices)
    np.testing.assert_array_equal(pa.arrivals.log_rate, pb.arrivals.log_rate)


# ---------------------------------------------------------------- diagnostics gate
def _fake_idata(shift: float, diverging: int = 0, n: int = 400) -> az.InferenceData:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, n))
    x[1] += shift
    div = np.zeros((2, n), dtype=bool)
    div[0, :diverging] = True
    return az.from_dict(
        posterior={"hyper_mean": x, "theta": rng.standard_normal((2, n, 3))},
        sample_stats={"diverging": div},
    )


def test_gate_passes_well_mixed_chains():
    d = diagnose(_fake_idata(0.0))
    assert isinstance(d, Diagnostics)
    assert d.converged and d.problems == () and d.divergences == 0
    assert d.rhat_max < 1.01 and d.ess_bulk_min > 200


def test_gate_names_the_offending_parameter():
    d = diagnose(_fake_idata(1.0, diverging=3))
    assert not d.converged
    assert d.divergences == 3
    text = " ".join(d.problems)
    assert "R-hat" in text and "hyper_mean" in text and "--tune" in text
    assert "3 divergent" in text
    assert d.to_dict()["converged"] is False
    assert Diagnostics.from_dict(d.to_dict()) == d
