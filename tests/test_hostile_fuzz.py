"""Property-based fuzzing of ``targetsim ingest`` on generated, hostile CSV exports.

Hostile names (formulas, rich markup, HTML, control characters), encodings, separators,
date styles (ISO, day or month first, month names, mixed, far future), amount styles
(thousands separators, decimal commas, zeros, garbage) and broken structure (duplicate
headers, surplus cells, an unclosed quote, blank lines) under random reading options.
Whatever comes in: no traceback, ever; exit 0 with JSON facts, or exit 2 with a message.
Kept to about ten seconds so that it runs in every CI build.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targetsim.cli import main

HOSTILE_NAMES = [
    '=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1", "\r=1",
    "[/]", "[bold]x", "[link=http://evil]y[/link]", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "a\x1b[2Jb", "Zoë & Søren", "東京", "", " ", "NaN",
    "null", "'quoted", '"q"', "a,b", "a;b", "line\nbreak", ":smile:", "\\", "%s%d",
]
DATE_STYLES = ["iso", "iso_time", "dmy", "mdy", "dmy_dots", "named", "mixed", "garbage"]
ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"]
SEPARATORS = [",", ";", "\t", "|"]

names = st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=10))


def _date(day: int, style: str, draw) -> str:
    y, m, d = 2016 + day // 336, 1 + (day // 28) % 12, 1 + day % 28
    if style == "mixed":
        style = draw(st.sampled_from(DATE_STYLES[:-2]))
    if style == "iso":
        return f"{y:04d}-{m:02d}-{d:02d}"
    if style == "iso_time":
        return f"{y:04d}-{m:02d}-{d:02d}T10:30:00+02:00"
    if style == "dmy":
        return f"{d:02d}/{m:02d}/{y}"
    if style == "mdy":
        return f"{m:02d}/{d:02d}/{y}"
    if style == "dmy_dots":
        return f"{d}.{m}.{y % 100:02d}"
    if style == "named":
        return f"{d} {['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'][m - 1]} {y}"  # noqa: E501
    return draw(st.sampled_from(["soon", "2031-02-30", "99/99/9999", "0", "", "2031-03-01"]))


def _amount(value: float, style: str) -> str:
    if style == "plain":
        return f"{value:.2f}"
    if style == "thousands":
        return f"{value:,.2f}"
    if style == "comma":
        return f"{value:,.2f}".replace(",", " ").replace(".", ",")
    if style == "zero":
        return "0"
    return "lots"


@st.composite
def exports(draw):
    n = draw(st.integers(min_value=1, max_value=10))
    date_style = draw(st.sampled_from(DATE_STYLES))
    amount_style = draw(st.sampled_from(["plain", "thousands", "comma", "zero", "garbage"]))
    header = ["opportunity_id", "created_at", "outcome", "closed_at", "amount", "segment",
              "owner"]
    if draw(st.booleans()):
        header = draw(st.permutations(header))
    rows = []
    for i in range(n):
        outcome = draw(st.sampled_from(["won", "lost", "open", "Closed Won", "maybe"]))
        start = draw(st.integers(min_value=0, max_value=700))
        rec = {
            "opportunity_id": draw(st.sampled_from([f"O{i}", f"O{i}", "O0", "", "=1+1"])),
            "created_at": _date(start, date_style, draw),
            "outcome": outcome,
            "closed_at": "" if outcome == "open" else _date(start + draw(
                st.integers(min_value=0, max_value=90)), date_style, draw),
            "amount": _amount(draw(st.floats(min_value=0, max_value=2e6)), amount_style),
            "segment": draw(names),
            "owner": draw(names),
        }
        rows.append([rec[h] for h in header])
    sep = draw(st.sampled_from(SEPARATORS))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=sep, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    text = buf.getvalue()
    mutation = draw(st.sampled_from(["none", "none", "dup_header", "surplus", "unclosed",
                                     "blank_lines", "short_row", "truncate"]))
    lines = text.split("\n")
    if mutation == "dup_header":
        lines[0] = lines[0] + sep + draw(st.sampled_from(header))
    elif mutation == "surplus" and len(lines) > 2:
        lines[1] = lines[1] + sep + "x" + sep + "y"
    elif mutation == "unclosed" and len(lines) > 2:
        lines[-2] = '"' + lines[-2]
    elif mutation == "blank_lines":
        lines.insert(1, "")
        lines.insert(len(lines) - 1, sep * 3)
    elif mutation == "short_row" and len(lines) > 2:
        lines[1] = lines[1].split(sep)[0]
    elif mutation == "truncate":
        text = "\n".join(lines)
        lines = text[: draw(st.integers(min_value=0, max_value=len(text)))].split("\n")
    encoding = draw(st.sampled_from(ENCODINGS))
    data = "\n".join(lines).encode(encoding, errors="replace")
    options = []
    if draw(st.booleans()):
        options.append(draw(st.sampled_from(["--dayfirst", "--monthfirst"])))
    if draw(st.booleans()):
        options += ["--decimal", draw(st.sampled_from([".", ","]))]
    if not any(o in options for o in ("--dayfirst", "--monthfirst")) and draw(st.booleans()):
        options += ["--date-format", draw(st.sampled_from(["%d/%m/%Y", "%Y-%m-%d", "%m"]))]
    if draw(st.booleans()):
        options.append("--skip-invalid")
    return data, options


def run_cli(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(args)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(export=exports())
def test_ingest_never_crashes_and_rejects_with_exit_2(export):
    data, options = export
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "export.csv"
        path.write_bytes(data)
        code, out, err = run_cli(["ingest", str(path), "--json", *options])
    assert "Traceback" not in err and "internal error" not in err, err
    assert code in (0, 2), (code, err)
    if code == 0:
        facts = json.loads(out)  # stdout is the JSON facts alone
        assert facts["total"]["opportunities"] >= 1
    else:
        assert err.startswith("error:") or "Usage:" in err, err
