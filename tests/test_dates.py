"""Date columns: one format per column, detected on the whole column (targetsim.data.dates)."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from targetsim.data.dates import DMY, MDY, file_order_hint, parse_date_column
from targetsim.data.options import ReadOptions
from targetsim.data.schema import parse_amounts
from targetsim.errors import ConfigError, DataError


def parse(cells, **kw):
    col = pd.Series(cells, dtype=object)
    out = parse_date_column(col, label="created_at", source="f.csv",
                            rows=np.arange(len(col)) + 2, **kw)
    return [None if pd.isna(v) else v.strftime("%Y-%m-%d") for v in out.values], out


@pytest.mark.parametrize("cells, expected", [
    (["2017-03-01", "2017-3-5", "2017-03-01T10:00:00+05:00", "2017-03-01 23:59:59.5Z"],
     ["2017-03-01", "2017-03-05", "2017-03-01", "2017-03-01"]),
    (["2017/03/01", "20170302"], ["2017-03-01", "2017-03-02"]),
    (["20/01/2017", "05/01/2017", "01/11/2016"], ["2017-01-20", "2017-01-05", "2016-11-01"]),
    (["01/20/2017", "05/01/2017"], ["2017-01-20", "2017-05-01"]),
    (["5.1.17", "25.12.16"], ["2017-01-05", "2016-12-25"]),
    (["01/01/2017", "02/02/2017"], ["2017-01-01", "2017-02-02"]),  # both readings agree
    (["5 Jan 2017", "Jan 6, 2017", "7 January 2017 10:00"],
     ["2017-01-05", "2017-01-06", "2017-01-07"]),
    ([datetime(2017, 3, 1, 15, 0), pd.Timestamp("2017-03-02"), None, ""],
     ["2017-03-01", "2017-03-02", None, None]),
])
def test_one_format_per_column(cells, expected):
    assert parse(cells)[0] == expected


def test_order_read_from_the_data_is_said():
    _, col = parse(["20/01/2017", "05/01/2017"])
    assert col.order == DMY and "row 2 ('20/01/2017') can only be read that way" in col.note


def test_not_dates_are_reported_cell_by_cell():
    values, col = parse(["2024-02-30", "soon", "2024-01-01", "42", "5770/1/1", "0001-01-01"])
    assert values == [None, None, "2024-01-01", None, None, None]
    assert col.bad.tolist() == [True, True, False, True, True, True]
    _, col = parse([20170301, 1.5e9, True])  # numbers are never dates
    assert col.bad.all()


def test_ambiguous_column_stops_and_quotes_the_cells():
    with pytest.raises(DataError) as exc:
        parse(["05/01/2017", "04/02/2017"])
    msg = str(exc.value)
    assert "f.csv: column 'created_at': dates like row 2 ('05/01/2017'), row 3 ('04/02/2017')" \
        in msg
    assert "5 January 2017 or May 01, 2017" in msg
    assert "--dayfirst" in msg and "--monthfirst" in msg and "--date-format" in msg


def test_options_settle_an_ambiguous_column():
    cells = ["05/01/2017", "04/02/2017", "01/13/2017"]
    day, col = parse(cells, options=ReadOptions(dayfirst=True))
    assert day == ["2017-01-05", "2017-02-04", None] and col.bad.tolist() == [False, False, True]
    month, col = parse(cells, options=ReadOptions(dayfirst=False))
    assert month == ["2017-05-01", "2017-04-02", "2017-01-13"] and col.order == MDY
    fmt, _ = parse(["05/01/2017 10:00", "2017-01-01"], options=ReadOptions(date_format="%d/%m/%Y"))
    assert fmt == ["2017-01-05", None]


def test_contradicting_and_mixed_columns_stop():
    with pytest.raises(DataError, match=r"mixes day-first and month-first dates: row 2 "):
        parse(["20/01/2017", "01/20/2017"])
    with pytest.raises(DataError, match=r"mixes date formats: year-month-day in row 2 "
                                         r"\('2017-01-05'\); day and month first in row 3"):
        parse(["2017-01-05", "06/01/2017"])


def test_other_columns_settle_an_ambiguous_one():
    rows = np.array([2, 3])
    hint = file_order_hint({"created_at": pd.Series(["20/01/2017", "03/01/2017"]),
                            "closed_at": pd.Series(["05/02/2017", "06/02/2017"])}, rows)
    assert hint[0] == DMY and "created_at" in hint[1]
    values, col = parse(["05/02/2017", "06/02/2017"], order_hint=hint)
    assert values == ["2017-02-05", "2017-02-06"] and "like column 'created_at'" in col.note
    both = {"a": pd.Series(["20/01/2017"]), "b": pd.Series(["01/20/2017"])}
    assert file_order_hint(both, np.array([2])) is None


def test_date_options_are_checked():
    with pytest.raises(ConfigError, match="needs a year"):
        ReadOptions(date_format="%d/%m")
    with pytest.raises(ConfigError, match="leave out --dayfirst"):
        ReadOptions(date_format="%d/%m/%Y", dayfirst=True)
    with pytest.raises(ConfigError, match="--decimal"):
        ReadOptions(decimal=";")


@pytest.mark.parametrize("decimal, cells, expected", [
    (".", ["1234.5", "1,234.50", "$1,234", "1 234.5", "1e3", "-5", "+7"],
     [1234.5, 1234.5, 1234.0, 1234.5, 1000.0, -5.0, 7.0]),
    (",", ["1234,5", "1.234,50", "1 234,50", "1.500", "€12"],
     [1234.5, 1234.5, 1234.5, 1500.0, 12.0]),
])
def test_amount_styles(decimal, cells, expected):
    values, bad = parse_amounts(pd.Series(cells, dtype=object), decimal)
    assert values.tolist() == expected and not bad.any()


@pytest.mark.parametrize("decimal, cells", [
    (".", ["1,5", "12,34,5", "1.2.3", "lots", "inf", "nan", "1_000", "(100)"]),
    (",", ["1.5", "1,2,3", "1e3"]),
])
def test_amounts_that_are_not_numbers(decimal, cells):
    _, bad = parse_amounts(pd.Series(cells, dtype=object), decimal)
    assert bad.all()
