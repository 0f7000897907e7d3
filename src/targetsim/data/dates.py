"""Date columns: one format per column, detected on the whole column, never cell by cell.

A CRM export typed or re-saved by many hands can hold ``20/01/2017`` (only day first makes
sense) next to ``05/01/2017`` (5 January or May 1?). Parsing each cell on its own reads the
first as 20 January and the second as May 1: a silent misread. Here:

* every text cell is classified by its **form**: year first (``2017-01-05``,
  ``2017/01/05``, ``20170105``, ISO 8601 with a time and zone), day and month first (``05/01/2017``,
  ``5.1.17``, ``05-01-2017``), or with a month name (``5 Jan 2017``, ``Jan 5, 2017``);
  a time of day after the date is allowed and dropped, the date is the one written;
* a column whose cells have more than one form stops with an error naming cells of each;
* for day/month dates the order is decided on the whole column: a cell whose first number
  is above 12 proves day first, one whose second number is above 12 proves month first;
  both in one column is an error naming the cells; a column with neither (every such date
  readable both ways) takes the order proven by the file's other date columns, and
  otherwise stops with an error quoting example cells and asking for ``--dayfirst``,
  ``--monthfirst`` or ``--date-format``;
* two-digit years are 2000-2069 for 00-69 and 1970-1999 for 70-99;
* cells that Excel or Parquet store as dates are dates already; a bare number is never a
  date (an Excel serial or an epoch cannot be told apart);
* ``--date-format`` reads every text cell with that one ``strftime`` pattern.

Cells that fit no form (``soon``, ``2024-13-45``) are reported as "not a date" by the
validator, row by row.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from targetsim.data.options import ReadOptions
from targetsim.errors import DataError

#: How many example cells a message quotes.
SHOW = 3

_TIME = (
    r"(?:(?:T|\s+)\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:\s*[AaPp]\.?[Mm]\.?)?"
    r"(?:\s*(?:Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?))?)?"
)
_YMD = re.compile(r"^(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME + r"$")
_YMD_COMPACT = re.compile(r"^((?:19|20)\d{2})(\d{2})(\d{2})$")
_DM = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4}|\d{2})" + _TIME + r"$")
_NAMED = re.compile(r"[^\W\d_]{3,}")

# Forms of a cell.
BLANK, NATIVE, YMD, DM, NAMED, OTHER = range(6)
FORM_NAMES = {
    YMD: "year-month-day",
    DM: "day and month first",
    NAMED: "with a month name",
}
DMY, MDY = "day/month/year", "month/day/year"


@dataclass(frozen=True)
class DateColumn:
    """A parsed date column.

    Attributes
    ----------
    values : pandas.Series
        ``datetime64[ns]`` at day precision; NaT where empty or not a date.
    bad : numpy.ndarray
        True where a non-empty cell is not a date.
    order : str or None
        :data:`DMY` or :data:`MDY` when day/month dates were read, else None.
    note : str or None
        How the order was decided when the data decided it (for a warning).
    """

    values: pd.Series
    bad: np.ndarray
    order: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class _Cells:
    """Classification of a raw column (positions are 0-based)."""

    form: np.ndarray
    text: list[str | None]
    first: np.ndarray  # first number of DM cells (0 elsewhere)
    second: np.ndarray
    year: np.ndarray


def _is_blank(v: object) -> bool:
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if isinstance(v, np.datetime64) and np.isnat(v):
        return True
    return isinstance(v, str) and not v.strip()


def classify(col: pd.Series) -> _Cells:
    """Form of every cell (vectorised: a million-row export is read in seconds)."""
    n = len(col)
    vals = col.to_numpy(dtype=object)
    form = np.full(n, OTHER, dtype=np.int8)
    text: list[str | None] = [None] * n
    first = np.zeros(n, dtype=np.int64)
    second = np.zeros(n, dtype=np.int64)
    year = np.zeros(n, dtype=np.int64)
    is_str = np.fromiter((type(v) is str for v in vals), dtype=bool, count=n)
    for i in np.flatnonzero(~is_str):  # blanks, Excel/Parquet dates, numbers (never dates)
        v = vals[i]
        if _is_blank(v):
            form[i] = BLANK
        elif isinstance(v, str):  # a str subclass
            is_str[i] = True
        elif isinstance(v, pd.Timestamp | datetime | date | np.datetime64) and not isinstance(
                v, bool | np.bool_):
            form[i] = NATIVE
    pos = np.flatnonzero(is_str)
    if not len(pos):
        return _Cells(form, text, first, second, year)
    strings = pd.Series([str(v) for v in vals[pos]], dtype=object).str.strip()
    blank = strings.eq("").to_numpy()
    text_arr = np.full(n, None, dtype=object)
    text_arr[pos[~blank]] = strings.to_numpy(dtype=object)[~blank]
    text = list(text_arr)
    form[pos[blank]] = BLANK
    rest = ~blank
    # Fast path for the usual export, plain YYYY-MM-DD (parsed in C); the rest by regex.
    iso = pd.to_datetime(strings.where(rest, None), format="%Y-%m-%d", errors="coerce")
    hit = (iso.notna() & strings.str.len().eq(10)).to_numpy()
    if hit.any():
        form[pos[hit]] = YMD
        year[pos[hit]] = iso.dt.year.to_numpy()[hit]
        first[pos[hit]] = iso.dt.month.to_numpy()[hit]
        second[pos[hit]] = iso.dt.day.to_numpy()[hit]
        rest &= ~hit

    def take(pattern: re.Pattern, groups: tuple[int, int, int]) -> np.ndarray:
        """Match the remaining cells; fill (year, first, second) where they match."""
        idx = np.flatnonzero(rest)
        if not len(idx):
            return idx
        found = strings.iloc[idx].str.extract(pattern.pattern)
        hit = found[0].notna().to_numpy()
        idx, found = idx[hit], found.loc[hit]
        y, a, b = (found[g - 1] for g in groups)
        years = np.array(y.astype(np.int64), dtype=np.int64)
        two = (y.str.len() == 2).to_numpy()  # two-digit years: 2000-2069, 1970-1999
        years[two] += np.where(years[two] < 70, 2000, 1900)
        year[pos[idx]] = years
        first[pos[idx]] = a.astype(np.int64).to_numpy()
        second[pos[idx]] = b.astype(np.int64).to_numpy()
        rest[idx] = False
        return pos[idx]

    form[take(_YMD, (1, 3, 4))] = YMD
    form[take(_YMD_COMPACT, (1, 2, 3))] = YMD
    form[take(_DM, (4, 1, 3))] = DM
    for k in np.flatnonzero(rest):  # rare: dates with a month name
        t = strings.iloc[k]
        if _NAMED.search(t) and any(ch.isdigit() for ch in t) and not np.isnat(
                _named(t, dayfirst=False)):
            form[pos[k]] = NAMED
    return _Cells(form, text, first, second, year)


def _quote(col: pd.Series, rows: np.ndarray, idx: np.ndarray) -> str:
    shown = [f"row {rows[i]} ({_as_written(col.iloc[i])})" for i in idx[:SHOW]]
    more = f" and {len(idx) - SHOW} more" if len(idx) > SHOW else ""
    return ", ".join(shown) + more


def _as_written(v: object) -> str:
    s = str(v).strip()
    return repr(s if len(s) <= 40 else s[:37] + "...")


def order_evidence(col: pd.Series, cells: _Cells | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positions of day/month cells that prove day first and that prove month first."""
    c = classify(col) if cells is None else cells
    dm = c.form == DM
    return (
        np.flatnonzero(dm & (c.first > 12) & (c.first <= 31) & (c.second <= 12)),
        np.flatnonzero(dm & (c.second > 12) & (c.second <= 31) & (c.first <= 12)),
    )


