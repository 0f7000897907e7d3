"""Random malformed tables: load_opportunities raises DataError or succeeds, nothing else.

Whatever loads must also go through build_funnel and summarize_funnel without error.
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from targetsim.data import (
    build_funnel,
    check_opportunities,
    demo_data_path,
    load_opportunities,
    summarize_funnel,
)
from targetsim.data.funnel import Opportunities
from targetsim.errors import DataError

NAMES = [
    "opportunity_id", "created_at", "outcome", "closed_at", "amount", "segment", "owner",
    "demo_at", "proposal_at", "Created Date", " created_at ", "x",
]
MAVEN_NAMES = [
    "opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date",
    "close_date", "close_value",
]

cells = st.one_of(
    st.none(),
    st.just(""),
    st.text(max_size=12),
    st.sampled_from(
        ["won", "lost", "open", "Closed Won", "closed-lost", "Won", "Lost", "Engaging",
         "Prospecting", "GTXPro", "MG Special", "Moses Frase", "[/bold]", "NaN", "inf", "-1",
         "1e400", "2024-02-30", "0001-01-01", "9999-12-31", "2017-03-01T10:00:00+05:00"]
    ),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)).map(str),
    st.dates(min_value=date(2015, 1, 1), max_value=date(2025, 12, 31)).map(str),
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
)


BASE = pd.DataFrame(
    {
        "opportunity_id": ["a1", "a2", "a3", "a4", "a5", "a6"],
        "created_at": ["2024-01-03", "2024-01-09", "2024-02-01", "2024-02-11", "2024-03-01",
                       "2024-03-05"],
        "outcome": ["won", "lost", "open", "won", "open", "lost"],
        "closed_at": ["2024-02-01", "2024-02-02", None, "2024-03-30", None, "2024-03-20"],
        "amount": ["100", None, "50", "75.5", None, "0"],
        "segment": ["A", "B", "A", None, "B", "A"],
        "owner": ["x", "y", None, "x", "y", "x"],
        "demo_at": ["2024-01-05", None, "2024-02-03", "2024-02-15", None, "2024-03-06"],
        "proposal_at": ["2024-01-20", None, None, "2024-03-01", None, None],
    }
)


@st.composite
def random_tables(draw, names=NAMES):
    cols = draw(st.lists(st.sampled_from(names) | st.text(max_size=6), max_size=9, unique=True))
    n = draw(st.integers(min_value=0, max_value=7))
    rows = [[draw(cells) for _ in cols] for _ in range(n)]
    return cols, rows


@st.composite
def mutated_tables(draw, base=BASE):
    """A valid table with a few cells replaced, columns dropped or rows duplicated."""
    df = base.astype(object).copy()
    keep = draw(st.lists(st.sampled_from(list(df.columns)), unique=True, min_size=len(df.columns)
                         - 2, max_size=len(df.columns)))
    df = df[[c for c in df.columns if c in keep]]
    rows = df.values.tolist()
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        if not rows or not df.columns.size:
            break
        i = draw(st.integers(min_value=0, max_value=len(rows) - 1))
        j = draw(st.integers(min_value=0, max_value=df.columns.size - 1))
        rows[i][j] = draw(cells)
    if rows and draw(st.booleans()):
        rows.append(list(rows[draw(st.integers(min_value=0, max_value=len(rows) - 1))]))
    return list(df.columns), rows


def tables(names=NAMES):
    return st.one_of(random_tables(names), mutated_tables())


MAVEN_BASE = pd.read_csv(demo_data_path() / "sales_pipeline.csv", dtype=object, nrows=2500).iloc[
    [0, 1, 2, 3, 2400, 2401, 2402, 2403]
]
MAVEN_BASE = pd.concat(
    [
        MAVEN_BASE,
        pd.read_csv(demo_data_path() / "sales_pipeline.csv", dtype=object)
        .groupby("deal_stage")
        .head(2),
    ]
).drop_duplicates("opportunity_id")


def write_file(tmp: Path, cols, rows, kind: str, encoding: str) -> Path:
    if kind == "bytes":
        return tmp
    if kind == "csv":
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else str(v) for v in r])
        path = tmp / "deals.csv"
        path.write_bytes(buf.getvalue().encode(encoding, errors="replace"))
        return path
    df = pd.DataFrame([[None if v is None else str(v) for v in r] for r in rows], columns=cols)
    if kind == "parquet":
        path = tmp / "deals.parquet"
        df.columns = [str(c) for c in df.columns]
        try:
            df.to_parquet(path)
        except Exception:  # duplicate/odd names the writer refuses: write bytes instead
            path.write_bytes(b"\x00garbage")
        return path
    path = tmp / "deals.xlsx"
    try:
        df.to_excel(path, index=False)
    except Exception:  # openpyxl refuses control characters: a corrupt file then
        path.write_bytes(b"PK\x03\x04broken")
    return path


def check(path: Path, **kwargs) -> None:
    try:
        opps = load_opportunities(path, **kwargs)
    except DataError as exc:
        assert str(exc)  # a message, not an empty error
        return
    assert isinstance(opps, Opportunities)
    assert len(opps.table) > 0
    check_opportunities(opps)  # whatever loads keeps the canonical contract
    facts = summarize_funnel(build_funnel(opps))
    facts.to_dict()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=tables(),
    kind=st.sampled_from(["csv", "csv", "csv", "parquet", "xlsx", "bytes"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]),
    raw=st.binary(max_size=200),
    stages=st.sampled_from([(), ("demo",), ("demo", "proposal")]),
    as_of=st.one_of(st.none(), st.sampled_from(["2024-01-01", "garbage", "1700-01-01"])),
    skip_invalid=st.booleans(),
)
def test_canonical_random_tables_only_raise_dataerror(
    table, kind, encoding, raw, stages, as_of, skip_invalid
):
    cols, rows = table
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if kind == "bytes":
            path = tmp / "deals.csv"
            path.write_bytes(raw)
        else:
            path = write_file(tmp, cols, rows, kind, encoding)
        check(path, stages=stages, as_of=as_of, skip_invalid=skip_invalid)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=st.one_of(random_tables(names=MAVEN_NAMES), mutated_tables(base=MAVEN_BASE)),
    full_columns=st.booleans(),
    segment_col=st.sampled_from([None, "product", "sector", "manager", "series"]),
    skip_invalid=st.booleans(),
)
def test_maven_random_pipelines_only_raise_dataerror(table, full_columns, segment_col,
                                                     skip_invalid):
    cols, rows = table
    if full_columns:  # all Maven columns present, so validation (not the layout) is exercised
        extra = [c for c in MAVEN_NAMES if c not in cols]
        cols = cols + extra
        rows = [r + [None] * len(extra) for r in rows]
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for name in ("accounts.csv", "products.csv", "sales_teams.csv"):
            shutil.copy(demo_data_path() / name, tmp / name)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else str(v) for v in r])
        (tmp / "sales_pipeline.csv").write_text(buf.getvalue(), encoding="utf-8")
        check(tmp, fmt="maven", segment_col=segment_col, skip_invalid=skip_invalid)
