"""The calibration benchmark's ground truth (benchmarks/truthgen.py) and a small grid of it.

Part (a) checks the generators and the truth against things computed without them: the
exports' win rates, cycle medians, arrival counts, owner shares and deal sizes against the
declared spec; the truth against closed forms (exponential cycles are memoryless) and
against the latent future of the generator itself (the outcome that "happened" is one
draw of the distribution the truth computes, so its PIT is uniform over data sets). Each
check has its failure mode next to it, shown to be caught: a truth that forgets the thin
month's unrecorded deals, arrival dynamics ignored by the expected counts.

Part (b) runs the real product on a small grid (see :func:`test_product_grid`).

Tolerances are four standard errors unless stated; every data set comes from a fixed
seed, so the checks are deterministic.
"""

from __future__ import annotations

import ast
import importlib.util
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str) -> ModuleType:
    """A module of benchmarks/ by its path (benchmarks/ is not a package)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


tg = _load("truthgen")


def _z(observed: float, expected: float, sd: float) -> float:
    return (observed - expected) / sd


# --------------------------------------------------------------------------- independence


def test_truthgen_does_not_use_targetsim():
    tree = ast.parse((BENCH / "truthgen.py").read_text())
    roots = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    roots |= {n.module.split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom) and n.module}
    assert "targetsim" not in roots
    path = str(BENCH / "truthgen.py")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('truthgen', {path!r})\n"
        "m = importlib.util.module_from_spec(spec); sys.modules['truthgen'] = m\n"
        "spec.loader.exec_module(m)\n"
        "d = m.generate(m.catalogue()['outside_families'], 1)\n"
        "m.truth_of(d, reps=10)\n"
        "bad = [k for k in sys.modules if k.startswith('targetsim')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_catalogue_covers_the_issue():
    cat = tg.catalogue()
    assert len(cat) >= 17
    families = {type(s.won_cycle).__name__ for g in cat.values() for s in g.segments}
    assert {"LogNormal", "Weibull", "Gamma", "LogLogistic", "Mixture"} <= families
    sizes = {type(s.size).__name__ for g in cat.values() for s in g.segments}
    assert {"LogNormal", "Gamma", "ListPrices"} <= sizes
    for g in cat.values():
        assert 18 <= g.history_months <= 30, g.name
        assert 3 <= len(g.segments) <= 6, g.name
    assert not any(s.p_no_decision for s in cat["lognormal_no_stall"].segments)
    assert min(s.p_no_decision for s in cat["many_stalls"].segments) >= 0.3
    outside = cat["outside_families"]
    assert outside.history_months == 30 and outside.arrivals.growth == 0.01
    small = [s for s in cat["small_segments"].segments
             if s.rate * cat["small_segments"].history_months < 50]
    assert len(small) >= 2


# --------------------------------------------------------------------------- the exports


@pytest.fixture(scope="module")
def long_core():
    """The model's own families over 36 months (enough closed cohorts to measure)."""
    gen = replace(tg.catalogue()["lognormal_core"], history_months=36)
    return gen, tg.generate(gen, 11)


