"""``--stage-history``: one row per stage change → first entry into each stage, on known truth.

The generator of :mod:`crm_exports` records the day each deal first *reached* each stage
going forward (empty for a skipped stage, even when the deal came back to it later) and
every move back; the loader must find exactly those from the shuffled history.
"""

from __future__ import annotations

import pandas as pd
import pytest

from crm_exports import (
    EUR_RATE,
    SF_STAGES,
    generate_deals,
    write_salesforce_api,
    write_salesforce_history,
)
from targetsim.data import build_funnel, load_opportunities
from targetsim.data.adapters import ExportOptions
from targetsim.data.stage_history import read_stage_history, stage_dates
from targetsim.data.stages import StageMap, stage_slug
from targetsim.errors import ConfigError, DataError

FX = {"USD": 1.0, "EUR": EUR_RATE}
ORDER = ",".join(SF_STAGES)


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    truth = generate_deals(800, seed=21, p_back=0.15, p_skip=0.12)
    d = tmp_path_factory.mktemp("sfh")
    write_salesforce_api(truth, d / "Opportunity.csv")
    n = write_salesforce_history(truth, d / "OpportunityHistory.csv")
    return truth, d / "Opportunity.csv", d / "OpportunityHistory.csv", n


def _load(export, **kw):
    truth, opp, hist, _ = export
    options = ExportOptions.build(fx=FX, stage_history=hist, **kw)
    opps = load_opportunities(opp, fmt="salesforce", options=options)
    t = opps.table.set_index(opps.table["opportunity_id"].str[:-3])
    return opps, t


def test_first_entries_and_moves_back_match_the_truth(export) -> None:
    truth = export[0]
    opps, t = _load(export, stage_order=ORDER)
    assert opps.stages == tuple(stage_slug(s) for s in SF_STAGES)
    for s in SF_STAGES:
        got = t[f"{stage_slug(s)}_at"]
        want = truth.reached[s].reindex(t.index)
        same = (got == want) | (got.isna() & want.isna())
        assert same.all(), (s, got[~same].head(), want[~same].head())
    moves = truth.moves_back.reindex(t.index)
    assert (t["stage_moves_back"] == moves).all()
    assert moves.sum() > 50  # the data has back and forth to find
    text = "\n".join(opps.warnings)
    assert f"{int((moves > 0).sum()):,} deals went back to an earlier stage " \
           f"({int(moves.sum()):,} moves back)" in text
    # returns to a skipped stage are moves back whose date is not a forward reach
    assert "entered after a later stage (date left empty" in text


def test_funnel_steps_count_what_the_truth_says(export) -> None:
    truth = export[0]
    opps, _ = _load(export, stage_order=ORDER)
    steps = build_funnel(opps).stage_steps
    reached = truth.reached.notna()
    won = truth.deals.set_index("id")["outcome"].eq("won")
    # a stage is passed when reached forward, or when a later stage (or the win) was
    passed = {}
    for k, s in enumerate(SF_STAGES):
        passed[s] = reached[list(SF_STAGES[k:])].any(axis=1) | won.reindex(reached.index)
        entered = steps.loc[steps["from_stage"].eq(stage_slug(s))]
        assert len(entered) == int(passed[s].sum()), s
    for a, b in zip(SF_STAGES, SF_STAGES[1:], strict=False):
        step = steps.loc[steps["from_stage"].eq(stage_slug(a))]
        assert step["outcome"].eq("converted").sum() == int(passed[b].sum()), (a, b)
    assert len(steps.loc[steps["step"].eq(0)]) == len(truth.deals)


def test_order_is_inferred_from_the_history_and_said(export) -> None:
    opps, _ = _load(export)
    assert opps.stages == tuple(stage_slug(s) for s in SF_STAGES)
    assert any("funnel order inferred from the history: " + " → ".join(SF_STAGES) in w
               for w in opps.warnings)


def test_unknown_stage_in_history_is_an_error(export, tmp_path) -> None:
    truth, opp, hist, _ = export
    h = pd.read_csv(hist)
    h.loc[3, "StageName"] = "Closed - Merged"
    h.to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(DataError, match=r"h.csv: column 'stage'.*'Closed - Merged' \(1 rows, "
                       r"e.g. row 5\)"):
        load_opportunities(opp, fmt="salesforce",
                           options=ExportOptions.build(fx=FX, stage_history=tmp_path / "h.csv"))
    # with the order given, a stage outside it is an error too
    h.loc[3, "StageName"] = "Discovery"
    h.to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(DataError, match="'Discovery'"):
        load_opportunities(opp, fmt="salesforce", options=ExportOptions.build(
            fx=FX, stage_history=tmp_path / "h.csv", stage_order=ORDER))


