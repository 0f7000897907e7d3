"""Salesforce and HubSpot exports (written by the tests, quirks included) read against their truth.

The exports come from :mod:`crm_exports`: deals with known outcomes, dates and amounts laid
out as each CRM writes them. Each test reads one back and compares with the truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from crm_exports import (
    EUR_RATE,
    HS_STAGES,
    RENEWAL_STAGES,
    SF_STAGES,
    generate_deals,
    write_hubspot,
    write_salesforce_api,
    write_salesforce_report,
)
from targetsim.cli import main
from targetsim.data import build_funnel, load_opportunities
from targetsim.data.adapters import ExportOptions, expected_close_signal
from targetsim.data.amounts import clean_amount_text, parse_fx
from targetsim.data.stages import StageMap, stage_slug
from targetsim.errors import ConfigError, DataError

FX = {"USD": 1.0, "EUR": EUR_RATE}


@pytest.fixture(scope="module")
def sf_truth():
    return generate_deals(900, seed=11)


@pytest.fixture(scope="module")
def sf_report(sf_truth, tmp_path_factory):
    path = tmp_path_factory.mktemp("sf") / "opportunities.csv"
    quirks = write_salesforce_report(sf_truth, path)
    return path, quirks


@pytest.fixture(scope="module")
def hs_truth():
    sales = generate_deals(700, stages=HS_STAGES, seed=3, start="2022-01-01",
                           as_of="2023-12-31", id_prefix="S")
    renewals = generate_deals(200, stages=RENEWAL_STAGES, won_stage="Renewed",
                              lost_stage="Churned", seed=5, start="2022-01-01",
                              as_of="2023-12-31", id_prefix="R")
    return sales, renewals


def _by_sf_id(opps) -> pd.DataFrame:
    t = opps.table.copy()
    t.index = t["opportunity_id"].str[:15]
    return t


def _truth_by(truth, key) -> pd.DataFrame:
    d = truth.deals.copy()
    d.index = d["id"].map(key)
    return d


def test_salesforce_report_reads_as_the_truth(sf_truth, sf_report) -> None:
    path, quirks = sf_report
    opps = load_opportunities(path, fmt="salesforce", options=ExportOptions.build(fx=FX))
    t = _by_sf_id(opps)
    truth = _truth_by(sf_truth, lambda i: i[:15])
    assert len(t) == len(truth) and t.index.is_unique  # duplicated rows dropped, footer too
    truth = truth.loc[t.index]
    assert (t["outcome"] == truth["outcome"]).all()
    assert (t["created_at"] == truth["created"].dt.normalize()).all()
    closed = truth["outcome"].ne("open")
    assert (t.loc[closed, "closed_at"] == truth.loc[closed, "closed"]).all()
    assert t.loc[~closed, "closed_at"].isna().all()
    won = truth["outcome"].eq("won")
    # EUR amounts converted back with the rate: the truth in dollars, to the cent
    np.testing.assert_allclose(t.loc[won, "amount"], truth.loc[won, "amount"], atol=0.01)
    assert (t["owner"] == truth["owner"]).all()
    assert opps.as_of == sf_truth.as_of
    text = "\n".join(opps.warnings)
    assert f"dropped {quirks['duplicates']} rows repeating another row exactly" in text
    assert "footer" in text
    assert "amounts converted to the plan's currency (USD×1, EUR×1.1)" in text
    # row numbers of the file survive the dropped rows
    raw = pd.read_csv(path, dtype=str, skip_blank_lines=False)
    first = t.iloc[5]
    assert raw.loc[first["row"] - 2, "Opportunity ID"] == first["opportunity_id"]


def test_expected_close_dates_are_a_signal_not_a_censoring_date(sf_truth, sf_report) -> None:
    path, _ = sf_report
    opps = load_opportunities(path, fmt="salesforce", options=ExportOptions.build(fx=FX))
    t = _by_sf_id(opps)
    truth = _truth_by(sf_truth, lambda i: i[:15]).loc[t.index]
    is_open = truth["outcome"].eq("open")
    assert is_open.sum() > 10
    assert (t.loc[is_open, "expected_close_at"] == truth.loc[is_open, "expected_close"]).all()
    assert t.loc[~is_open, "expected_close_at"].isna().all()
    funnel = build_funnel(opps)
    pipe = funnel.open_pipeline.set_index("opportunity_id")
    # censored at as-of: the age runs to the as-of date, whatever the rep expects
    ages = (opps.as_of - truth.loc[is_open, "created"].dt.normalize()).dt.days
    np.testing.assert_array_equal(pipe.loc[ages.index, "age_days"].to_numpy(), ages.to_numpy())
    signal = expected_close_signal(funnel.open_pipeline, funnel.as_of)
    total = signal.loc[signal["segment"].eq("total")].set_index("expected_close")
    overdue = int((truth.loc[is_open, "expected_close"] < opps.as_of).sum())
    assert total.loc["overdue", "open_deals"] == overdue
    assert total["open_deals"].sum() == is_open.sum()


def test_several_currencies_without_rates_are_refused(sf_report) -> None:
    path, _ = sf_report
    with pytest.raises(DataError, match="amounts are in 2 currencies .*--fx"):
        load_opportunities(path, fmt="salesforce")
    with pytest.raises(DataError, match="no --fx rate for EUR"):
        load_opportunities(path, fmt="salesforce", options=ExportOptions.build(fx={"USD": 1}))


def test_salesforce_api_export_deleted_stale_copies_and_flags(sf_truth, tmp_path) -> None:
    path = tmp_path / "Opportunity.csv"
    quirks = write_salesforce_api(sf_truth, path)
    opps = load_opportunities(path, fmt="salesforce", options=ExportOptions.build(fx=FX))
    t = opps.table.set_index(opps.table["opportunity_id"].str[:-3])
    truth = sf_truth.deals.set_index("id").loc[t.index]
    assert len(t) == len(sf_truth.deals)  # deleted rows and stale copies gone
    # the custom "Closed - No Budget" stage is lost because IsClosed/IsWon say so
    assert (t["outcome"] == truth["outcome"]).all()
    assert (t["created_at"] == truth["created"].dt.normalize()).all()
    text = "\n".join(opps.warnings)
    assert f"dropped {quirks['deleted']} deleted rows" in text
    assert f"dropped {quirks['stale_copies']} older copies" in text
    assert "Closed - No Budget" in text  # listed among the lost stages


def test_custom_stage_names_need_saying(hs_truth, tmp_path) -> None:
    sales, renewals = hs_truth
    path = tmp_path / "hubspot-deals.csv"
    write_hubspot(sales, path, renewals=renewals)
    with pytest.raises(DataError, match=r"'Churned' \(\d+ rows, e.g. row \d+"):
        load_opportunities(path, fmt="hubspot")
    # "Renewed" does not look closed: read as open, but pointed out
    opps = load_opportunities(path, fmt="hubspot",
                              options=ExportOptions.build(lost_stages="Churned"))
    assert any("stage 'Renewed' is read as open" in w for w in opps.warnings)
    opps = load_opportunities(
        path, fmt="hubspot", segment_col="Pipeline",
        options=ExportOptions.build(won_stages="Renewed", lost_stages="Churned"),
    )
    got = opps.table.groupby(["segment", "outcome"]).size()
    for truth, pipe in ((sales, "Sales Pipeline"), (renewals, "Renewals")):
        want = truth.deals["outcome"].value_counts()
        for oc, n in want.items():
            assert got[(pipe, oc)] == n
    assert any("'Amount in company currency'" in w for w in opps.warnings)
    by_id = opps.table.set_index("opportunity_id")
    ids = sales.deals["id"].str[-5:].astype(int).add(100000).astype(str)
    won = sales.deals["outcome"].eq("won").to_numpy()
    np.testing.assert_allclose(by_id.loc[ids[won], "amount"], sales.deals.loc[won, "amount"])


def test_stage_order_makes_unknown_stages_errors(sf_truth, sf_report) -> None:
    path, _ = sf_report
    order = ",".join(SF_STAGES[:-1])  # Negotiation/Review left out
    with pytest.raises(DataError, match="neither in --won-stages, --lost-stages nor "
                       "--stage-order: 'Negotiation/Review'"):
        load_opportunities(path, fmt="salesforce",
                           options=ExportOptions.build(fx=FX, stage_order=order))
    opps = load_opportunities(path, fmt="salesforce", skip_invalid=True,
                              options=ExportOptions.build(fx=FX, stage_order=order))
    in_negotiation = sf_truth.deals["stage"].eq("Negotiation/Review")
    assert len(opps.table) == len(sf_truth.deals) - in_negotiation.sum()
    assert opps.table["outcome"].eq("open").sum() == (
        sf_truth.deals["outcome"].eq("open") & ~in_negotiation).sum()
    assert any("skipped" in w and "Negotiation/Review" in w for w in opps.warnings)


def test_map_overrides_a_layout_column(sf_truth, sf_report, tmp_path) -> None:
    path, _ = sf_report
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw = raw.loc[raw["Opportunity ID"].str.len() > 0]
    raw = raw.rename(columns={"Created Date": "Date de création"})
    raw.to_csv(tmp_path / "fr.csv", index=False)
    with pytest.raises(DataError, match="no column for created_at"):
        load_opportunities(tmp_path / "fr.csv", fmt="salesforce",
                           options=ExportOptions.build(fx=FX))
    opps = load_opportunities(tmp_path / "fr.csv", fmt="salesforce",
                              mapping={"created_at": "Date de création"},
                              options=ExportOptions.build(fx=FX))
    assert len(opps.table) == len(sf_truth.deals)
    with pytest.raises(ConfigError, match="'colour' is not a column role"):
        load_opportunities(path, fmt="salesforce", mapping={"colour": "Stage"})


def test_any_crm_through_map_and_value_mapping(tmp_path) -> None:
    """The recipe for a CRM without an adapter: --map the columns, say what stages mean."""
    frame = pd.DataFrame({
        "Deal": ["D1", "D2", "D3", "D4", "D5"],
        "Opened": ["2024-01-03", "2024-01-10", "2024-02-01", "2024-02-11", "2024-03-01"],
        "Status": ["Signed", "Dead", "Demo", "Signed", "Trial"],
        "Closed": ["2024-02-01", "2024-02-20", "2024-06-30", "2024-03-05", ""],
        "Value": ["1200", "", "900", "2400", "500"],
    })
    frame.to_csv(tmp_path / "pipedrive.csv", index=False)
    mapping = {"opportunity_id": "Deal", "created_at": "Opened", "outcome": "Status",
               "closed_at": "Closed", "amount": "Value"}
    with pytest.raises(DataError, match="'Signed'"):  # looks closed, not said
        load_opportunities(tmp_path / "pipedrive.csv", mapping=mapping)
    opps = load_opportunities(tmp_path / "pipedrive.csv", mapping=mapping,
                              options=ExportOptions.build(won_stages="Signed",
                                                          lost_stages="Dead"))
    t = opps.table.set_index("opportunity_id")
    assert t["outcome"].to_dict() == {"D1": "won", "D2": "lost", "D3": "open", "D4": "won",
                                      "D5": "open"}
    # the open deal's close date was an expectation: kept aside, not a close
    assert pd.isna(t.loc["D3", "closed_at"])
    assert t.loc["D3", "expected_close_at"] == pd.Timestamp("2024-06-30")
    with pytest.raises(DataError, match="neither .* nor --stage-order: 'Trial'"):
        load_opportunities(tmp_path / "pipedrive.csv", mapping=mapping,
                           options=ExportOptions.build(won_stages="Signed", lost_stages="Dead",
                                                       stage_order="Demo"))


def test_stage_map_rules() -> None:
    m = StageMap.from_options("Signed", None, None, default_won=("Closed Won",),
                              default_lost=("Closed Lost",))
    assert m.outcome_of("closed-won") == "won"
    assert m.outcome_of(" SIGNED ") == "won"
    assert m.outcome_of("Closed Lost") == "lost"
    assert m.outcome_of("Negotiation") == "open"
    assert m.outcome_of("Closed - Duplicate") is None  # looks closed
    assert m.outcome_of(None) is None
    # a user's list overrides a layout default
    m2 = StageMap.from_options(None, "Closed Won", None, default_won=("Closed Won",))
    assert m2.outcome_of("Closed Won") == "lost"
    with pytest.raises(ConfigError, match="both name"):
        StageMap.from_options("A", "a", None)
    with pytest.raises(ConfigError, match="lists open stages only"):
        StageMap.from_options("Won", None, "Demo,Won")
    assert stage_slug("Negotiation/Review") == "negotiation_review"
    assert stage_slug("Won") == "stage_won"


def test_amount_cells_are_read_or_left_for_validation() -> None:
    cells, codes = clean_amount_text(pd.Series(["USD 12,000.00", "$1,250", "1,5", "9.5 EUR",
                                                 "1.234,50", None]))
    assert cells.tolist()[:2] == [12000.0, 1250.0]
    assert cells.iloc[2] == "1,5" and cells.iloc[4] == "1.234,50"  # never guessed
    assert cells.iloc[3] == 9.5
    assert codes.tolist()[:4] == ["USD", "USD", None, "EUR"]
    assert parse_fx(["EUR=1.08,gbp=1.27"]) == {"EUR": 1.08, "GBP": 1.27}
    with pytest.raises(ConfigError, match="CODE=rate"):
        parse_fx("EUR=-1")


def test_cli_ingest_salesforce_and_bad_options(sf_report, capsys) -> None:
    path, _ = sf_report
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(path), "--format", "salesforce", "--fx", "USD=1,EUR=1.1", "--json"])
    assert exc.value.code in (0, None)
    out = capsys.readouterr()
    assert '"segments"' in out.out or '"total"' in out.out
    for args, message in (
        (["--fx", "EUR"], "expected CODE=rate"),
        (["--amounts", "maybe"], "--amounts 'maybe'"),
        (["--won-stages", "X", "--lost-stages", "x"], "both name"),
        (["--stages", "a", "--fx", "USD=1,EUR=1.1"], "--stages does not apply"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["ingest", str(path), "--format", "salesforce", *args])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err.replace("\n", " ")


def test_stage_dates_from_hubspot_date_entered_columns(hs_truth, tmp_path) -> None:
    sales, _ = hs_truth
    path = tmp_path / "deals.csv"
    write_hubspot(sales, path)
    opps = load_opportunities(path, fmt="hubspot",
                              options=ExportOptions.build(stage_order=",".join(HS_STAGES)))
    assert opps.stages == tuple(stage_slug(s) for s in HS_STAGES)
    t = opps.table.set_index("opportunity_id")
    t.index = ["S" + f"{int(i) - 100000:05d}" for i in t.index]
    for s in HS_STAGES:
        got = t[f"{stage_slug(s)}_at"]
        want = sales.reached[s].reindex(t.index)
        assert ((got == want) | (got.isna() & want.isna())).all(), s


def test_hubspot_excel_export_and_flags(hs_truth, tmp_path) -> None:
    """HubSpot exports .xlsx by default: dates arrive as Excel dates, amounts as numbers;
    its closed/won flags decide, an empty won flag on an open deal included."""
    sales, _ = hs_truth
    write_hubspot(sales, tmp_path / "deals.csv", date_entered=False)
    frame = pd.read_csv(tmp_path / "deals.csv", dtype={"Record ID": str})
    frame["Create Date"] = pd.to_datetime(frame["Create Date"])
    frame["Is Deal Closed?"] = np.where(sales.deals["outcome"].ne("open"), "true", "false")
    frame["Is Closed Won"] = np.where(sales.deals["outcome"].eq("won"), "true",
                                      np.where(sales.deals["outcome"].eq("lost"), "false", ""))
    frame["Deal Stage"] = frame["Deal Stage"].replace({"Closed Lost": "Lost - no budget"})
    frame.to_excel(tmp_path / "deals.xlsx", index=False)
    opps = load_opportunities(tmp_path / "deals.xlsx", fmt="hubspot")
    got = opps.table.set_index("opportunity_id")["outcome"]
    want = pd.Series(sales.deals["outcome"].to_numpy(), index=frame["Record ID"].to_numpy())
    assert (got.loc[want.index] == want).all()
    assert (opps.table["created_at"].to_numpy()
            == sales.deals["created"].dt.normalize().to_numpy()).all()


def test_a_last_row_with_empty_cells_is_not_a_footer(tmp_path) -> None:
    pd.DataFrame({
        "Opportunity ID": ["A1", "A2", "Note"], "Stage": ["Closed Won", "Prospecting", None],
        "Created Date": ["1/5/2024", "2/1/2024", None], "Close Date": ["2/1/2024", "", None],
        "Amount": ["1,000.00", "", None],
    }).to_csv(tmp_path / "r.csv", index=False)
    with pytest.raises(DataError, match=r"no stage in 1 rows \(e.g. row 4\)"):
        load_opportunities(tmp_path / "r.csv", fmt="salesforce")
