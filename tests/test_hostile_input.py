"""Issue 12: hostile and odd input. Every case of the issue, with its exit code, in one table.

Each case builds its input (a small file, a folder, a scenario), runs the console entry
point in-process and checks the exit code, the message (file, row, column, value; never a
traceback) and what was written. Cases that need a fitted model replace MCMC with prior
draws reported as converged (:func:`quick_fit`): the plumbing is what is tested here.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from targetsim.cli import main

START = pd.Timestamp("2024-01-01")
FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)"]
MARKUP = ["[/]", "[link=http://evil.example]click[/link]"]
HTML = ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>"]
HOSTILE = FORMULAS + MARKUP + HTML


def rows(n: int = 48, segments=("SMB", "Enterprise"), owners=("ann", "bob", "cid"),
         start: pd.Timestamp = START) -> list[dict]:
    """A valid export: won, lost and open deals every 5 days from ``start``."""
    out = []
    for i in range(n):
        outcome = ("won", "lost", "open")[i % 3]
        created = start + pd.Timedelta(days=5 * i)
        out.append({
            "opportunity_id": f"OPP-{i:03d}",
            "created_at": str(created.date()),
            "outcome": outcome,
            "closed_at": "" if outcome == "open" else str((created + pd.Timedelta(days=30)).date()),
            "amount": "" if outcome == "lost" else str(1000 + 10 * i),
            "segment": segments[i % len(segments)],
            "owner": owners[i % len(owners)],
        })
    return out


def write_csv(path: Path, data: list[dict], **kw) -> Path:
    pd.DataFrame(data).to_csv(path, index=False, **kw)
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    """Run ``targetsim args``; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


@pytest.fixture
def quick_fit(monkeypatch):
    """Prior draws instead of MCMC, reported converged, so ``plan`` takes seconds."""
    import pymc as pm
    from pymc.testing import mock_sample

    import targetsim.model.fit as fitmod
    import targetsim.plan as planmod

    monkeypatch.setattr(pm, "sample", partial(
        mock_sample, sample_stats={"diverging": lambda size: np.zeros(size, bool)}))
    real = fitmod.diagnose
    monkeypatch.setattr(fitmod, "diagnose", lambda idata: dataclasses.replace(
        real(idata), converged=True, problems=()))
    monkeypatch.setattr(planmod, "run_plan",
                        partial(planmod.run_plan, sampler="pymc", chains=1, tune=5))


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    """One case of the issue: build the input in ``tmp``, return the CLI arguments."""

    id: str
    setup: Callable[[Path], list]
    exit: int
    says: tuple[str, ...] = ()
    check: Callable[[Path, str, str], None] | None = None
    fit: bool = False
    env: dict[str, str] = field(default_factory=dict)


def _hostile_csv(tmp: Path) -> Path:
    data = rows(64, segments=tuple(HOSTILE), owners=tuple(reversed(HOSTILE)))
    return write_csv(tmp / "hostile.csv", data)