def test_export_is_canonical(long_core, tmp_path):
    gen, data = long_core
    e = data.export
    assert list(e.columns) == list(tg.EXPORT_COLUMNS)
    assert e["opportunity_id"].is_unique
    assert set(e["outcome"]) == {"won", "lost", "open"}
    is_open = e["outcome"].eq("open")
    assert e["closed_at"].isna().eq(is_open).all()
    assert (e["created_at"] <= data.as_of).all() and (e["closed_at"].dropna() <= data.as_of).all()
    closed = e.loc[~is_open]
    assert ((closed["closed_at"] - closed["created_at"]).dt.days >= 1).all()
    assert e.loc[e["outcome"].eq("won"), "amount"].notna().all()
    for outcome, share in (("lost", gen.export.lost_amount_missing),
                           ("open", gen.export.open_amount_missing)):
        miss = e.loc[e["outcome"].eq(outcome), "amount"].isna()
        assert abs(_z(miss.mean(), share, math.sqrt(share * (1 - share) / len(miss)))) < 4
    # Open deals show the real value times log-normal noise.
    est = e.loc[is_open].merge(data.latent[["opportunity_id", "value"]])
    est = est.dropna(subset=["amount"])
    log_ratio = np.log(est["amount"] / est["value"])
    assert abs(log_ratio.mean()) < 4 * gen.export.open_amount_noise / math.sqrt(len(est))
    assert abs(log_ratio.std() / gen.export.open_amount_noise - 1) < 0.15
    # The open pipeline the truth conditions on is the export's open deals.
    assert sorted(data.state.open_deals["opportunity_id"]) == sorted(e.loc[is_open,
                                                                           "opportunity_id"])
    # A round trip through the CSV keeps every value.
    back = pd.read_csv(data.write_csv(tmp_path / "x.csv"), parse_dates=["created_at",
                                                                        "closed_at"])
    assert len(back) == len(e) and back["amount"].isna().sum() == e["amount"].isna().sum()
    for col in ("created_at", "closed_at"):
        pd.testing.assert_series_equal(back[col].astype("datetime64[ns]"),
                                       e[col].astype("datetime64[ns]"))
    np.testing.assert_allclose(back["amount"], e["amount"].round(2))


def _median_tolerance(median: float, sigma: float, n: int) -> float:
    """Four standard errors of a log-normal sample median, plus a day of rounding."""
    return 4 * median * sigma * math.sqrt(math.pi / 2 / n) + 1.0


def test_export_matches_segment_spec(long_core):
    gen, data = long_core
    e = data.export
    days = (e["closed_at"] - e["created_at"]).dt.days
    # Cohorts old enough for (practically) every deal to have closed if it ever will.
    old = e["created_at"] <= data.as_of - pd.Timedelta(days=500)
    for seg in gen.segments:
        mine = e["segment"].eq(seg.name)
        cohort = e.loc[mine & old]
        p = gen.segment_win_rate(seg)
        won_share = cohort["outcome"].eq("won").mean()
        assert abs(_z(won_share, p, math.sqrt(p * (1 - p) / len(cohort)))) < 4, seg.name
        q = seg.p_lost
        lost_share = cohort["outcome"].eq("lost").mean()
        assert abs(_z(lost_share, q, math.sqrt(q * (1 - q) / len(cohort)))) < 4, seg.name
        for outcome, dist in (("won", seg.won_cycle), ("lost", seg.lost_cycle)):
            d = days[mine & old & e["outcome"].eq(outcome)]
            tol = _median_tolerance(dist.q50(), dist.sigma, len(d))
            assert abs(d.median() - dist.q50()) < tol, (seg.name, outcome)
        amounts = e.loc[mine & e["outcome"].eq("won"), "amount"]
        tol = _median_tolerance(seg.size.q50(), seg.size.sigma, len(amounts))
        assert abs(amounts.median() - seg.size.q50()) < tol, seg.name
        n = int(mine.sum())
        expected = seg.rate * gen.history_months
        assert abs(_z(n, expected, math.sqrt(expected))) < 4, seg.name
        shares = e.loc[mine, "owner"].value_counts().reindex(list(seg.owner_names))
        assert stats.chisquare(shares.to_numpy(), seg.owner_shares * n).pvalue > 1e-3


