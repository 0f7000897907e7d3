"""Bad input: every case exits with code 2 and a message naming file, column, rows, count."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from targetsim.cli import main

START = pd.Timestamp("2024-01-01")
HEADER = ["opportunity_id", "created_at", "outcome", "closed_at", "amount", "segment", "owner"]


def good_rows(n: int = 10) -> list[dict]:
    rows = []
    for i in range(n):
        outcome = ("won", "lost", "open")[i % 3]
        rows.append(
            {
                "opportunity_id": f"OPP-{i:03d}",
                "created_at": str((START + pd.Timedelta(days=i)).date()),
                "outcome": outcome,
                "closed_at": ""
                if outcome == "open"
                else str((START + pd.Timedelta(days=i + 31)).date()),
                "amount": "" if outcome == "lost" else str(100 * (i + 1)),
                "segment": "SMB" if i % 2 else "Enterprise",
                "owner": f"rep{i % 3}",
            }
        )
    return rows


def write(tmp_path, rows, name="deals.csv", columns=None):
    df = pd.DataFrame(rows, columns=columns or list(rows[0]))
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def run(capsys, *args):
    """Run the console entry point; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return exc.value.code, out.out, " ".join(out.err.split())


def test_good_file_passes(tmp_path, capsys):
    code, out, err = run(capsys, "ingest", write(tmp_path, good_rows()), "--json")
    assert code == 0, err
    assert json.loads(out)["total"]["opportunities"] == 10


def test_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "ingest", tmp_path / "nope.csv")
    assert code == 2 and "nope.csv" in err and "not found" in err
    assert "Traceback" not in err


def test_unknown_extension(tmp_path, capsys):
    p = tmp_path / "deals.json"
    p.write_text("{}", encoding="utf-8")
    code, _, err = run(capsys, "ingest", p)
    assert code == 2 and "deals.json" in err and "unknown file type '.json'" in err


def test_folder_without_maven_files(tmp_path, capsys):
    write(tmp_path, good_rows(), name="sales_pipeline.csv")
    code, _, err = run(capsys, "ingest", tmp_path, "--format", "maven")
    assert code == 2 and "not a Maven CRM folder" in err
    assert "accounts.csv" in err and "products.csv" in err and "sales_teams.csv" in err
    code, _, err = run(capsys, "ingest", tmp_path)  # a folder in canonical format
    assert code == 2 and "is a folder" in err


def test_empty_file(tmp_path, capsys):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    code, _, err = run(capsys, "ingest", p)
    assert code == 2 and "empty.csv" in err and "empty" in err


def test_header_only(tmp_path, capsys):
    p = tmp_path / "head.csv"
    p.write_text(",".join(HEADER) + "\n", encoding="utf-8")
    code, _, err = run(capsys, "ingest", p)
    assert code == 2 and "head.csv" in err and "no data rows" in err


def test_non_utf8(tmp_path, capsys):
    rows = good_rows()
    rows[2]["owner"] = "Ren\u00e9e"
    p = write(tmp_path, rows)
    p.write_bytes(p.read_text(encoding="utf-8").encode("latin-1"))
    code, _, err = run(capsys, "ingest", p)
    assert code == 2 and "deals.csv" in err and "not UTF-8" in err
    assert "line 4" in err and "0xe9" in err and "Re-export the file as UTF-8" in err


def test_utf8_bom_is_fine(tmp_path, capsys):
    p = write(tmp_path, good_rows())
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    code, out, err = run(capsys, "ingest", p, "--json")
    assert code == 0, err
    assert json.loads(out)["total"]["won"] == 4


def test_missing_required_column(tmp_path, capsys):
    rows = [{k: v for k, v in r.items() if k != "created_at"} for r in good_rows()]
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2 and "deals.csv" in err and "missing required column 'created_at'" in err
    # never recoverable
    code, _, err = run(capsys, "ingest", write(tmp_path, rows), "--skip-invalid")
    assert code == 2 and "missing required column" in err


def test_duplicate_ids(tmp_path, capsys):
    rows = good_rows()
    rows[3]["opportunity_id"] = rows[1]["opportunity_id"]
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2 and "deals.csv" in err
    assert "column 'opportunity_id': duplicate id in 2 rows: row 3 ('OPP-001'), row 5" in err


def test_unparseable_dates(tmp_path, capsys):
    rows = good_rows()
    rows[2]["created_at"] = "not-a-date"
    rows[6]["created_at"] = "2024-13-45"
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2
    assert (
        "column 'created_at': not a date in 2 rows: row 4 ('not-a-date'), row 8 ('2024-13-45')"
        in err
    )


def test_closed_before_created(tmp_path, capsys):
    rows = good_rows()
    rows[0]["closed_at"] = "2023-12-01"
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2
    assert (
        "column 'closed_at': closed before created in 1 row: row 2 ('2023-12-01' < '2024-01-01')"
        in err
    )


def test_won_without_amount(tmp_path, capsys):
    rows = good_rows()
    rows[3]["amount"] = ""
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2
    assert "column 'amount': won deal without an amount in 1 row: row 5 (empty)" in err


def test_negative_and_non_numeric_amounts(tmp_path, capsys):
    rows = good_rows()
    rows[0]["amount"] = "-5"
    rows[2]["amount"] = "lots"
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2
    assert "column 'amount': negative amount in 1 row: row 2 ('-5')" in err
    assert "column 'amount': not a number in 1 row: row 4 ('lots')" in err
    assert "2 of 10 rows are invalid" in err


