"""A lead-level marketing funnel: unconverted leads stay open for ever, won rows carry amount 1.

The generator (:func:`crm_exports.generate_leads`, the issue's shape: 3,343 leads, 10
sources, 3 months of cohorts) knows each source's conversion probability and the
conversion delay; the loader must count every lead where it belongs, read the amounts as
unknown and say so.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from crm_exports import LEAD_ARGS, generate_leads, write_lead_funnel
from targetsim.cli import main
from targetsim.data import build_funnel, load_opportunities
from targetsim.data.adapters import ExportOptions

MAPPING = {"opportunity_id": "Lead ID", "created_at": "Created", "outcome": "Status",
           "closed_at": "Converted Date", "amount": "Amount"}


@pytest.fixture(scope="module")
def leads(tmp_path_factory):
    truth = generate_leads()
    path = tmp_path_factory.mktemp("leads") / "leads.csv"
    write_lead_funnel(truth, path)
    return truth, path


def _load(path, **options):
    return load_opportunities(path, mapping=MAPPING, segment_col="Lead Source",
                              options=ExportOptions.build(won_stages="Converted", **options))


def test_every_lead_counted_amounts_unknown_and_said(leads) -> None:
    truth, path = leads
    opps = _load(path)
    t = opps.table
    assert len(t) == 3_343 and t["segment"].nunique() == 10
    won_truth = truth.leads["Status"].eq("Converted")
    assert t["outcome"].eq("won").sum() == won_truth.sum()
    assert t["outcome"].eq("lost").sum() == 0
    assert t["amount"].isna().all()
    text = "\n".join(opps.warnings)
    assert f"every won deal ({int(won_truth.sum()):,}) has the amount 1: a placeholder" in text
    assert "targets are in deals won only" in text
    assert "no deal is marked lost" in text
    assert opps.as_of == truth.as_of


def test_cohorts_and_conversion_match_the_truth(leads) -> None:
    truth, path = leads
    funnel = build_funnel(_load(path))
    # arrivals: every lead in its source and month
    got = funnel.arrivals.set_index(["segment", "month"])["count"]
    want = (truth.leads.assign(month=pd.to_datetime(truth.leads["Created"]).dt.to_period("M")
                               .dt.start_time)
            .groupby(["Lead Source", "month"]).size())
    assert (got.reindex(want.index) == want).all() and got.sum() == 3_343
    # the January cohort has had two months or more: its conversion share is p (the delay
    # is gamma with mean 14 days, P(delay > 59 days) < 0.3 %)
    d = funnel.deals
    jan = d.loc[d["created_at"] < "2024-02-01"]
    share = jan.groupby("segment")["outcome"].apply(lambda s: s.eq("won").mean())
    n = jan.groupby("segment").size()
    p = pd.Series(truth.p_convert)
    z = (share - p) / np.sqrt(p * (1 - p) / n)
    assert (z.abs() < 4.5).all(), z
    pooled = (jan["outcome"].eq("won").sum() - (n * p).sum()) / np.sqrt((n * p * (1 - p)).sum())
    assert abs(pooled) < 4
    # conversion delay of the January cohort: gamma(2, 7) has median 11.75 days
    med = jan.loc[jan["outcome"].eq("won"), "duration_days"].median()
    assert 9.5 < med < 14.5


def test_amount_options(leads, tmp_path) -> None:
    _, path = leads
    kept = _load(path, amounts="keep")
    assert kept.table.loc[kept.table["outcome"].eq("won"), "amount"].eq(1).all()
    frame = pd.DataFrame({
        "opportunity_id": [f"D{i}" for i in range(12)],
        "created_at": ["2024-01-05"] * 12,
        "outcome": ["won"] * 10 + ["open"] * 2,
        "closed_at": ["2024-02-01"] * 10 + [""] * 2,
        "amount": ["1"] * 4 + ["4990"] * 6 + ["", "5000"],
        "segment": ["Leads"] * 4 + ["Licences"] * 6 + ["Leads", "Licences"],
    })
    frame.to_csv(tmp_path / "mixed.csv", index=False)
    opps = load_opportunities(tmp_path / "mixed.csv")
    t = opps.table.set_index("opportunity_id")
    assert t.loc[t["segment"].eq("Leads"), "amount"].isna().all()
    assert t.loc[t["segment"].eq("Licences"), "amount"].notna().all()  # a fixed price stays
    text = "\n".join(opps.warnings)
    assert "segment 'Leads': every won deal (4) has the amount 1" in text
    assert "segment 'Licences': every won deal (6) has the amount 4,990.00; kept" in text
    none = load_opportunities(tmp_path / "mixed.csv",
                              options=ExportOptions.build(amounts="unknown"))
    assert none.table["amount"].isna().all()


def test_cli_ingest_with_the_recipe(leads, capsys) -> None:
    _, path = leads
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(path), *LEAD_ARGS, "--json"])
    assert exc.value.code in (0, None)
    captured = capsys.readouterr()
    facts = json.loads(captured.out)
    assert len(facts["segments"]) == 10
    assert "placeholder" in captured.err