def test_owner_skill_moves_win_rates():
    gen = replace(tg.catalogue()["owner_skill"], history_months=60)
    data = tg.generate(gen, 5)
    e = data.export
    old = e.loc[e["created_at"] <= data.as_of - pd.Timedelta(days=500)]
    for seg in gen.segments:
        probs = gen.owner_probabilities(seg)
        for i, owner in enumerate(seg.owner_names):
            deals = old.loc[old["segment"].eq(seg.name) & old["owner"].eq(owner)]
            p = probs[i, 0]
            assert abs(_z(deals["outcome"].eq("won").mean(), p,
                          math.sqrt(p * (1 - p) / len(deals)))) < 4, (seg.name, owner)
    # The skills really differ: the best and the worst rep of Direct are far apart.
    direct = gen.owner_probabilities(gen.segments[0])[:, 0]
    assert direct.max() - direct.min() > 0.3


def test_list_prices_are_list_prices_with_small_discounts():
    gen = tg.catalogue()["list_prices"]
    data = tg.generate(gen, 2)
    won = data.export.loc[data.export["outcome"].eq("won")]
    for seg in gen.segments:
        amounts = won.loc[won["segment"].eq(seg.name), "amount"].to_numpy()
        prices = np.asarray(seg.size.prices)
        ok = ((amounts[:, None] <= prices + 0.01)
              & (amounts[:, None] >= prices * (1 - seg.size.max_discount) - 0.01)).any(axis=1)
        assert ok.all(), seg.name
        assert len(np.unique(np.round(amounts))) > 10  # discounted, not a single value


def _monthly_totals(data) -> np.ndarray:
    gen = data.generator
    months = data.export["created_at"].dt.to_period("M")
    counts = months.value_counts()
    return np.array([counts.get(gen.first_month + k, 0) for k in range(gen.history_months)])


def _expected_totals(gen, dynamics: bool = True) -> np.ndarray:
    months = [gen.first_month + k for k in range(gen.history_months)]
    flat = replace(gen, arrivals=tg.ArrivalSpec(), export=tg.ExportSpec())
    g = gen if dynamics else flat
    lam = sum(g.monthly_rate(s, months) for s in g.segments)
    ramp = np.array([g.recorded_share(k) for k in range(g.history_months)])
    return lam * ramp


@pytest.mark.parametrize("name", ["growth", "decline", "q4_peak", "level_shift",
                                  "export_artefacts"])
def test_arrival_dynamics_show_in_the_export(name):
    """Monthly counts follow the declared rate (chi-square), and not a flat one."""
    gen = tg.catalogue()[name]
    n = _monthly_totals(tg.generate(gen, 3))
    for dynamics, check in ((True, lambda p: p > 1e-3), (False, lambda p: p < 1e-4)):
        e = _expected_totals(gen, dynamics)
        x2 = float(np.sum((n - e) ** 2 / e))
        assert check(stats.chi2.sf(x2, len(n))), (name, dynamics, x2)


def test_overdispersed_arrivals_are_overdispersed():
    gen = tg.catalogue()["overdispersed"]
    n = _monthly_totals(tg.generate(gen, 3))
    e = _expected_totals(gen)
    assert stats.chi2.sf(float(np.sum((n - e) ** 2 / e)), len(n)) < 1e-6
    plain = replace(gen, arrivals=tg.ArrivalSpec())
    n = _monthly_totals(tg.generate(plain, 3))
    assert stats.chi2.sf(float(np.sum((n - e) ** 2 / e)), len(n)) > 1e-3


# --------------------------------------------------------------------------- distributions


@pytest.mark.parametrize("dist", [
    tg.LogNormal(45.0, 0.7), tg.Weibull(1.8, 60.0), tg.Gamma(3.0, 50.0),
    tg.LogLogistic(40.0, 2.2), tg.Exponential(30.0),
    tg.Mixture((tg.Uniform(0.0, 10.0), tg.Weibull(4.0, 90.0)), (0.35, 0.65)),
], ids=lambda d: type(d).__name__)
def test_sample_after_is_the_conditional_law(dist):
    """``X | X > a`` by inverse survival against the exact conditional CDF (KS)."""
    rng = np.random.default_rng(0)
    for a in (0.0, 5.0, 60.0, 150.0):
        x = dist.sample_after(rng, np.full(4000, a))
        assert (x > a).all()
        log_sa = float(dist.logsf(np.array(a)))
        cdf = lambda t, log_sa=log_sa: 1.0 - np.exp(dist.logsf(t) - log_sa)  # noqa: E731
        assert stats.kstest(x, cdf).pvalue > 1e-3, a
    u = dist.sample(rng, 4000)
    assert stats.kstest(u, lambda t: 1.0 - np.exp(dist.logsf(t))).pvalue > 1e-3
    assert abs(np.median(u) / dist.q50() - 1) < 0.1