def test_unknown_outcome(tmp_path, capsys):
    rows = good_rows()
    for i in (1, 4, 7):
        rows[i]["outcome"] = "maybe"
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2
    assert "column 'outcome': unknown outcome" in err
    assert "in 3 rows: row 3 ('maybe'), row 6 ('maybe'), row 9 ('maybe')" in err


def test_outcome_synonyms_accepted(tmp_path, capsys):
    rows = good_rows()
    rows[0]["outcome"] = "Closed Won"
    rows[1]["outcome"] = " closed_lost "
    rows[2]["outcome"] = "OPEN"
    code, out, err = run(capsys, "ingest", write(tmp_path, rows), "--json")
    assert code == 0, err
    t = json.loads(out)["total"]
    assert (t["won"], t["lost"], t["open"]) == (4, 3, 3)


def test_stage_dates_out_of_order(tmp_path, capsys):
    rows = good_rows()
    for r in rows:
        r["demo_at"], r["proposal_at"] = "2024-01-15", "2024-01-20"
    rows[1]["proposal_at"] = "2024-01-10"  # before demo
    code, _, err = run(capsys, "ingest", write(tmp_path, rows), "--stages", "demo,proposal")
    assert code == 2
    assert "column 'proposal_at': stage date before demo_at in 1 row: row 3" in err


def test_missing_stage_column(tmp_path, capsys):
    code, _, err = run(capsys, "ingest", write(tmp_path, good_rows()), "--stages", "demo")
    assert code == 2 and "missing required column 'demo_at'" in err


def test_all_problems_reported_at_once(tmp_path, capsys):
    rows = good_rows(40)
    rows[5]["outcome"] = "??"
    rows[9]["amount"] = "-1"
    for i in range(20, 28):
        rows[i]["created_at"] = "x"
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2
    assert "10 of 40 rows are invalid" in err
    assert "unknown outcome" in err and "in 1 row: row 7 ('??')" in err
    assert "negative amount in 1 row: row 11" in err
    assert "not a date in 8 rows: row 22 ('x')" in err and "and 3 more" in err
    assert "--skip-invalid to drop these 10 rows" in err


def test_skip_invalid_drops_rows_with_warning(tmp_path, capsys):
    rows = good_rows(30)
    rows[3]["amount"] = ""  # won without amount
    rows[4]["created_at"] = "soon"
    path = write(tmp_path, rows)
    code, _, err = run(capsys, "ingest", path)
    assert code == 2
    code, out, err = run(capsys, "ingest", path, "--skip-invalid", "--json")
    assert code == 0
    assert "skipped 2 invalid rows of 30" in err and "row 5" in err and "row 6" in err
    facts = json.loads(out)
    assert facts["total"]["opportunities"] == 28
    assert any("skipped 2 invalid rows" in w for w in facts["warnings"])


def test_skip_invalid_when_every_row_is_bad(tmp_path, capsys):
    rows = good_rows(3)
    for r in rows:
        r["outcome"] = "zzz"
    code, _, err = run(capsys, "ingest", write(tmp_path, rows), "--skip-invalid")
    assert code == 2 and "every row is invalid" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["--map", "created_at"], "expected canonical=theirs"),
        (["--map", "created_at=Nope"], "--map names column(s) not in the file: 'Nope'"),
        (["--map", "colour=owner"], "'colour' is not a canonical column"),
        (["--format", "pipedrive"], "--format 'pipedrive' is unknown"),
        (["--as-of", "someday"], "--as-of 'someday' is not a date"),
        (["--segment-col", "region"], "--segment-col 'region' is not a column"),
        (["--stages", "won"], "not a usable stage name"),
    ],
)
def test_bad_options(tmp_path, capsys, args, message):
    code, _, err = run(capsys, "ingest", write(tmp_path, good_rows()), *args)
    assert code == 2 and message in err, err


@pytest.mark.parametrize("suffix, kind", [(".parquet", "Parquet"), (".xlsx", "Excel")])
def test_corrupt_binary_files(tmp_path, capsys, suffix, kind):
    p = tmp_path / f"deals{suffix}"
    p.write_bytes(b"opportunity_id,created_at\n1,2024-01-01\n")
    code, _, err = run(capsys, "ingest", p)
    assert code == 2 and f"cannot be read as {kind}" in err and p.name in err


def test_markup_like_values_do_not_crash(tmp_path, capsys):
    rows = good_rows()
    rows[0]["outcome"] = "[/bold]"
    code, _, err = run(capsys, "ingest", write(tmp_path, rows))
    assert code == 2 and "[/bold]" in err and "internal error" not in err


def test_contract_check_catches_broken_tables(tmp_path):
    import dataclasses

    from targetsim.data import check_opportunities, load_opportunities
    from targetsim.errors import DataError

    opps = load_opportunities(write(tmp_path, good_rows()))
    assert check_opportunities(opps) is opps
    t = opps.table.copy()
    t.loc[0, "amount"] = -1.0
    t.loc[1, "closed_at"] = pd.NaT  # a lost deal without a close date
    t.loc[3, "opportunity_id"] = t.loc[2, "opportunity_id"]
    with pytest.raises(DataError) as exc:
        check_opportunities(dataclasses.replace(opps, table=t))
    msg = str(exc.value)
    assert "greater_than_or_equal_to(0)" in msg and "-1.0" in msg
    assert "field_uniqueness" in msg and "closed_at set exactly for won and lost" in msg
