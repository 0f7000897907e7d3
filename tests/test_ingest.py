"""targetsim ingest: formats, mapping, as-of semantics, the printed and JSON facts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetsim.cli import main
from targetsim.data import demo_data_path, load_funnel, load_opportunities, summarize_funnel

CSV = """opportunity_id,created_at,outcome,closed_at,amount,segment,owner,demo_at
A,2024-01-10,won,2024-02-09,100,S1,ann,2024-01-15
B,2024-01-20,lost,2024-03-01,0,S1,bob,2024-01-25
C,2024-02-15,open,2024-06-30,50,S2,ann,2024-02-20
D,2024-03-01,open,,,,,
E,2024-03-10,won,2024-03-31,300,S2,bob,
F,2024-01-05,won,2024-01-25,200,S1,ann,2024-01-06
"""


def run(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, out.err


@pytest.fixture()
def csv_path(tmp_path):
    p = tmp_path / "deals.csv"
    p.write_text(CSV, encoding="utf-8")
    return p


def test_canonical_rules(csv_path):
    opps = load_opportunities(csv_path, stages=("demo",))
    t = opps.table.set_index("opportunity_id")
    assert opps.as_of == pd.Timestamp("2024-03-31")
    # lost deal's recorded 0 is not a contract value; open deal's close date is ignored
    assert np.isnan(t.loc["B", "amount"])
    assert pd.isna(t.loc["C", "closed_at"])
    assert t.loc["D", "segment"] == "unknown" and pd.isna(t.loc["D", "owner"])
    assert t.loc["A", "row"] == 2 and t.loc["F", "row"] == 7
    assert t["created_imputed"].sum() == 0


def test_facts_by_hand(csv_path):
    facts = summarize_funnel(load_funnel(csv_path))
    seg = {g.name: g for g in facts.segments}
    s1 = seg["S1"]
    assert (s1.opportunities, s1.won, s1.lost, s1.open) == (3, 2, 1, 0)
    assert s1.win_rate == pytest.approx(2 / 3)
    assert s1.median_days_to_win == pytest.approx((30 + 20) / 2)
    assert s1.median_days_to_loss == 41
    assert s1.avg_contract_value == 150 and s1.median_contract_value == 150
    tot = facts.total
    assert tot.open_pipeline_count == 2 and tot.open_pipeline_value == 50
    assert tot.open_pipeline_median_age_days == pytest.approx((45 + 30) / 2)
    assert tot.bookings_last_365d == 600 and tot.pipeline_coverage == pytest.approx(50 / 600)
    # window Jan 5 -> Mar 31: 27/31 of January + Feb + Mar
    assert tot.arrivals_per_month == pytest.approx(6 / (2 + 27 / 31))
    own = {g.name: g for g in facts.owners}
    assert set(own) == {"ann", "bob"} and own["ann"].won == 2 and own["bob"].lost == 1
    assert "unknown" in seg and seg["unknown"].open == 1


def test_as_of_semantics(csv_path):
    opps = load_opportunities(csv_path, as_of="2024-02-20", stages=("demo",))
    t = opps.table.set_index("opportunity_id")
    # created after as_of: dropped; closed after as_of: open at as_of
    assert sorted(t.index) == ["A", "B", "C", "F"]
    assert t.loc["B", "outcome"] == "open" and pd.isna(t.loc["B", "closed_at"])
    assert t.loc["A", "outcome"] == "won"
    assert any("dropped 2 deals created after" in w for w in opps.warnings)
    assert any("1 deals closed after" in w for w in opps.warnings)
    f = load_funnel(csv_path, as_of="2024-02-20")
    assert f.open_pipeline.set_index("opportunity_id").loc["B", "age_days"] == 31


def test_cli_prints_tables(csv_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    code, out, err = run(capsys, "ingest", csv_path, "--stages", "demo")
    assert code == 0, err
    for word in ("S1", "S2", "total", "ann", "bob", "created → demo", "demo → won", "66.7%"):
        assert word in out, word


def test_cli_json_only_on_stdout(csv_path, capsys):
    code, out, err = run(capsys, "ingest", csv_path, "--json", "--as-of", "2024-02-20")
    assert code == 0
    d = json.loads(out)  # nothing but JSON on stdout
    assert d["as_of"] == "2024-02-20" and d["total"]["opportunities"] == 4
    assert "warning" in err and "created after" in err
    assert d["segments"][0]["name"] == "S1" and d["stage_facts"] == []


def test_parquet_and_excel_round_trip(csv_path, tmp_path):
    ref = load_opportunities(csv_path, stages=("demo",)).table
    df = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    typed = df.copy()
    for c in ("created_at", "closed_at", "demo_at"):
        typed[c] = pd.to_datetime(typed[c].replace("", None))
    typed["amount"] = pd.to_numeric(typed["amount"].replace("", None))
    for name, frame in (("text.parquet", df), ("typed.parquet", typed)):
        frame.to_parquet(tmp_path / name)
    typed.to_excel(tmp_path / "typed.xlsx", index=False)
    df.to_excel(tmp_path / "text.xlsx", index=False)
    for name in ("text.parquet", "typed.parquet", "typed.xlsx", "text.xlsx"):
        got = load_opportunities(tmp_path / name, stages=("demo",)).table
        pd.testing.assert_frame_equal(got, ref, check_dtype=False, obj=name)


def test_excel_numeric_ids(tmp_path):
    df = pd.DataFrame(
        {
            "opportunity_id": [101, 102],
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "outcome": ["won", "open"],
            "closed_at": pd.to_datetime(["2024-01-09", None]),
            "amount": [10.5, None],
        }
    )
    df.to_excel(tmp_path / "ids.xlsx", index=False)
    t = load_opportunities(tmp_path / "ids.xlsx").table
    assert t["opportunity_id"].tolist() == ["101", "102"]
    assert t["segment"].eq("all").all()


def test_map_and_segment_col(tmp_path, capsys):
    df = pd.read_csv(io_text(CSV)).rename(
        columns={
            "opportunity_id": "Deal ID",
            "created_at": "Created Date",
            "outcome": "Stage",
            "closed_at": "Close Date",
            "amount": "Amount (USD)",
            "segment": "Region",
        }
    )
    df.to_csv(tmp_path / "crm.csv", index=False, sep=";")
    args = [
        "--map", "opportunity_id=Deal ID", "--map", "created_at=Created Date",
        "--map", "outcome=Stage", "--map", "closed_at=Close Date",
        "--map", "amount=Amount (USD)",
    ]
    code, out, err = run(capsys, "ingest", tmp_path / "crm.csv", *args, "--json",
                         "--segment-col", "Region")
    assert code == 0, err
    d = json.loads(out)
    assert [s["name"] for s in d["segments"]] == ["S1", "S2", "unknown"]
    assert d["total"]["won"] == 3
    # without the map, the message says which columns are missing and how to map them
    code, _, err = run(capsys, "ingest", tmp_path / "crm.csv")
    assert code == 2 and "missing required columns" in err and "--map" in err
    # a bad mapped cell is reported under the user's column name
    df.loc[2, "Close Date"] = "??"
    df.loc[2, "Stage"] = "won"
    df.to_csv(tmp_path / "crm.csv", index=False, sep=";")
    code, _, err = run(capsys, "ingest", tmp_path / "crm.csv", *args)
    assert code == 2 and "column 'Close Date': not a date in 1 row: row 4" in err


def io_text(text):
    import io

    return io.StringIO(text)


def test_maven_cli(maven_dir, capsys):
    code, out, err = run(capsys, "ingest", maven_dir, "--format", "maven", "--json",
                         "--segment-col", "manager")
    assert code == 0
    d = json.loads(out)
    assert len(d["segments"]) == 6 and len(d["owners"]) == 30
    assert d["total"]["won"] == 4238 and "500 Prospecting" in err
    code, _, err = run(capsys, "ingest", maven_dir, "--format", "maven", "--segment-col", "colour")
    assert code == 2 and "not available with --format maven" in err


def test_console_script_from_any_directory(tmp_path):
    """The installed script finds the bundled demo data by importlib.resources."""
    exe = Path(sys.executable).with_name("targetsim")
    code = "from targetsim.data import demo_data_path; print(demo_data_path())"
    demo = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert Path(demo) == demo_data_path()
    r = subprocess.run(
        [str(exe), "ingest", demo, "--format", "maven", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total"]["lost"] == 2473
    r = subprocess.run([str(exe), "ingest", "missing.csv"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 2 and "missing.csv: file not found" in r.stderr
    assert "Traceback" not in r.stderr