# --------------------------------------------------------------------------- the truth


def _one_segment(won, lost, p_win, p_lost, rate=10.0, size=None):
    seg = tg.Segment("S", rate, p_win, p_lost, won, lost, size or tg.LogNormal(1000.0, 0.5),
                     (("rep", 1.0),))
    return tg.Generator("exact", "one segment", (seg,), (tg.Owner("rep"),), history_months=12,
                        as_of="2025-12-31")


def test_truth_matches_closed_form_with_exponential_cycles():
    """Memoryless cycles: the open pipeline's and the new deals' wins in closed form."""
    mu_w, mu_l, p_w, p_l = 30.0, 15.0, 0.4, 0.4
    gen = _one_segment(tg.Exponential(mu_w), tg.Exponential(mu_l), p_w, p_l)
    ages = np.array([0, 5, 30, 90, 200, 1000])
    values = np.array([1000.0, 2000.0, 500.0, 8000.0, 3000.0, 10_000.0])
    pipeline = pd.DataFrame({"segment": "S", "owner": "rep", "age_days": ages, "value": values})
    state = tg.ObservedState(gen.as_of_date, pipeline, {"S": 10})
    truth = tg.true_outcomes(gen, state, reps=20_000, seed=1)

    horizon = tg.horizon_months(gen.as_of_date)
    d0 = tg._day(gen.as_of_date)
    end = tg._day(horizon[-1] + 1) - d0  # close day offset past the horizon
    for period, last in (("FY", end - 1), ("2026-Q1", tg._day(horizon[3]) - d0 - 1)):
        # Open deal: wins with q = p_w S_w(a) / (...), then closes within n days w.p.
        # 1 - exp(-n / mu_w) whatever its age.
        s_w, s_l = np.exp(-ages / mu_w), np.exp(-ages / mu_l)
        q = p_w * s_w / (p_w * s_w + p_l * s_l + (1 - p_w - p_l))
        pi = q * (1 - math.exp(-last / mu_w))
        # New deal created on day c (offset from d0) closes by `last` w.p. 1 - exp(-(last-c)/mu)
        new_mean = 0.0
        for m in horizon:
            c = np.arange(tg._day(m), tg._day(m + 1)) - d0
            c = c[c <= last]
            new_mean += 10.0 * p_w * float(np.sum(1 - np.exp(-(last - c) / mu_w))) / m.days_in_month
        wins = truth.outcome("deals_won", "total", period)
        mean, var = pi.sum() + new_mean, float(np.sum(pi * (1 - pi))) + new_mean
        assert abs(_z(wins.mean(), mean, math.sqrt(var / len(wins)))) < 4, period
        assert abs(wins.var() / var - 1) < 0.05, period
        book = truth.outcome("bookings", "total", period)
        size_mean = 1000.0 * math.exp(0.5**2 / 2)
        size_m2 = 1000.0**2 * math.exp(2 * 0.5**2)
        b_mean = float(np.sum(pi * values)) + new_mean * size_mean
        b_var = float(np.sum(pi * (1 - pi) * values**2)) + new_mean * size_m2
        assert abs(_z(book.mean(), b_mean, math.sqrt(b_var / len(book)))) < 4, period


