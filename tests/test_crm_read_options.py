"""CRM exports (i15's adapters) under the reading rules of odd input (i12's reader).

A Salesforce report saved by a European Excel (semicolons, day-first dates, decimal commas,
amounts like ``12.000,50``) reads as the same deals as the US export once ``--decimal ,`` is
given; without it the amounts stop with the hint. A stage history in day-first dates with a
time of day keeps each change on its own day, and open deals' expected close dates follow
the day/month order the whole file proves.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crm_exports import EUR_RATE, generate_deals, write_salesforce_report
from targetsim.cli import main
from targetsim.data import ReadOptions, load_opportunities
from targetsim.data.adapters import ExportOptions
from targetsim.errors import DataError

FX = {"USD": 1.0, "EUR": EUR_RATE}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> tuple[Path, Path]:
    """The same Salesforce report as a US and as a European Excel writes it."""
    d = tmp_path_factory.mktemp("sf")
    us = d / "us.csv"
    write_salesforce_report(generate_deals(300, seed=7), us)
    records = list(csv.reader(io.StringIO(us.read_text(encoding="utf-8"))))
    head = records[0]
    dates = [head.index("Created Date"), head.index("Close Date")]
    amount = head.index("Amount")
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\n")
    for rec in records:
        if len(rec) == len(head) and rec is not head:
            for i in dates:
                if rec[i]:
                    m, day, y = rec[i].split("/")
                    rec[i] = f"{int(day):02d}/{int(m):02d}/{y}"
            if rec[amount]:  # 12,000.50 -> 12.000,50
                rec[amount] = rec[amount].replace(",", " ").replace(".", ",").replace(" ", ".")
        w.writerow(rec)
    eu = d / "eu.csv"
    eu.write_text(out.getvalue(), encoding="utf-8")
    return us, eu


def test_a_european_salesforce_report_reads_as_the_us_one(reports) -> None:
    us, eu = reports
    a = load_opportunities(us, fmt="salesforce", options=ExportOptions.build(fx=FX))
    b = load_opportunities(eu, fmt="salesforce", options=ExportOptions.build(fx=FX),
                           read=ReadOptions(decimal=","))
    cols = ["opportunity_id", "created_at", "outcome", "closed_at", "amount", "owner", "row",
            "expected_close_at"]
    pd.testing.assert_frame_equal(a.table[cols], b.table[cols])
    assert a.as_of == b.as_of
    # the day-first order was proven by the data (a day above 12), and said
    assert any("read as day/month/year" in w for w in b.warnings)


def test_decimal_commas_without_the_option_stop_with_the_hint(reports) -> None:
    _, eu = reports
    with pytest.raises(DataError, match=r"--decimal ,"):
        load_opportunities(eu, fmt="salesforce", options=ExportOptions.build(fx=FX))


def test_the_cli_reads_it_with_decimal_comma(reports, capsys) -> None:
    _, eu = reports
    with pytest.raises(SystemExit) as exc:
        main(["ingest", str(eu), "--format", "salesforce", "--fx", "USD=1,EUR=1.1",
              "--decimal", ",", "--json"])
    assert exc.value.code in (0, None)
    facts = json.loads(capsys.readouterr().out)
    assert facts["total"]["opportunities"] == 300


def _canonical(tmp: Path, closed_open: list[str]) -> Path:
    """Canonical export: closed deals with day-first dates that prove the order, open deals
    whose expected close dates alone could be read both ways."""
    rows = []
    for i in range(24):
        day = 13 + i % 15  # above 12: day first, without doubt
        rows.append({"opportunity_id": f"c{i}", "created_at": f"01/{1 + i % 9:02d}/2017",
                     "outcome": "won" if i % 2 else "lost",
                     "closed_at": f"{day}/{1 + i % 9:02d}/2017", "amount": "100"})
    rows.append({"opportunity_id": "L", "created_at": "02/01/2017", "outcome": "won",
                 "closed_at": "28/06/2017", "amount": "100"})
    for i, when in enumerate(closed_open):
        rows.append({"opportunity_id": f"o{i}", "created_at": "03/09/2017", "outcome": "open",
                     "closed_at": when, "amount": ""})
    p = tmp / "deals.csv"
    pd.DataFrame(rows).to_csv(p, index=False)
    return p


def test_expected_close_dates_follow_the_order_the_file_proves(tmp_path) -> None:
    opps = load_opportunities(_canonical(tmp_path, ["05/11/2017", "02/12/2017"]))
    t = opps.table.set_index("opportunity_id")
    assert t.loc["o0", "expected_close_at"] == pd.Timestamp("2017-11-05")
    assert t.loc["o1", "expected_close_at"] == pd.Timestamp("2017-12-02")


def test_stage_history_in_day_first_dates_keeps_each_day(tmp_path) -> None:
    deals = _canonical(tmp_path, [])
    hist = pd.DataFrame({
        "opportunity_id": ["c1", "c1", "c3", "c3", "L", "L"],
        "stage": ["Qualified", "Proposal", "Qualified", "Proposal", "Qualified", "Proposal"],
        # c1: created 1 Feb, closed 14 Feb; c3: created 1 April, closed 16 April; L: from
        # 2 January to 28 June, its two changes in the other order if read month first
        "changed_at": ["05/02/2017 09:30", "05/02/2017 16:00", "02/04/2017 10:00",
                       "10/04/2017 11:00", "05/02/2017 10:00", "03/04/2017 09:00"],
    })
    hist.to_csv(tmp_path / "history.csv", index=False)
    opps = load_opportunities(
        deals, options=ExportOptions.build(stage_history=tmp_path / "history.csv",
                                           stage_order="Qualified,Proposal"),
        read=ReadOptions(dayfirst=True))
    t = opps.table.set_index("opportunity_id")
    at = [c for c in t.columns if re.fullmatch(r".+_at", c) and c not in (
        "created_at", "closed_at", "expected_close_at")]
    assert len(at) == 2
    # 5 February (not 2 May): both changes of that day, in the order of their times
    assert t.loc["c1", at[0]] == t.loc["c1", at[1]] == pd.Timestamp("2017-02-05")
    assert list(t.loc["c3", at]) == [pd.Timestamp("2017-04-02"), pd.Timestamp("2017-04-10")]
    assert np.all(t.loc[["c1", "c3"], "closed_at"] >= t.loc[["c1", "c3"], at[1]])
    # 5 February then 3 April: forward through the funnel, no move back
    assert list(t.loc["L", at]) == [pd.Timestamp("2017-02-05"), pd.Timestamp("2017-04-03")]
    assert t.loc["L", "stage_moves_back"] == 0