#: Years a date may have (inside pandas' nanosecond range, which ends in 1677 and 2262).
YEARS = (1678, 2261)


def _build(year: np.ndarray, month: np.ndarray, day: np.ndarray) -> np.ndarray:
    """Dates from their parts; NaT where the parts make no date (2024-02-30, year 5770)."""
    out = np.full(len(year), np.datetime64("NaT", "ns"))
    ok = (year >= YEARS[0]) & (year <= YEARS[1]) & (month >= 1) & (month <= 12) & (day >= 1)
    ok &= day <= 31
    if ok.any():
        frame = pd.DataFrame({"year": year[ok], "month": month[ok], "day": day[ok]})
        out[ok] = pd.to_datetime(frame, errors="coerce").to_numpy(dtype="datetime64[ns]")
    return out


def _native(v: object) -> np.datetime64:
    try:
        ts = pd.Timestamp(v)
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        return ts.normalize().as_unit("ns").to_datetime64()
    except Exception:  # out of the nanosecond range, odd objects
        return np.datetime64("NaT", "ns")


def _named(s: str, dayfirst: bool) -> np.datetime64:
    try:
        with warnings.catch_warnings():  # "could not infer format": one cell, no format
            warnings.simplefilter("ignore")
            ts = pd.Timestamp(pd.to_datetime(s, dayfirst=dayfirst))
        if ts.tzinfo is not None:
            ts = ts.tz_localize(None)
        return ts.normalize().as_unit("ns").to_datetime64()
    except Exception:  # dateutil raises ValueError, OverflowError, OutOfBounds...
        return np.datetime64("NaT", "ns")