def test_truth_is_conditional_on_age():
    """A deal open long past a bounded Weibull tail is a no-decision deal: it never wins."""
    gen = _one_segment(tg.Weibull(3.0, 60.0), tg.Weibull(3.0, 40.0), 0.3, 0.5, rate=1e-9)
    seg = gen.segments[0]
    q = tg.open_win_probability(gen, seg, np.array(["rep"] * 3), np.array([0, 60, 400]))
    assert q[0] == pytest.approx(0.3)
    s_w, s_l = math.exp(-1.0), math.exp(-(60 / 40) ** 3)
    assert q[1] == pytest.approx(0.3 * s_w / (0.3 * s_w + 0.5 * s_l + 0.2))
    assert q[2] < 1e-100
    wins = {}
    for age in (400, 0):
        pipe = pd.DataFrame({"segment": ["S"], "owner": ["rep"], "age_days": [age],
                             "value": [1.0]})
        wins[age] = tg.true_outcomes(gen, tg.ObservedState(gen.as_of_date, pipe, {"S": 0}),
                                     reps=4000, seed=2).outcome("deals_won", "total", "FY")
    # Whatever fate the deal was generated with, the truth never wins it at 400 days...
    assert wins[400].sum() == 0
    # ...while a fresh deal is won with p_win, within the 365-day horizon (far past the
    # Weibull(3, 60) tail).
    assert abs(_z(wins[0].mean(), 0.3, math.sqrt(0.3 * 0.7 / 4000))) < 4


def _all_features():
    """Every mechanism at once: owners of different skill, fast/slow and Weibull cycles,
    stalls, growth, season, negative-binomial arrivals, CRM ramp-up and a thin last month."""
    base = tg.catalogue()["owner_skill"]
    fast_slow = tg.Mixture((tg.Uniform(0.0, 10.0), tg.Weibull(4.0, 99.0)), (0.35, 0.65))
    segs = tuple(replace(s, rate=s.rate / 4, p_lost=s.p_lost - 0.1, won_cycle=fast_slow,
                         lost_cycle=tg.Weibull(1.3, 53.0)) for s in base.segments)
    return replace(base, name="all_features", history_months=14, segments=segs,
                   arrivals=tg.ArrivalSpec(growth=0.02, season=tg.Q4_PEAK, dispersion=4.0),
                   export=tg.ExportSpec(ramp=(0.2, 0.6), thin_last_month=0.3))


def test_truth_agrees_with_the_latent_future():
    """The future the generator itself draws is one replication of the truth.

    Over 120 data sets, the PIT of the realised FY deals won under the truth must be
    uniform and the realised minus the truth's mean centred on zero. A truth that drops
    the thin last month's unrecorded deals (which the export does not show but which do
    close) fails both.
    """
    gen = _all_features()
    blind = replace(gen, export=replace(gen.export, thin_last_month=1.0))
    rng = np.random.default_rng(0)
    pits = {"truth": [], "blind": []}
    diffs = {"truth": [], "blind": []}
    for seed in range(120):
        data = tg.generate(gen, 1000 + seed, future_months=12)
        y = tg.realised_outcomes(data).outcome("deals_won", "total", "FY")[0]
        for label, g in (("truth", gen), ("blind", blind)):
            x = tg.true_outcomes(g, data.state, reps=300, seed=seed).outcome(
                "deals_won", "total", "FY")
            pits[label].append(np.mean(x < y) + rng.uniform() * np.mean(x == y))
            diffs[label].append((y - x.mean()) / x.std())
    assert stats.kstest(pits["truth"], "uniform").pvalue > 1e-3
    assert abs(np.mean(diffs["truth"])) < 4 * np.std(diffs["truth"]) / math.sqrt(120)
    assert stats.kstest(pits["blind"], "uniform").pvalue < 1e-4
    assert np.mean(diffs["blind"]) > 4 * np.std(diffs["blind"]) / math.sqrt(120)