def test_history_columns_and_bad_rows_are_named(tmp_path) -> None:
    pd.DataFrame({"Opp": ["A"], "When": ["2024-01-01"]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(DataError, match="no column for stage, changed_at|no column for "
                       "opportunity_id"):
        read_stage_history(tmp_path / "x.csv")
    pd.DataFrame({
        "opportunity_id": ["A", "A", "", "B"],
        "stage": ["Demo", "Trial", "Demo", "Demo"],
        "changed_at": ["2024-01-01", "soon", "2024-01-02", "2024-01-05"],
    }).to_csv(tmp_path / "h.csv", index=False)
    with pytest.raises(DataError, match=r"column 'changed_at': not a date in 1 rows: row 3 "
                       r"\('soon'\)"):
        read_stage_history(tmp_path / "h.csv")
    h = read_stage_history(tmp_path / "h.csv", skip_invalid=True)
    assert h["opportunity_id"].tolist() == ["A", "B"]
    assert "skipped 2 invalid stage changes" in h.attrs["warnings"][0]


def test_field_history_keeps_stage_rows_only(tmp_path) -> None:
    pd.DataFrame({
        "OpportunityId": ["A", "A", "A", "A"],
        "Field": ["StageName", "Amount", "StageName", "CloseDate"],
        "NewValue": ["Demo", "1200", "Trial", "2024-05-01"],
        "CreatedDate": ["2024-01-01T10:00:00Z", "2024-01-02T10:00:00Z",
                        "2024-01-09T10:00:00Z", "2024-01-10T10:00:00Z"],
    }).to_csv(tmp_path / "OpportunityFieldHistory.csv", index=False)
    h = read_stage_history(tmp_path / "OpportunityFieldHistory.csv")
    assert h["stage"].tolist() == ["Demo", "Trial"]


def test_dates_outside_the_deal_are_not_used() -> None:
    history = pd.DataFrame({
        "opportunity_id": ["A", "A", "A", "B", "B"],
        "stage": ["Demo", "Trial", "Closed Won", "Demo", "Trial"],
        "changed_at": pd.to_datetime(["2023-12-20", "2024-01-10", "2024-02-01",
                                      "2024-01-03", "2024-03-01"]),
        "row": [2, 3, 4, 5, 6],
    })
    deals = pd.DataFrame({
        "opportunity_id": ["A", "B"],
        "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
        "closed_at": pd.to_datetime(["2024-02-01", "2024-02-15"]),
    })
    sd = stage_dates(history, StageMap.from_options("Closed Won", None, "Demo,Trial"), deals,
                     source="h.csv")
    assert pd.isna(sd.dates.loc["A", "demo_at"])  # before creation
    assert sd.dates.loc["A", "trial_at"] == pd.Timestamp("2024-01-10")
    assert pd.isna(sd.dates.loc["B", "trial_at"])  # after the close
    text = "\n".join(sd.warnings)
    assert "1 before the deal's creation" in text and "1 after the deal's close" in text


def test_stages_and_stage_history_conflict(export) -> None:
    _, opp, hist, _ = export
    with pytest.raises(ConfigError, match="--stages and --stage-history"):
        load_opportunities(opp, fmt="salesforce", stages=("a",),
                           options=ExportOptions.build(fx=FX, stage_history=hist))


def test_canonical_file_with_a_stage_history(tmp_path) -> None:
    pd.DataFrame({
        "opportunity_id": ["A", "B", "C"],
        "created_at": ["2024-01-01", "2024-01-05", "2024-02-01"],
        "outcome": ["won", "lost", "open"],
        "closed_at": ["2024-03-01", "2024-02-10", ""],
        "amount": ["1000", "", ""],
    }).to_csv(tmp_path / "deals.csv", index=False)
    pd.DataFrame({
        "opportunity_id": ["A", "A", "A", "A", "B", "C", "C"],
        "stage": ["Qualified", "Proposal", "Qualified", "Proposal", "Qualified", "Qualified",
                  "Proposal"],
        "changed_at": ["2024-01-03", "2024-01-20", "2024-01-25", "2024-02-02", "2024-01-08",
                       "2024-02-03", "2024-02-20"],
    }).to_csv(tmp_path / "history.csv", index=False)
    opps = load_opportunities(tmp_path / "deals.csv", options=ExportOptions.build(
        stage_history=tmp_path / "history.csv", stage_order="Qualified,Proposal"))
    t = opps.table.set_index("opportunity_id")
    assert t.loc["A", "qualified_at"] == pd.Timestamp("2024-01-03")
    assert t.loc["A", "proposal_at"] == pd.Timestamp("2024-01-20")
    assert t["stage_moves_back"].to_dict() == {"A": 1, "B": 0, "C": 0}
    assert pd.isna(t.loc["B", "proposal_at"])
    pipe = build_funnel(opps).open_pipeline
    assert pipe.set_index("opportunity_id").loc["C", "stage"] == "proposal"
