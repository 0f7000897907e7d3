"""The one escaping module: formulas, Markdown and console markup from data are inert."""

import io

import pandas as pd
from openpyxl import Workbook, load_workbook
from rich.console import Console

from targetsim.safe_text import (
    escape_console,
    escape_markdown,
    neutralise_formula,
    neutralise_frame,
    xlsx_text_cell,
)

HOSTILE = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1", "\r=1"]


def test_formula_prefixes_are_neutralised_and_plain_text_is_not():
    for v in HOSTILE:
        assert neutralise_formula(v) == "'" + v
    assert neutralise_formula("Acme - East") == "Acme - East"
    assert neutralise_formula(-2.5) == -2.5
    assert neutralise_formula(None) is None


def test_frame_neutralises_text_columns_only():
    df = pd.DataFrame({"name": ["=1+1", "ok"], "target": [-1.0, 2.0]})
    out = neutralise_frame(df)
    assert out["name"].tolist() == ["'=1+1", "ok"]
    assert out["target"].tolist() == [-1.0, 2.0]


def test_xlsx_cells_from_data_are_never_formulas(tmp_path):
    wb = Workbook()
    ws = wb.active
    for i, v in enumerate(HOSTILE, start=1):
        xlsx_text_cell(ws.cell(row=i, column=1), v)
    path = tmp_path / "x.xlsx"
    wb.save(path)
    ws2 = load_workbook(path).active
    for i, v in enumerate(HOSTILE, start=1):
        cell = ws2.cell(row=i, column=1)
        assert cell.data_type == "s"
        # XML stores a carriage return as a line feed; the apostrophe is what matters.
        assert cell.value.replace("\n", "\r") == ("'" + v).replace("\n", "\r")


def test_markdown_and_console_escape():
    assert "<script>" not in escape_markdown("<script>alert(1)</script>")
    buf = io.StringIO()
    Console(file=buf, force_terminal=False).print(escape_console("[/] [link=http://x]y[/link]"))
    assert buf.getvalue().strip() == "[/] [link=http://x]y[/link]"