def test_truth_periods_follow_the_calendar():
    gen = tg.catalogue()["q4_peak"]  # as of 2025-09-30
    data = tg.generate(gen, 1)
    truth = tg.truth_of(data, reps=50, seed=0)
    assert str(truth.months[0]) == "2025-10" and len(truth.months) == 12
    assert list(truth.periods()) == ["FY", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    fy = truth.outcome("bookings", "total", "FY")
    quarters = sum(truth.outcome("bookings", "total", q) for q in list(truth.periods())[1:])
    np.testing.assert_allclose(fy, quarters)
    np.testing.assert_allclose(fy, sum(truth.outcome("bookings", s, "FY")
                                       for s in gen.segment_names))
    again = tg.truth_of(tg.generate(gen, 1), reps=50, seed=0)
    np.testing.assert_array_equal(truth.bookings, again.bookings)


# --------------------------------------------------------------------------- the scorer


cal = _load("calibration")


def _projection_of(truth: tg.Truth) -> Any:
    """A projection cube whose draws are ``truth``'s replications (a perfect forecaster)."""
    import xarray as xr

    dims = ("draw", "scenario", "segment", "month")
    coords = {"draw": np.arange(truth.replications), "scenario": ["baseline"],
              "segment": list(truth.segments),
              "month": truth.months.to_timestamp().values.astype("datetime64[ns]")}
    return xr.Dataset({"bookings": (dims, truth.bookings[:, None]),
                       "deals_won": (dims, truth.deals_won[:, None].astype(float))},
                      coords=coords)


def test_scorer_on_a_perfect_and_a_biased_forecaster():
    """Stated = the true law: P(reach), coverage and PIT are right; 10 % too high: caught."""
    from targetsim.calibrate import compute_targets

    gen = tg.catalogue()["small_segments"]
    records = {"perfect": [], "biased": []}
    for i in range(4):
        data = tg.generate(gen, 100 + i)
        stated = tg.truth_of(data, reps=2000, seed=2 * i)
        truth = tg.truth_of(data, reps=2001, seed=2 * i + 1)
        for label, scale in (("perfect", 1.0), ("biased", 1.1)):
            s = tg.Truth(stated.months, stated.segments, stated.bookings * scale,
                         np.round(stated.deals_won * scale))
            proj = _projection_of(s)
            scores = cal.score_targets(compute_targets(proj, 0.6), proj,
                                       truth.take(slice(0, -1)), truth.take(slice(-1, None)),
                                       np.random.default_rng(i))
            n_targets = (1 + len(gen.segments)) * 5 * 2
            assert len(scores) == n_targets
            records[label].append({"status": "ok", "converged": True, "wall_seconds": 1.0,
                                   "targets": [vars(x) for x in scores]})
    good = cal.summarise("small_segments", records["perfect"])
    assert abs(good.p_gap) < 0.02 and abs(good.cov_gap) < 0.02
    assert good.checks == {"P(reach)": True, "coverage": True, "bias": True, "gate": True}
    assert abs(good.p_stated - 0.6) < 0.1 and good.pit_p > 1e-3
    bad = cal.summarise("small_segments", records["biased"])
    assert bad.p_true < good.p_true - 0.1 and not bad.checks["P(reach)"]
    assert set(bad.flagged) == set(gen.segment_names)
    # (Four realised futures are too few for the PIT test to see a 10 % bias: the PITs of
    # one data set move together, and the clustered test says so.)


def test_pit_uniformity_allows_for_clustering():
    """PITs shared within a data set are not independent: the Rao-Scott correction keeps
    the test's size where the naive chi-square rejects a calibrated forecaster."""
    rng = np.random.default_rng(0)
    naive, corrected = 0, 0
    for _ in range(200):
        # Marginally uniform, strongly correlated within each of 8 data sets.
        shift = rng.uniform(size=(8, 1))
        pits = np.mod(shift + 0.15 * rng.standard_normal((8, 40)), 1.0)
        p, shares = cal.pit_uniformity(list(pits))
        corrected += p < 0.05
        counts = np.histogram(pits.ravel(), bins=10, range=(0, 1))[0]
        naive += stats.chisquare(counts).pvalue < 0.05
        assert shares.sum() == pytest.approx(1.0)
    assert naive > 100 and corrected <= 10
    skewed = [rng.beta(2.0, 1.0, size=40) for _ in range(8)]
    assert cal.pit_uniformity(skewed)[0] < 1e-3


def test_parse_config_nests_and_reads_json():
    assert cal.parse_config("cycle=hazard,won_log_days.mu=4.2,stale_after_days=null") == {
        "cycle": "hazard", "won_log_days": {"mu": 4.2}, "stale_after_days": None}
    assert cal.parse_config(None) == {}
    with pytest.raises(SystemExit):
        cal.parse_config("cycle")


# --------------------------------------------------------------------------- the product


#: Generators of the product grid: the model's own families and a shape it does not have.
GRID = ("lognormal_core", "weibull_cycles")
GRID_DATASETS = 2


def test_product_grid():
    """The product as shipped, on 2 generators × 2 data sets, against the truth.

    Runs ``targetsim.run_plan`` at the shipped MCMC settings through the benchmark's own
    runner (``benchmarks/calibration.py``), so the runner's plumbing is proven too: every
    total and segment target is scored, the plan's draws match targets.csv (the scorer
    raises otherwise), stated probabilities are at least 0.6, PITs lie in [0, 1].

    Bounds. Four data sets are too few for issue 11's ±0.05 (that is the full benchmark's
    job); this test catches a product that is badly off. The mean true P(reach) of one
    data set varies with what its history happened to show: on the full benchmark its
    standard deviation over data sets is about 0.07-0.10 for these generators (before
    issue 11's model), so the mean of four has a standard error of about 0.05 and a
    calibrated model lands in 0.6 ± 0.1. Measured with the true law itself as the forecast
    (the scorer test above), stating every outcome 10 % too high brings the mean true
    P(reach) to 0.37, 10 % too low to 0.82, and the coverage of the p10-p90 band to about
    0.7 either way; 15 % off gives 0.29 / 0.87 and a coverage of 0.54-0.64. So the test
    fails when the mean true P(reach) leaves 0.35-0.85 (about five standard errors from
    0.6: a systematic error beyond about ±10 % of every forecast, or targets on the wrong
    side, or a lost open pipeline) or the mean true coverage leaves 0.55-0.97 (bands
    off-centre by about 15 %, or far too narrow, or so wide that they say nothing).
    """
    cat = tg.catalogue()
    opts = cal.RunOptions(seed=0, reps=1000)
    records = [cal.run_dataset(cat[g], i, opts) for g in GRID for i in range(GRID_DATASETS)]
    for r in records:
        assert r["status"] == "ok", r.get("error")
        t = pd.DataFrame(r["targets"])
        n_seg = len(cat[r["generator"]].segments)
        assert len(t) == (1 + n_seg) * 5 * 2  # (total + segments) x (FY + 4 quarters) x 2
        assert t["pit"].between(0, 1).all() and t["true_p"].between(0, 1).all()
        assert (t.loc[t["target"] > 0, "stated_p"] >= 0.6).all()
        assert np.isfinite(t[["true_coverage", "stated_coverage", "true_median"]]).all().all()
    means = [cal.dataset_means(pd.DataFrame(r["targets"])) for r in records]
    p_true = float(np.mean([m["p_true"] for m in means]))
    coverage = float(np.mean([m["cov_true"] for m in means]))
    summaries = [cal.summarise(g, [r for r in records if r["generator"] == g]) for g in GRID]
    table = cal.markdown_table(summaries, "grid")
    assert all(f"| {g} |" in table for g in GRID)
    assert 0.35 <= p_true <= 0.85, (p_true, table)
    assert 0.55 <= coverage <= 0.97, (coverage, table)