def _with_format(col: pd.Series, cells: _Cells, fmt: str) -> np.ndarray:
    out = np.full(len(col), np.datetime64("NaT", "ns"))
    idx = [i for i, t in enumerate(cells.text) if t is not None]
    if idx:
        text = pd.Series([cells.text[i] for i in idx], dtype=object)
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        if "%H" not in fmt and "%I" not in fmt:  # a time of day after the date is dropped
            date_part = text.str.split(r"[T ]", n=1, regex=True).str[0]
            parsed = parsed.fillna(pd.to_datetime(date_part, format=fmt, errors="coerce"))
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        out[idx] = parsed.dt.normalize().to_numpy(dtype="datetime64[ns]")
    return out


def parse_date_column(
    col: pd.Series,
    *,
    label: str,
    source: str,
    rows: np.ndarray,
    options: ReadOptions | None = None,
    order_hint: tuple[str, str] | None = None,
    cells: _Cells | None = None,
) -> DateColumn:
    """Parse a raw date column with one format (see the module docstring).

    Parameters
    ----------
    col : pandas.Series
        Raw cells.
    label : str
        The column's name in the user's file, for messages.
    source : str
        The file, for messages.
    rows : numpy.ndarray
        Spreadsheet row number of each cell.
    options : ReadOptions, optional
    order_hint : (order, evidence) or None
        Day/month order proven by the file's other date columns, and how (for the note).
    cells : optional
        :func:`classify` of ``col`` when already computed.

    Raises
    ------
    DataError
        The column mixes date forms, mixes day-first and month-first dates, or its
        day/month dates can be read both ways and nothing says which way.
    """
    opts = options or ReadOptions()
    cells = classify(col) if cells is None else cells
    values = np.full(len(col), np.datetime64("NaT", "ns"))
    native = np.flatnonzero(cells.form == NATIVE)
    for i in native:
        values[i] = _native(col.iloc[i])
    blank = cells.form == BLANK
    order: str | None = None
    note: str | None = None
    if opts.date_format is not None:
        text_vals = _with_format(col, cells, opts.date_format)
        has_text = np.array([t is not None for t in cells.text], dtype=bool)
        values = np.where(has_text, text_vals, values)
    else:
        present = [f for f in (YMD, DM, NAMED) if (cells.form == f).any()]
        if len(present) > 1:
            parts = [
                f"{FORM_NAMES[f]} in {_quote(col, rows, np.flatnonzero(cells.form == f))}"
                for f in present
            ]
            raise DataError(
                f"{source}: column {label!r} mixes date formats: " + "; ".join(parts)
                + ". A column must use one format: fix those cells, or give --date-format "
                "(e.g. %Y-%m-%d) to read that one format and have the other cells reported "
                "as invalid."
            )
        ymd = np.flatnonzero(cells.form == YMD)
        if len(ymd):
            values[ymd] = _build(cells.year[ymd], cells.first[ymd], cells.second[ymd])
        named = np.flatnonzero(cells.form == NAMED)
        for i in named:
            values[i] = _named(cells.text[i] or "", bool(opts.dayfirst))
        dm = np.flatnonzero(cells.form == DM)
        if len(dm):
            order, note = _dm_order(cells, col, rows, label, source, opts, order_hint)
            day, month = (
                (cells.first[dm], cells.second[dm]) if order == DMY
                else (cells.second[dm], cells.first[dm])
            )
            values[dm] = _build(cells.year[dm], month, day)
    series = pd.Series(values, index=col.index, dtype="datetime64[ns]")
    bad = series.isna().to_numpy() & ~blank
    return DateColumn(series, bad, order, note)


