"""The real Maven CRM data: its facts match figures computed here with plain pandas."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from targetsim.data import (
    check_opportunities,
    demo_data_path,
    load_funnel,
    load_opportunities,
    summarize_funnel,
)

AS_OF = pd.Timestamp("2017-12-31")
#: sha256 of the CSVs as listed in the shared SOURCE.md.
SHA256 = {
    "sales_pipeline.csv": "825ce8f6c32d4009548b468df3173d55a46fd73f2531f532c5459371dc52adf2",
    "accounts.csv": "e5242324768a563fc632cddfed49a29acbbf2892b8a3c6453cc9650de9ae0358",
    "products.csv": "7c1c8cbbdb6d4c286902e1985eeb529a36366d6a43f43cd4a93c4b1da2a6eb84",
    "sales_teams.csv": "aeff1272ebe196f5a27e3fc0578aa27abf48ed9ae461aa344fb95990e5ad8bd1",
    "data_dictionary.csv": "22b34e498d07e3d7f322afdbf81d70a5dc0a389792944e50ca2af86a3597f0af",
}


def raw_frames(folder):
    pipe = pd.read_csv(folder / "sales_pipeline.csv", parse_dates=["engage_date", "close_date"])
    products = pd.read_csv(folder / "products.csv")
    teams = pd.read_csv(folder / "sales_teams.csv")
    accounts = pd.read_csv(folder / "accounts.csv")
    return pipe, products, teams, accounts


def expected_total(pipe, products):
    won = pipe[pipe.deal_stage == "Won"]
    lost = pipe[pipe.deal_stage == "Lost"]
    engaging = pipe[pipe.deal_stage == "Engaging"]
    opn = pipe[pipe.deal_stage.isin(["Engaging", "Prospecting"])]
    price = products.set_index("product")["sales_price"]
    list_price = opn["product"].replace({"GTXPro": "GTX Pro"}).map(price)
    first = pipe.engage_date.min()
    # months observed: the first month from the first engage date, then whole months to Dec 2017
    first_month_days = (first + pd.offsets.MonthBegin(1) - first).days
    months = first_month_days / first.days_in_month + (
        (AS_OF.year - first.year) * 12 + AS_OF.month - first.month
    )
    return {
        "opportunities": len(pipe),
        "won": len(won),
        "lost": len(lost),
        "open": len(opn),
        "win_rate": len(won) / (len(won) + len(lost)),
        "median_days_to_win": (won.close_date - won.engage_date).dt.days.median(),
        "median_days_to_loss": (lost.close_date - lost.engage_date).dt.days.median(),
        "avg_contract_value": won.close_value.mean(),
        "median_contract_value": won.close_value.median(),
        "bookings_total": won.close_value.sum(),
        "bookings_last_365d": won.loc[won.close_date > AS_OF - pd.Timedelta(days=365)]
        .close_value.sum(),
        "open_pipeline_value": list_price.sum(),
        "open_pipeline_median_age_days": (AS_OF - engaging.engage_date).dt.days.median(),
        "arrivals_per_month": pipe.engage_date.notna().sum() / months,
    }


def check_total(total, exp):
    for k, v in exp.items():
        assert getattr(total, k) == pytest.approx(v, rel=1e-12), k


def test_maven_counts_from_source_md(maven_dir):
    facts = summarize_funnel(load_funnel(maven_dir, fmt="maven"))
    t = facts.total
    assert (t.won, t.lost, t.open, t.opportunities) == (4238, 2473, 2089, 8800)
    assert t.win_rate == pytest.approx(4238 / 6711)
    assert t.median_days_to_win == 57 and t.median_days_to_loss == 14
    assert t.bookings_total == 10_005_534
    assert facts.as_of == AS_OF and facts.stages == ("engaging",)
    steps = {(s.segment, s.step): s for s in facts.stage_facts}
    assert steps[("total", 0)].converted == 8300 and steps[("total", 0)].open == 500
    assert steps[("total", 1)].open == 1589


@pytest.mark.parametrize("source", ["shared", "demo"])
def test_maven_facts_match_plain_pandas(maven_dir, source):
    folder = maven_dir if source == "shared" else demo_data_path()
    pipe, products, _, _ = raw_frames(folder)
    facts = summarize_funnel(load_funnel(folder, fmt="maven"))
    check_total(facts.total, expected_total(pipe, products))


def test_sales_pipeline_path_works_too(maven_dir):
    a = summarize_funnel(load_funnel(maven_dir / "sales_pipeline.csv", fmt="maven"))
    b = summarize_funnel(load_funnel(maven_dir, fmt="maven"))
    assert a.to_dict()["total"] == b.to_dict()["total"]


def test_demo_data_is_a_byte_copy(maven_dir):
    folder = demo_data_path()
    for name, digest in SHA256.items():
        data = (folder / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest, name
        assert data == (maven_dir / name).read_bytes()
    assert (folder / "SOURCE.md").read_text(encoding="utf-8").count("Maven Analytics") >= 1


@pytest.mark.parametrize("col", ["regional_office", "manager", "series", "product", "sector"])
def test_maven_segments_match_crosstab(maven_dir, col):
    pipe, products, teams, accounts = raw_frames(maven_dir)
    pipe = pipe.assign(product=pipe["product"].replace({"GTXPro": "GTX Pro"}))
    m = pipe.merge(teams, on="sales_agent", how="left").merge(products, on="product", how="left")
    m = m.merge(accounts, on="account", how="left")
    m[col] = m[col].fillna("unknown")
    exp = pd.crosstab(m[col], m.deal_stage)
    facts = summarize_funnel(load_funnel(maven_dir, fmt="maven", segment_col=col))
    got = {g.name: g for g in facts.segments}
    assert set(got) == set(exp.index)
    for name, row in exp.iterrows():
        g = got[name]
        assert g.won == row.get("Won", 0) and g.lost == row.get("Lost", 0), name
        assert g.open == row.get("Engaging", 0) + row.get("Prospecting", 0), name
    if col == "sector":
        assert got["unknown"].opportunities == 1425  # open deals without an account
        assert "technolgy" in got  # misspelling kept as in the source
    if col == "product":
        assert "GTXPro" not in got and got["GTX Pro"].opportunities == (
            pipe["product"] == "GTX Pro"
        ).sum()


def test_maven_quirks(maven_dir):
    opps = check_opportunities(load_opportunities(maven_dir, fmt="maven"))
    t = opps.table
    pipe, products, _, _ = raw_frames(maven_dir)
    stage = pipe.set_index("opportunity_id").loc[t["opportunity_id"], "deal_stage"].to_numpy()
    # lost deals' close_value 0 is not an amount
    assert t.loc[stage == "Lost", "amount"].isna().all()
    # open deals carry the product's list price
    price = products.set_index("product")["sales_price"]
    prod = pipe.set_index("opportunity_id").loc[t["opportunity_id"], "product"]
    exp = prod.replace({"GTXPro": "GTX Pro"}).map(price).to_numpy()
    is_open = np.isin(stage, ["Engaging", "Prospecting"])
    np.testing.assert_array_equal(t.loc[is_open, "amount"].to_numpy(), exp[is_open])
    # Prospecting: no date at all -> created at as_of, flagged, not an arrival
    pro = stage == "Prospecting"
    assert t.loc[pro, "created_imputed"].all() and (~t.loc[~pro, "created_imputed"]).all()
    assert (t.loc[pro, "created_at"] == AS_OF).all()
    assert t.loc[pro, "engaging_at"].isna().all()
    assert any("500 Prospecting" in w for w in opps.warnings)
    f = load_funnel(maven_dir, fmt="maven")
    assert f.arrivals["count"].sum() == 8300
    # stale open deals stay open, with their true age
    assert f.open_pipeline["age_days"].max() == 423
    assert (f.open_pipeline["age_days"] > 138).sum() == 1291
    assert f.owners and len(f.owners) == 30


def test_maven_backtest_as_of(maven_dir):
    """At an earlier as-of date, later deals vanish and later closes are open again."""
    pipe, _, _, _ = raw_frames(maven_dir)
    cut = pd.Timestamp("2017-06-30")
    opps = load_opportunities(maven_dir, fmt="maven", as_of="2017-06-30")
    dated = pipe.engage_date.notna()
    exp_kept = (dated & (pipe.engage_date <= cut)).sum() + (~dated).sum()
    assert len(opps.table) == exp_kept
    won_by_cut = ((pipe.deal_stage == "Won") & (pipe.close_date <= cut)).sum()
    assert (opps.table["outcome"] == "won").sum() == won_by_cut
    assert opps.table["closed_at"].max() <= cut