def _check_hostile_plan(tmp: Path, out: str, err: str) -> None:
    from openpyxl import load_workbook

    plan = tmp / "plan"
    wb = load_workbook(plan / "targets.xlsx")
    cells = [c for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    # The only formulas are the quota sheet's own total row (sums of the column above and
    # the growth they imply, so an edited quota updates the total); nothing from data.
    ours = re.compile(r'=SUM\([A-Z]+2:[A-Z]+\d+\)|=IF\(E\d+>0,F\d+/E\d+-1,""\)')
    formulas = [c for c in cells if c.data_type == "f"]
    assert all(ours.fullmatch(str(c.value)) for c in formulas), [c.value for c in formulas]
    assert {c.parent.title for c in formulas} <= {"Quotas"}
    texts = {c.value for c in cells if isinstance(c.value, str)}
    for name in FORMULAS:
        assert "'" + name in texts and name not in texts
    for csv_name in ("targets.csv", "allocation.csv", "indicators.csv", "fit_summary.csv"):
        raw = (plan / csv_name).read_text(encoding="utf-8")
        for name in FORMULAS:
            if name.split("(")[0] in raw:
                assert f"'{name}" in raw.replace('""', '"'), (csv_name, name)
        cells = [c for line in raw.splitlines() for c in line.split(",")]
        assert not any(c.startswith(("=", "+", "@")) for c in cells), csv_name
    html = (plan / "report.html").read_text(encoding="utf-8")
    assert "<script>alert(1)" not in html and "<img src=x onerror" not in html
    md = (plan / "objectives.md").read_text(encoding="utf-8")
    assert not re.search(r"(?<!\\)<(script|img)", md) and "\\<script\\>" in md
    # the console printed every name as written, markup included, and no terminal link
    for name in MARKUP:
        assert name in out
    assert "\x1b]8;" not in out
    # track reads the names back exactly (no apostrophe): restore is exact
    from targetsim.io import read_csv_output

    names = set(read_csv_output(plan / "targets.csv", dtype={"name": str})["name"])
    assert set(FORMULAS) <= names


def _check_markup_ingest(tmp: Path, out: str, err: str) -> None:
    for name in MARKUP + FORMULAS:
        assert name in out
    assert "\x1b]8;" not in out


def _check_markup_compact(tmp: Path, out: str, err: str) -> None:
    # the 80-column view wraps long names over lines; the markup still prints as written
    assert "[/]" in out and "[link=http://evil." in out and "example]click[/lin" in out
    assert "\x1b]8;" not in out


def _dayfirst_csv(tmp: Path) -> Path:
    # The issue's file: each cell parsed alone read 05/01/2017 as May 1 and 01/11/2016 as
    # 2016-01-11; one format for the whole column reads every cell day first.
    data = rows(6)
    for r, d in zip(data, ["01/11/2016", "05/01/2017", "20/01/2017", "10/12/2016", "03/01/2017",
                           "15/11/2016"], strict=True):
        r["created_at"] = d
        r["closed_at"] = "" if r["outcome"] == "open" else "25/01/2017"
    return write_csv(tmp / "dayfirst.csv", data)


def _check_dayfirst(tmp: Path, out: str, err: str) -> None:
    from targetsim.data import load_opportunities

    opps = load_opportunities(tmp / "dayfirst.csv")
    created = sorted(opps.table["created_at"].dt.strftime("%Y-%m-%d"))
    assert created == ["2016-11-01", "2016-11-15", "2016-12-10", "2017-01-03", "2017-01-05",
                       "2017-01-20"]
    facts = json.loads(out)
    assert facts["months_observed"] < 3.5  # not the 14.7 months of the per-cell reading


def _ambiguous_csv(tmp: Path) -> Path:
    data = rows(6)
    for r, d in zip(data, ["01/11/2016", "05/01/2017", "10/12/2016", "03/01/2017", "07/12/2016",
                           "02/01/2017"], strict=True):
        r["created_at"] = d
        r["closed_at"] = "" if r["outcome"] == "open" else "12/01/2017"
    return write_csv(tmp / "ambiguous.csv", data)


def _check_ambiguous_read(expected_first: str) -> Callable[[Path, str, str], None]:
    def check(tmp: Path, out: str, err: str) -> None:
        facts = json.loads(out)
        assert facts["total"]["opportunities"] == 6
        assert facts["as_of"] == expected_first
    return check


def _future_csv(tmp: Path) -> Path:
    data = rows(48)
    data[7].update(created_at="2031-03-01", outcome="open", closed_at="")
    return write_csv(tmp / "future.csv", data)


def _check_future(tmp: Path, out: str, err: str) -> None:
    facts = json.loads(out)
    assert facts["as_of"] == "2024-09-17"  # the bulk's last date (a close), not 2031
    assert facts["months_observed"] < 9  # not 175 months of arrivals
    assert facts["total"]["opportunities"] == 47  # the 2031 deal did not exist yet


def _after_today_csv(tmp: Path) -> Path:
    today = pd.Timestamp.today().normalize()
    data = rows(48, start=today - pd.Timedelta(days=300))
    data[-1]["created_at"] = str((today + pd.Timedelta(days=3)).date())
    return write_csv(tmp / "late.csv", data)


def _zero_amounts_csv(tmp: Path) -> Path:
    data = rows(48)
    for r in data:
        if r["segment"] == "Enterprise" and r["outcome"] == "won":
            r["amount"] = "0"
    return write_csv(tmp / "zeros.csv", data)


def _check_zero_ingest(tmp: Path, out: str, err: str) -> None:
    facts = json.loads(out)
    seg = {g["name"]: g for g in facts["segments"]}
    assert seg["Enterprise"]["won_zero_amount"] == 8 and seg["Enterprise"]["won_with_amount"] == 0
    assert seg["SMB"]["won_zero_amount"] == 0 and seg["SMB"]["won_with_amount"] == 8
    assert facts["total"]["won_zero_amount"] == 8


def _check_zero_placeholder(tmp: Path, out: str, err: str) -> None:
    facts = json.loads(out)
    seg = {g["name"]: g for g in facts["segments"]}
    assert seg["Enterprise"]["won"] == 8 and seg["Enterprise"]["won_with_amount"] == 0
    assert seg["Enterprise"]["won_zero_amount"] == 0  # unknown now, not zero
    assert seg["SMB"]["won_with_amount"] == 8


def _check_zero_plan(tmp: Path, out: str, err: str) -> None:
    t = pd.read_csv(tmp / "plan" / "targets.csv")
    book = t.loc[t["metric"].eq("bookings")]
    assert "Enterprise" not in set(book["name"]) and "SMB" in set(book["name"])
    assert not book["level"].eq("owner").any()
    won = t.loc[t["metric"].eq("deals_won")]
    assert {"Enterprise", "SMB", "total"} <= set(won["name"])
    fit_history = json.loads((tmp / "plan" / "plan.json").read_text())["notes"]
    assert any("Enterprise" in n for n in fit_history)


def _no_amount_csv(tmp: Path) -> Path:
    return write_csv(tmp / "no_amount.csv", [{k: v for k, v in r.items() if k != "amount"}
                                             for r in rows(48)])


def _check_no_amount_plan(tmp: Path, out: str, err: str) -> None:
    t = pd.read_csv(tmp / "plan" / "targets.csv")
    assert set(t["metric"]) == {"deals_won"} and len(t)
    assert "deals-won targets" in out


def _scenario(tmp: Path, text: str | bytes) -> Path:
    p = tmp / "scenario.yaml"
    if isinstance(text, bytes):
        p.write_bytes(text)
    else:
        p.write_text(text, encoding="utf-8")
    return p


def _plan_with(scenario: str | bytes) -> Callable[[Path], list]:
    def setup(tmp: Path) -> list:
        return ["plan", write_csv(tmp / "good.csv", rows()), "--out", tmp / "plan",
                "--scenario", _scenario(tmp, scenario), "--no-progress"]
    return setup


def _no_outputs(tmp: Path, out: str, err: str) -> None:
    assert not (tmp / "plan").exists() or not any((tmp / "plan").iterdir())


def _interrupted_fit(tmp: Path) -> list:
    return ["fit", write_csv(tmp / "good.csv", rows()), "--out", tmp / "plan", "--quiet"]


def _lock_held(tmp: Path) -> list:
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys, time
            from targetsim.io import output_folder
            with output_folder({str(tmp / 'plan')!r}):
                print('held', flush=True)
                time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    _HOLDERS.append(holder)
    return ["fit", write_csv(tmp / "good.csv", rows()), "--out", tmp / "plan", "--quiet"]


_HOLDERS: list[subprocess.Popen] = []


def _malformed_csv(tmp: Path) -> Path:
    lines = pd.DataFrame(rows(10)).to_csv(index=False).splitlines()
    lines[4] += ",surplus,cells"
    lines.insert(2, "")  # a blank line: a spreadsheet shows it as row 3
    (tmp / "malformed.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp / "malformed.csv"


def _unclosed_csv(tmp: Path) -> Path:
    lines = pd.DataFrame(rows(10)).to_csv(index=False).splitlines()
    lines[6] = lines[6].replace("SMB", '"SMB', 1).replace("Enterprise", '"Enterprise', 1)
    (tmp / "unclosed.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp / "unclosed.csv"


def _row_numbers_csv(tmp: Path) -> Path:
    data = rows(10)
    data[5]["amount"] = "lots"
    lines = pd.DataFrame(data).to_csv(index=False).splitlines()
    lines.insert(3, "")  # blank line after the 2nd data row: the bad row is row 8, not 7
    (tmp / "rows.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return tmp / "rows.csv"


def _cover_xlsx(tmp: Path, with_data: bool = True) -> Path:
    path = tmp / "export.xlsx"
    with pd.ExcelWriter(path) as w:
        pd.DataFrame({"note": ["CRM export, do not edit"]}).to_excel(w, sheet_name="Cover",
                                                                  index=False)
        if with_data:
            pd.DataFrame(rows()).to_excel(w, sheet_name="Deals", index=False)
        else:
            pd.DataFrame({"x": [1]}).to_excel(w, sheet_name="Other", index=False)
    return path


def _title_rows_xlsx(tmp: Path) -> Path:
    """Title rows above the header: rows are still named as the sheet shows them."""
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws["C2"] = "CRM export, Q3"
    data = rows(12)
    data[2]["amount"] = "lots"  # sheet row 4 (header) + 3 = row 7
    ws.append([])
    ws.append(list(data[0]))
    for r in data:
        ws.append(list(r.values()))
    wb.save(tmp / "titled.xlsx")
    return tmp / "titled.xlsx"


def _decimal_comma_csv(tmp: Path) -> Path:
    df = pd.DataFrame(rows())
    df["amount"] = ["" if a == "" else f"{float(a) * 1.5:,.2f}".replace(",", " ").replace(".", ",")
                    for a in df["amount"]]
    df.to_csv(tmp / "comma.csv", index=False, sep=";")
    return tmp / "comma.csv"


def _check_decimal(tmp: Path, out: str, err: str) -> None:
    facts = json.loads(out)
    # won amounts 1000 + 10 i (i = 0, 3, ..., 45) times 1.5
    assert facts["total"]["bookings_total"] == pytest.approx(1.5 * sum(1000 + 10 * i
                                                                       for i in range(0, 48, 3)))


MARKUP_SEGMENTS = ("[/]", '=HYPERLINK("http://x","y")', "[link=http://x]y[/link]")


def _projection_dir(tmp: Path, segments=("A",)) -> Path:
    """A plan folder holding only projection.nc, simulated from known parameters."""
    from targetsim.model.params import FunnelParams
    from targetsim.simulate import Scenario, save_projection, simulate

    params = FunnelParams.constant(tuple(segments), p_win=0.4,
                                   arrivals_per_month=[10.0] * len(segments), n_draws=60)
    d = tmp / "plan"
    d.mkdir()
    save_projection(simulate(params, None, [Scenario.baseline()], progress=False),
                    d / "projection.nc")
    return d


def _check_calibrate_markup(tmp: Path, out: str, err: str) -> None:
    for name in MARKUP_SEGMENTS:
        assert name in out
    assert "'=HYPERLINK" in (tmp / "plan" / "targets.csv").read_text(encoding="utf-8")


def _killed_run_leftovers(tmp: Path) -> list:
    d = _projection_dir(tmp)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (d / ".targetsim.lock").write_text(f"{dead.pid}\nhost\ntargetsim plan\n")
    (d / ".targets.csv.k3j2h1g0.tmp").write_text("half a file")
    (d / ".targetsim-stage-abc123").mkdir()
    return ["calibrate", d]


def _check_leftovers_cleared(tmp: Path, out: str, err: str) -> None:
    d = tmp / "plan"
    assert sorted(p.name for p in d.iterdir() if p.name.startswith(".")) == []
    assert (d / "targets.csv").is_file()


CASES = [
    # --- formula injection, markup in names: spreadsheets, CSV, Markdown, console
    Case("formula-and-markup-names-plan",
         lambda t: ["plan", _hostile_csv(t), "--out", t / "plan", "--no-progress"], 0,
         check=_check_hostile_plan, fit=True),
    # --wide on a wide terminal: names are not wrapped, each one shows whole as written
    Case("markup-names-ingest", lambda t: ["ingest", _hostile_csv(t), "--wide"], 0,
         check=_check_markup_ingest, env={"COLUMNS": "250"}),
    Case("markup-names-ingest-compact", lambda t: ["ingest", _hostile_csv(t)], 0,
         check=_check_markup_compact),
    Case("markup-names-calibrate-summary",
         lambda t: ["calibrate", _projection_dir(t, MARKUP_SEGMENTS)], 0,
         check=_check_calibrate_markup),
    Case("markup-in-a-message",
         lambda t: ["ingest", write_csv(t / "m.csv", [dict(r, outcome="[/bold]") if i == 2 else r
                                                      for i, r in enumerate(rows())])], 2,
         ("[/bold]", "row 4")),
    # --- dates
    Case("mixed-dates-read-day-first", lambda t: ["ingest", _dayfirst_csv(t), "--json"], 0,
         ("read as day/month/year", "row 4 ('20/01/2017')"), check=_check_dayfirst),
    Case("ambiguous-day-month", lambda t: ["ingest", _ambiguous_csv(t)], 2,
         ("column 'created_at'", "row 2 ('01/11/2016')", "--dayfirst", "--monthfirst")),
    Case("ambiguous-with-dayfirst", lambda t: ["ingest", _ambiguous_csv(t), "--dayfirst",
                                               "--json"], 0,
         check=_check_ambiguous_read("2017-01-12")),
    Case("ambiguous-with-monthfirst", lambda t: ["ingest", _ambiguous_csv(t), "--monthfirst",
                                                 "--json"], 0,
         check=_check_ambiguous_read("2017-12-01")),
    Case("ambiguous-with-date-format", lambda t: ["ingest", _ambiguous_csv(t), "--date-format",
                                                  "%d/%m/%Y", "--json"], 0,
         check=_check_ambiguous_read("2017-01-12")),
    Case("day-first-and-month-first-cells",
         lambda t: ["ingest", write_csv(t / "c.csv", [
             dict(r, created_at=d) for r, d in zip(rows(3), ["20/01/2017", "01/20/2017",
                                                              "05/05/2017"], strict=True)])], 2,
         ("mixes day-first and month-first", "row 2 ('20/01/2017')", "row 3 ('01/20/2017')")),
    Case("iso-and-day-month-cells",
         lambda t: ["ingest", write_csv(t / "m.csv", [
             dict(r, created_at="15/01/2024") if i == 3 else r for i, r in enumerate(rows())])], 2,
         ("mixes date formats", "row 5 ('15/01/2024')", "row 2 ('2024-01-01')")),
    Case("future-date-2031", lambda t: ["ingest", _future_csv(t), "--json"], 0,
         ("far beyond the rest of the data", "row 9 ('2031-03-01')"), check=_check_future),
    Case("date-after-today", lambda t: ["ingest", _after_today_csv(t), "--json"], 0,
         ("after today", "row 49")),
    # --- columns, amounts
    Case("duplicate-header",
         lambda t: ["ingest", _write_text(t / "d.csv", pd.DataFrame(rows()).assign(x=1)
                                          .to_csv(index=False).replace(",x\n", ",amount\n", 1))],
         2, ("column 'amount' appears twice", "columns E and H")),
    # --amounts keep: the zeros stay zeros, counted apart from the positive amounts
    Case("zero-won-amounts-ingest",
         lambda t: ["ingest", _zero_amounts_csv(t), "--json", "--amounts", "keep"], 0,
         ("8 won deals have an amount of 0", "segment 'Enterprise'", "deals-won targets only"),
         check=_check_zero_ingest),
    # by default the same 0 on every won deal of a segment is a placeholder: unknown amounts
    Case("zero-won-amounts-ingest-placeholder",
         lambda t: ["ingest", _zero_amounts_csv(t), "--json"], 0,
         ("8 won deals have an amount of 0", "segment 'Enterprise'", "a placeholder",
          "deals-won targets only"),
         check=_check_zero_placeholder),
    Case("zero-won-amounts-plan",
         lambda t: ["plan", _zero_amounts_csv(t), "--out", t / "plan", "--no-progress"], 0,
         ("segment 'Enterprise'",), check=_check_zero_plan, fit=True),
    Case("no-amount-column-plan",
         lambda t: ["plan", _no_amount_csv(t), "--out", t / "plan", "--no-progress"], 0,
         ("no 'amount' column", "bookings targets need"), check=_check_no_amount_plan, fit=True),
    Case("no-amount-column-company-target",
         lambda t: ["plan", _no_amount_csv(t), "--out", t / "plan", "--company-target", "1M"], 2,
         ("--company-target is a bookings number",), check=_no_outputs, fit=True),
    Case("decimal-comma", lambda t: ["ingest", _decimal_comma_csv(t), "--decimal", ",",
                                     "--json"], 0, check=_check_decimal),
    Case("decimal-comma-without-option", lambda t: ["ingest", _decimal_comma_csv(t)], 2,
         ("not a number (for amounts with a decimal comma, give --decimal ,)", "row 2")),
    # --- --out problems
    Case("out-is-a-file",
         lambda t: ["plan", write_csv(t / "good.csv", rows()), "--out", _write_text(t / "f", "")],
         2, ("is a file, not a folder",)),
    Case("out-under-a-file",
         lambda t: ["fit", write_csv(t / "good.csv", rows()), "--out",
                    _write_text(t / "f", "") / "sub"], 2, ("is a file, so no folder",)),
    Case("out-unwritable",
         lambda t: ["fit", write_csv(t / "good.csv", rows()), "--out", "/proc/targetsim/out"], 2,
         ("--out /proc/targetsim/out: cannot create the folder",)),
    # --- scenario files and options
    Case("scenario-not-utf8",
         _plan_with("name: tensión\nmarket: {lead_volume: 0.8}\n".encode("latin-1")), 2,
         ("scenario.yaml: not UTF-8 text: byte 0xf3 on line 1",), check=_no_outputs),
    Case("scenario-infinite-multiplier", _plan_with("name: x\nmarket: {lead_volume: .inf}\n"), 2,
         ("market.lead_volume: must be a finite number, got inf",), check=_no_outputs),
    Case("scenario-huge-multiplier", _plan_with("name: x\nmarket: {lead_volume: 1.0e+7}\n"), 2,
         ("market.lead_volume: must be <= 10, got 10000000.0",), check=_no_outputs),
    Case("scenario-multiplier-out-of-range", _plan_with("name: x\nmarket: {win_rate: 12}\n"), 2,
         ("market.win_rate: must be <= 10, got 12",)),
    Case("months-above-60",
         lambda t: ["plan", write_csv(t / "good.csv", rows()), "--out", t / "plan", "--months",
                    "1000"], 2, ("--months", "60")),
    Case("simulation-over-memory-budget",
         lambda t: ["plan", write_csv(t / "good.csv", rows()), "--out", t / "plan", "--draws",
                    "2000000", "--scenario", "growth"], 2,
         ("of memory", "lower --draws"), check=_no_outputs,
         env={"TARGETSIM_MAX_MEMORY_GB": "0.5"}),
    # --- Ctrl-C, two runs, killed runs
    Case("ctrl-c-during-fit", _interrupted_fit, 130, ("interrupted",), check=_no_outputs),
    Case("second-run-same-out", _lock_held, 2,
         ("is in use by another targetsim run (pid", "choose another --out")),
    Case("killed-run-leftovers-cleared", _killed_run_leftovers, 0,
         check=_check_leftovers_cleared),
    # --- weaker messages made clear
    Case("malformed-csv", lambda t: ["ingest", _malformed_csv(t)], 2,
         ("1 row has more cells than the header's 7 (comma-separated): row 6 has 9",
          "A value probably contains a comma without quotes around it")),
    Case("unclosed-quote", lambda t: ["ingest", _unclosed_csv(t)], 2,
         ("a quote (\") opened in row 7 is never closed",)),
    Case("spreadsheet-row-numbers", lambda t: ["ingest", _row_numbers_csv(t)], 2,
         ("column 'amount': not a number in 1 row: row 8 ('lots')",)),
    Case("excel-cover-page", lambda t: ["ingest", _cover_xlsx(t), "--json"], 0),
    Case("excel-title-rows", lambda t: ["ingest", _title_rows_xlsx(t)], 2,
         ("column 'amount': not a number in 1 row: row 7 ('lots')",)),
    Case("placeholder-date-far-before",
         lambda t: ["ingest", write_csv(t / "p.csv", [dict(r, created_at="1900-01-01") if i == 4
                                                      else r for i, r in enumerate(rows())]),
                    "--json"], 0,
         ("far before the rest of the data", "row 6 ('1900-01-01')")),
    Case("excel-without-data-sheet", lambda t: ["ingest", _cover_xlsx(t, with_data=False)], 2,
         ("no sheet has the columns", "'Cover' ('note')", "'Other' ('x')", "--sheet")),
    Case("excel-named-sheet", lambda t: ["ingest", _cover_xlsx(t), "--sheet", "Cover"], 2,
         ("missing required column",)),
    Case("csv-not-utf8",
         lambda t: ["ingest", _write_bytes(t / "l.csv", pd.DataFrame(rows()).assign(
             owner="Renée").to_csv(index=False).encode("latin-1"))], 2,
         ("not UTF-8 text: byte 0xe9", "line 2")),
    Case("csv-utf16-with-bom",
         lambda t: ["ingest", _write_bytes(t / "u.csv", pd.DataFrame(rows()).to_csv(
             index=False).encode("utf-16")), "--json"], 0),
]


def _write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def interrupt_the_fit(monkeypatch):
    """The sampler sees Ctrl-C, swallows it and breaks on the empty trace, like nutpie."""
    import targetsim.model.fit as fitmod

    def sample_model(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
        except KeyboardInterrupt:
            pass  # nutpie: "result = sampler.abort()"
        return np.max(np.zeros(0))  # ValueError: zero-size array to reduction operation

    monkeypatch.setattr(fitmod, "sample_model", sample_model)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_issue_case(case: Case, tmp_path, capsys, monkeypatch, request):
    if case.fit:
        request.getfixturevalue("quick_fit")
    if case.id == "ctrl-c-during-fit":
        request.getfixturevalue("interrupt_the_fit")
    for k, v in case.env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    try:
        args = case.setup(tmp_path)
        code, out, err = run(capsys, *args)
    finally:
        while _HOLDERS:
            h = _HOLDERS.pop()
            h.kill()
            h.wait()
    flat = " ".join(err.split())
    assert code == case.exit, f"{case.id}: exit {code}\n{err}"
    assert "Traceback" not in err and "internal error" not in err, err
    for words in case.says:
        assert " ".join(words.split()) in flat, f"{case.id}: {words!r} not in\n{err}"
    if case.check is not None:
        case.check(tmp_path, out, err)
    assert not list(tmp_path.rglob("*.tmp")) and not list(tmp_path.rglob(".targetsim-stage-*"))


def test_every_case_of_the_issue_is_in_the_table():
    """The closing note lists these cases with their exit codes."""
    ids = {c.id for c in CASES}
    assert len(ids) == len(CASES)
    for needed in ("formula-and-markup-names-plan", "markup-names-ingest",
                   "mixed-dates-read-day-first",
                   "duplicate-header", "future-date-2031", "zero-won-amounts-plan",
                   "out-is-a-file", "out-under-a-file", "out-unwritable", "scenario-not-utf8",
                   "scenario-infinite-multiplier", "scenario-huge-multiplier",
                   "ctrl-c-during-fit", "months-above-60", "scenario-multiplier-out-of-range",
                   "simulation-over-memory-budget", "second-run-same-out", "malformed-csv",
                   "spreadsheet-row-numbers", "excel-cover-page", "markup-names-calibrate-summary",
                   "killed-run-leftovers-cleared"):
        assert needed in ids


@pytest.mark.slow
def test_real_ctrl_c_during_plan_exits_130_without_traceback_or_outputs(tmp_path):
    """A real SIGINT to a real `targetsim plan` (whatever step it is in by then)."""
    data = write_csv(tmp_path / "good.csv", rows())
    exe = Path(sys.executable).with_name("targetsim")
    # Many MCMC draws keep the run busy well past the signal whatever the machine's speed
    # (a default plan of this small file can end before it).
    proc = subprocess.Popen([str(exe), "plan", str(data), "--out", str(tmp_path / "plan"),
                             "--mcmc-draws", "100000", "--tune", "20000", "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(12)
    assert proc.poll() is None, "the plan ended before the signal"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert err.strip().endswith("interrupted") and "Traceback" not in err
    assert not (tmp_path / "plan").exists() or not any((tmp_path / "plan").iterdir())