def _dm_order(
    cells: _Cells,
    col: pd.Series,
    rows: np.ndarray,
    label: str,
    source: str,
    opts: ReadOptions,
    hint: tuple[str, str] | None,
) -> tuple[str, str | None]:
    if opts.dayfirst is not None:
        return (DMY if opts.dayfirst else MDY), None
    day_first, month_first = order_evidence(col, cells)
    if len(day_first) and len(month_first):
        raise DataError(
            f"{source}: column {label!r} mixes day-first and month-first dates: "
            f"{_quote(col, rows, day_first)} can only be {DMY}, "
            f"{_quote(col, rows, month_first)} only {MDY}. Fix those cells, or give "
            "--dayfirst or --monthfirst (or --date-format) to read the column one way and "
            "have the other cells reported as invalid."
        )
    if len(day_first):
        return DMY, (
            f"{source}: column {label!r} read as {DMY}: {_quote(col, rows, day_first)} "
            "can only be read that way."
        )
    if len(month_first):
        return MDY, (
            f"{source}: column {label!r} read as {MDY}: "
            f"{_quote(col, rows, month_first)} can only be read that way."
        )
    dm = cells.form == DM
    ambiguous = np.flatnonzero(dm & (cells.first != cells.second) & (cells.first <= 12)
                               & (cells.second <= 12))
    if not len(ambiguous):  # every day/month date reads the same both ways (01/01/2017)
        return DMY, None
    if hint is not None:
        order, why = hint
        return order, f"{source}: column {label!r} read as {order}, like {why}."
    i = ambiguous[0]
    a, b, y = int(cells.first[i]), int(cells.second[i]), int(cells.year[i])
    readings = ""
    try:
        d1 = date(y, b, a).strftime("%d %B %Y").lstrip("0")
        d2 = date(y, a, b).strftime("%B %d, %Y")
        readings = f" (the first: {d1} or {d2})"
    except ValueError:
        pass
    raise DataError(
        f"{source}: column {label!r}: dates like {_quote(col, rows, ambiguous)} can be "
        f"read day first or month first{readings}, and no date in the file settles it. Give "
        "--dayfirst (day/month/year) or --monthfirst (month/day/year), or --date-format "
        "(e.g. %d/%m/%Y)."
    )


def file_order_hint(
    columns: dict[str, pd.Series], rows: np.ndarray, options: ReadOptions | None = None,
    cells: dict[str, _Cells] | None = None,
) -> tuple[str, str] | None:
    """The day/month order proven by some date columns of a file (and none against it).

    Returns
    -------
    (order, evidence) or None
        None when no column proves an order, or columns prove different orders.
    """
    if options is not None and (options.dayfirst is not None or options.date_format):
        return None
    found: dict[str, str] = {}
    for label, col in columns.items():
        day_first, month_first = order_evidence(col, (cells or {}).get(label))
        if len(day_first) and not len(month_first):
            i = day_first[0]
            found.setdefault(DMY, f"column {label!r} (row {rows[i]}: {_as_written(col.iloc[i])})")
        elif len(month_first) and not len(day_first):
            i = month_first[0]
            found.setdefault(MDY, f"column {label!r} (row {rows[i]}: {_as_written(col.iloc[i])})")
    if len(found) != 1:
        return None
    order, why = next(iter(found.items()))
    return order, why
