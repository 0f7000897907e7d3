"""targets.xlsx: its values equal targets.csv, with formats a sales-ops team can use."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from targetsim.report import write_report
from targetsim.report.excel import FMT_AMOUNT, FMT_COUNT, FMT_PROB, LEVEL_SHEETS
from test_report_fixture import make_plan_dir

FIELDS = ["scenario", "name", "period", "metric", "target", "attainment_probability",
          "p10", "p50", "p90"]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = make_plan_dir(tmp_path_factory.mktemp("plan"))
    write_report(d, progress=False)
    return d


def _sheet_frame(ws) -> pd.DataFrame:
    rows = list(ws.iter_rows(values_only=True))
    return pd.DataFrame(rows[1:], columns=rows[0])


def test_values_equal_targets_csv(written: Path):
    csv = pd.read_csv(written / "targets.csv", keep_default_na=False)
    wb = load_workbook(written / "targets.xlsx")
    assert wb.sheetnames == ["Total", "Segments", "Owners", "Indicators"]
    n_rows = 0
    for level, sheet in LEVEL_SHEETS.items():
        ws = wb[sheet]
        got = _sheet_frame(ws).iloc[:, : len(FIELDS)]
        got.columns = FIELDS
        want = csv[csv.level == level][FIELDS].reset_index(drop=True)
        assert len(got) == len(want) > 0
        for c in ("scenario", "name", "period", "metric"):
            assert list(got[c]) == list(want[c])
        for c in ("target", "attainment_probability"):
            assert list(got[c].astype(float)) == list(want[c].astype(float))  # exact
        # openpyxl writes 16 significant digits: the bands may differ in the last bit.
        for c in ("p10", "p50", "p90"):
            np.testing.assert_allclose(got[c].astype(float), want[c].astype(float), rtol=1e-15)
        n_rows += len(got)
    assert n_rows == len(csv)


def test_formats_frozen_header_and_indicators(written: Path):
    wb = load_workbook(written / "targets.xlsx")
    seg = wb["Segments"]
    assert seg.freeze_panes == "A2"
    header = [c.value for c in seg[1]]
    assert header[:2] == ["Scenario", "Name"] and "New opportunities" in header
    formats = {}
    for row in seg.iter_rows(min_row=2):
        metric = row[3].value
        formats.setdefault(metric, (row[4].number_format, row[5].number_format))
    assert formats["bookings"] == (FMT_AMOUNT, FMT_PROB)
    assert formats["deals_won"] == (FMT_COUNT, FMT_PROB)
    assert seg.column_dimensions["B"].width >= 12
    # Quarterly bookings rows carry their leading indicators; FY rows have none.
    ind = pd.read_csv(written / "indicators.csv", keep_default_na=False)
    frame = _sheet_frame(seg)
    q = frame[(frame["Period"] == "2027-Q1") & (frame["Metric"] == "bookings")]
    assert len(q) == 4 and q["New opportunities"].notna().all()
    assert frame[frame["Period"] == "FY"]["New opportunities"].isna().all()
    ind_sheet = _sheet_frame(wb["Indicators"])
    assert len(ind_sheet) == len(ind)
    assert list(ind_sheet.iloc[:, 4].astype(float)) == list(ind["new_opportunities"])


def test_french_headers(tmp_path: Path):
    d = make_plan_dir(tmp_path / "plan", optional=False)
    write_report(d, lang="fr", progress=False)
    wb = load_workbook(d / "targets.xlsx")
    assert wb.sheetnames == ["Total", "Segments", "Owners"]  # no indicators.csv here
    assert [c.value for c in wb["Total"][1]][:5] == [
        "Scénario", "Nom", "Période", "Indicateur", "Objectif"
    ]
