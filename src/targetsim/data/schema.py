"""The canonical opportunities table: parsing every cell and collecting every problem.

Rules (DESIGN.md, "Input: canonical opportunities table"):

* required columns ``opportunity_id``, ``created_at``, ``outcome``; ``closed_at`` too as
  soon as one deal is won or lost. A missing column is never recoverable. Without an
  ``amount`` column the file is accepted with a warning: it gives deals-won targets only
  (bookings targets need the won deals' amounts).
* ``outcome`` is ``won``, ``lost`` or ``open``, case-insensitively, surrounding blanks
  ignored. The CRM spellings ``closed won`` / ``closed lost`` (with a space, ``_`` or
  ``-``) are accepted as ``won`` / ``lost``; anything else is an error.
* dates: one format per column, detected on the whole column (:mod:`targetsim.data.dates`:
  ``2017-03-01``, ``01/03/2017`` day or month first as the column proves it, ``1 Mar 2017``;
  ``--date-format``, ``--dayfirst``/``--monthfirst`` to say it). Excel cells are dates
  already. The time of day is dropped. A bare number is not accepted as a date.
* ``amount`` is a number ≥ 0 (``1234.5``, ``1,234.50``, ``$1,234``; with ``--decimal ,``:
  ``1.234,50``, ``1 234,50``); required for won deals when the column exists, optional (an
  estimate) for open ones, ignored for lost ones (the CRM's 0 for a lost deal is not a
  contract value). Won deals with amount 0 are counted and reported; a segment whose won
  deals have no positive amount gets a warning: it will get deals-won targets only.
* an open deal's ``closed_at`` is ignored: CRMs often keep the *expected* close date there.
* stage dates (``<stage>_at``) must be in funnel order, not before creation and not after
  the close.
* a missing ``segment`` becomes ``unknown``; no segment column means one segment ``all``.

Rows breaking a rule are all reported together (file, column, spreadsheet row numbers with
the header as row 1, the offending values, how many rows). With ``skip_invalid`` they
are dropped with a warning instead (every copy of a duplicated id: which one is right is
unknown).

The default as-of date is the latest date of the data, leaving out dates "far beyond the
bulk": the latest dates when a gap of more than :data:`OUTLIER_GAP_DAYS` days separates them
from every other date and they are at most 1 % of the dates (at least
:data:`OUTLIER_MIN_COUNT`), e.g. one deal typed 2031 in a 2016-2017 export. Those dates, and
any date after today, are warnings naming their rows; a date after today does not move the
as-of date by itself (synthetic or clock-shifted data stay usable), a far outlier does not
move it at all. Dates as far below the bulk are warnings too (they stretch the arrival
window).

Relative to the as-of date: a deal created after ``as_of`` is dropped with a warning (it
did not exist yet); a deal closed after ``as_of`` is treated as open at ``as_of`` (its
close date forgotten; a won deal's amount stays as the open deal's estimate), and stage
dates after ``as_of`` are forgotten; this is what a backtest at an earlier as-of date
needs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import pandas as pd

from targetsim.data.dates import DateColumn, classify, file_order_hint, parse_date_column
from targetsim.data.funnel import DEFAULT_SEGMENT, Opportunities
from targetsim.data.options import ReadOptions
from targetsim.errors import DataError

REQUIRED = ("opportunity_id", "created_at", "outcome")
REQUIRED_WHEN_CLOSED = ("closed_at",)
CANONICAL = ("opportunity_id", "created_at", "outcome", "closed_at", "amount", "segment", "owner")
#: Accepted spellings of the outcomes (after lower-casing and collapsing ``_``/``-``/blanks).
OUTCOME_SYNONYMS = {
    "won": "won",
    "lost": "lost",
    "open": "open",
    "closed won": "won",
    "closed lost": "lost",
}
#: Segment given to rows whose segment cell is empty.
UNKNOWN_SEGMENT = "unknown"
#: How many offending rows a message shows.
SHOW_ROWS = 5
#: A gap (days) after which the latest dates count as far beyond the bulk of the data.
OUTLIER_GAP_DAYS = 365
#: Dates that may be set apart as outliers: up to 1 % of them, and at least this many.
OUTLIER_MIN_COUNT = 3


@dataclass(frozen=True)
class Problem:
    """Rows that break one rule.

    Attributes
    ----------
    column : str
        Canonical column (or the user's column when mapped) where the problem shows.
    rule : str
        What is wrong, in words.
    rows : numpy.ndarray
        Positions (0-based) of the offending data rows.
    values : tuple of str
        The offending values of the first rows, as shown to the user.
    """

    column: str
    rule: str
    rows: np.ndarray
    values: tuple[str, ...]

    def describe(self, row_numbers: np.ndarray, label: str) -> str:
        n = len(self.rows)
        shown = ", ".join(
            f"row {row_numbers[r]} ({v})"
            for r, v in zip(self.rows[:SHOW_ROWS], self.values, strict=False)
        )
        more = f", ... and {n - SHOW_ROWS} more" if n > SHOW_ROWS else ""
        plural = "row" if n == 1 else "rows"
        return f"column {label!r}: {self.rule} in {n} {plural}: {shown}{more}"


def _show(v: object) -> str:
    if _is_blank(v):
        return "empty"
    if isinstance(v, pd.Timestamp | datetime | date):
        return repr(pd.Timestamp(v).strftime("%Y-%m-%d"))
    s = str(v)
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _is_blank(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    if v is pd.NaT or v is pd.NA or (isinstance(v, np.datetime64) and np.isnat(v)):
        return True
    return isinstance(v, str) and not v.strip()


def blank_mask(col: pd.Series) -> np.ndarray:
    """True where a raw cell is empty (None, NaN, NaT or only blanks)."""
    vals = col.to_numpy(dtype=object)
    is_str = np.fromiter((type(v) is str for v in vals), dtype=bool, count=len(vals))
    out = np.zeros(len(vals), dtype=bool)
    if is_str.any():
        out[is_str] = pd.Series(vals[is_str], dtype=object).str.strip().eq("").to_numpy()
    for i in np.flatnonzero(~is_str):
        out[i] = _is_blank(vals[i])
    return out


def parse_text(col: pd.Series) -> pd.Series:
    """Cells as stripped strings; empty cells as None."""

    def conv(v: object) -> object:
        if _is_blank(v):
            return None
        if isinstance(v, float) and v.is_integer():
            return str(int(v))  # Excel stores ids typed as numbers as floats
        if isinstance(v, bytes):
            return v.decode("utf-8", errors="replace").strip()
        return str(v).strip()

    vals = col.to_numpy(dtype=object)
    is_str = np.fromiter((type(v) is str for v in vals), dtype=bool, count=len(vals))
    out = np.empty(len(vals), dtype=object)
    if is_str.any():  # the usual CSV column: one vectorised pass
        text = pd.Series(vals[is_str], dtype=object).str.strip()
        out[is_str] = text.where(text.ne(""), None).to_numpy(dtype=object)
    for i in np.flatnonzero(~is_str):
        out[i] = conv(vals[i])
    return pd.Series(out, index=col.index, dtype=object)


def _one_date(v: object) -> pd.Timestamp:
    """One date given as an option (``--as-of``): ISO or another unambiguous form."""
    if isinstance(v, bool | np.bool_ | int | float | np.integer | np.floating):
        return pd.NaT  # a bare number is not a date we can trust (epoch? Excel serial?)
    col = pd.Series([v.strip() if isinstance(v, str) else v], dtype=object)
    try:
        parsed = parse_date_column(col, label="--as-of", source="--as-of", rows=np.array([1]))
    except DataError:
        return pd.NaT
    return parsed.values.iloc[0]


def parse_dates(
    col: pd.Series, options: ReadOptions | None = None, *, label: str = "date",
    source: str = "<memory>", rows: np.ndarray | None = None,
) -> tuple[pd.Series, np.ndarray]:
    """Parse a raw column of dates with one format (:mod:`targetsim.data.dates`).

    Returns
    -------
    dates : pandas.Series
        ``datetime64[ns]`` at day precision, NaT where empty or unparseable.
    bad : numpy.ndarray
        True where a non-empty cell could not be read as a date.

    Raises
    ------
    DataError
        The column mixes date formats or its day/month order cannot be decided.
    """
    rows = np.arange(len(col)) + 2 if rows is None else rows
    parsed = parse_date_column(col, label=label, source=source, rows=rows, options=options)
    return parsed.values, parsed.bad


_GROUPS = {".": "[,\u00a0\u202f' ]", ",": "[.\u00a0\u202f' ]"}
_PLAIN = {
    ".": r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?",
    ",": r"[+-]?(?:[0-9]+,?[0-9]*|,[0-9]+)",
}
_CURRENCY = re.compile(r"^[$€£¥]\s*|\s*[$€£¥]$")


def _number(text: str, decimal: str) -> float:
    s = _CURRENCY.sub("", text.strip())
    sign = ""
    if s[:1] in "+-":
        sign, s = s[0], s[1:]
    if decimal == ".":
        plain = re.fullmatch(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", s)
    else:
        plain = re.fullmatch(r"[0-9]+,?[0-9]*|,[0-9]+", s)
    if plain:
        return float(sign + s.replace(",", "."))
    grouped = re.fullmatch(
        r"[0-9]{1,3}(" + _GROUPS[decimal] + r")[0-9]{3}(?:\1[0-9]{3})*(?:" + re.escape(decimal)
        + r"[0-9]+)?", s)
    if grouped:
        digits = s.replace(grouped.group(1), "")
        return float(sign + digits.replace(",", "."))
    return np.nan


def parse_amounts(col: pd.Series, decimal: str = ".") -> tuple[pd.Series, np.ndarray]:
    """Parse a raw column of amounts; returns (float values with NaN, bad-cell mask).

    Text cells may carry thousands separators and a currency symbol (``$1,234.50``); with
    ``decimal=","`` the decimal mark is a comma (``1.234,50``, ``1 234,50``).
    """

    def conv(v: object) -> float:
        if _is_blank(v) or isinstance(v, bool | np.bool_):
            return np.nan
        if isinstance(v, int | float | np.integer | np.floating):
            return float(v)
        try:
            return _number(str(v), decimal)
        except (ValueError, OverflowError):
            return np.nan

    blank = blank_mask(col)
    vals = col.to_numpy(dtype=object)
    out = np.full(len(vals), np.nan)
    is_str = np.fromiter((type(v) is str for v in vals), dtype=bool, count=len(vals))
    slow = ~is_str
    if is_str.any():  # plain numbers in one vectorised pass, the others one by one
        text = pd.Series(vals[is_str], dtype=object).str.strip()
        plain = text.str.fullmatch(_PLAIN[decimal]).to_numpy(dtype=bool)
        idx = np.flatnonzero(is_str)
        with np.errstate(over="ignore"):
            out[idx[plain]] = text[plain].str.replace(",", ".").astype(float).to_numpy()
        slow[idx[~plain]] = True
    for i in np.flatnonzero(slow):
        out[i] = conv(vals[i])
    values = pd.Series(out, index=col.index, dtype=float)
    bad = (~np.isfinite(values.to_numpy())) & ~blank
    values = values.where(np.isfinite(values.to_numpy()))
    return values, bad


def normalize_outcome(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Map outcome spellings to ``won``/``lost``/``open``; returns (values, bad mask)."""
    text = parse_text(col)
    key = text.str.lower().str.replace(r"[\s_\-]+", " ", regex=True).str.strip()
    out = pd.Series(key.map(OUTCOME_SYNONYMS).to_numpy(dtype=object), index=col.index,
                    dtype=object)
    out = out.where(out.notna(), None)
    return out, out.isna().to_numpy()


def validate(
    raw: pd.DataFrame,
    *,
    source: str,
    stages: Sequence[str] = (),
    as_of: str | date | pd.Timestamp | None = None,
    skip_invalid: bool = False,
    labels: dict[str, str] | None = None,
    impute_created: np.ndarray | None = None,
    warnings: Sequence[str] = (),
    row_numbers: np.ndarray | None = None,
    options: ReadOptions | None = None,
    today: str | date | pd.Timestamp | None = None,
) -> Opportunities:
    """Parse and validate a raw table with canonical column names.

    Parameters
    ----------
    raw : pandas.DataFrame
        Cells as read (see :func:`targetsim.data.readers.read_table`), columns already
        renamed to canonical names. An index named ``row`` holds spreadsheet row numbers;
        otherwise row ``i`` is spreadsheet row ``i + 2``.
    source : str
        File name used in messages.
    stages : sequence of str
        Intermediate stages in funnel order; each needs a ``<stage>_at`` column.
    as_of : str, date or None
        Censoring date; default the latest date in the (valid) data, outliers left out
        (see the module docstring).
    skip_invalid : bool
        Drop invalid rows with a warning instead of raising.
    labels : dict, optional
        Canonical name → the user's column name, for messages.
    impute_created : numpy.ndarray of bool, optional
        Rows whose creation date is unknown by design (an adapter's choice, e.g. Maven's
        Prospecting rows): ``created_at`` is set to ``as_of`` and ``created_imputed`` True.
    warnings : sequence of str
        Warnings already collected (by an adapter).
    row_numbers : numpy.ndarray of int, optional
        The file's row number of each row, when an adapter dropped rows (a report footer,
        deleted or duplicated deals); default the index when it is named ``row``, else
        ``i + 2``.
    options : ReadOptions, optional
        How to read dates and amounts.
    today : date, optional
        The date of the run (default: the system's), for the "after today" warning.

    Returns
    -------
    Opportunities

    Raises
    ------
    DataError
        A required column is missing, a date column is ambiguous or mixes formats, or
        rows are invalid and ``skip_invalid`` is False.
    """
    labels = dict(labels or {})
    opts = options or ReadOptions()

    def label(c: str) -> str:
        return labels.get(c, c)

    warn = list(warnings)
    stages = tuple(stages)
    for s in stages:
        if not re.fullmatch(r"[A-Za-z0-9_]+", s) or s in ("created", "won", "lost", "open"):
            raise DataError(
                f"--stages: {s!r} is not a usable stage name (letters, digits and _ only; "
                "not created/won/lost/open)."
            )
    if len(set(stages)) != len(stages):
        raise DataError(f"--stages: a stage is named twice in {','.join(stages)}.")
    n = len(raw)
    imputed = (
        np.zeros(n, dtype=bool) if impute_created is None else np.asarray(impute_created, bool)
    )
    if row_numbers is not None:
        row_numbers = np.asarray(row_numbers, dtype=np.int64)
    elif raw.index.name == "row":
        row_numbers = raw.index.to_numpy(dtype=np.int64)
    else:
        row_numbers = np.arange(n) + 2

    def check_columns(needed: list[str]) -> None:
        missing = [c for c in needed if c not in raw.columns]
        if not missing:
            return
        shown = ", ".join(repr(label(c)) for c in missing)
        have = ", ".join(repr(c) for c in list(raw.columns)[:30])
        hint = (
            " Map your own names with --map canonical=theirs (e.g. --map created_at='Created "
            "Date')."
            if not labels
            else ""
        )
        raise DataError(
            f"{source}: missing required column{'s' if len(missing) > 1 else ''} {shown}. "
            f"The file has: {have}.{hint}"
        )

    check_columns(list(REQUIRED) + [f"{s}_at" for s in stages])
    outcome, bad_outcome = normalize_outcome(raw["outcome"])
    if bool(outcome.isin(["won", "lost"]).any()):
        check_columns(list(REQUIRED_WHEN_CLOSED))

    # Dates: one format per column; the day/month order a column cannot settle on its own
    # comes from the file's other date columns.
    date_cols = ["created_at"] + (["closed_at"] if "closed_at" in raw else [])
    date_cols += [f"{s}_at" for s in stages]
    forms = {c: classify(raw[c]) for c in date_cols}
    hint = file_order_hint({label(c): raw[c] for c in date_cols}, row_numbers, opts,
                           {label(c): forms[c] for c in date_cols})
    parsed: dict[str, DateColumn] = {}
    for c in date_cols:
        parsed[c] = parse_date_column(raw[c], label=label(c), source=source, rows=row_numbers,
                                      options=opts, order_hint=hint, cells=forms[c])
    notes = list(dict.fromkeys(d.note for d in parsed.values() if d.note))

    problems: list[Problem] = []

    def add(column: str, rule: str, mask: np.ndarray, shown: pd.Series | list) -> None:
        """Record the rows of ``mask``; ``shown`` is the raw column, or [a, b] for 'a < b'."""
        rows = np.flatnonzero(mask)
        if not len(rows):
            return
        first = rows[:SHOW_ROWS]
        if isinstance(shown, list):
            values = tuple(
                f"{_show(shown[0].iloc[r])} < {_show(shown[1].iloc[r])}" for r in first
            )
        else:
            values = tuple(_show(v) for v in shown.iloc[first])
        problems.append(Problem(column, rule, rows, values))

    not_a_date = (
        "not a date" if opts.date_format is None
        else f"not a date in the format {opts.date_format}"
    )
    ids = parse_text(raw["opportunity_id"])
    add("opportunity_id", "empty id", ids.isna().to_numpy(), raw["opportunity_id"])
    dup = ids.notna().to_numpy() & ids.duplicated(keep=False).to_numpy()
    add("opportunity_id", "duplicate id", dup, raw["opportunity_id"])

    add(
        "outcome",
        "unknown outcome (expected won, lost or open; 'closed won'/'closed lost' also accepted)",
        bad_outcome,
        raw["outcome"],
    )
    is_won = outcome.eq("won").to_numpy()
    is_lost = outcome.eq("lost").to_numpy()
    is_open = outcome.eq("open").to_numpy()

    created, bad_created = parsed["created_at"].values, parsed["created_at"].bad
    add("created_at", not_a_date, bad_created, raw["created_at"])
    no_created = created.isna().to_numpy() & ~bad_created & ~imputed
    add("created_at", "empty creation date", no_created, raw["created_at"])

    if "closed_at" in raw:
        closed, bad_closed = parsed["closed_at"].values, parsed["closed_at"].bad
        bad_closed = bad_closed & ~is_open  # an open deal's (expected) close date is ignored
        add("closed_at", not_a_date, bad_closed, raw["closed_at"])
    else:
        closed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]")
        bad_closed = np.zeros(n, dtype=bool)
    closed = closed.where(~is_open)
    add(
        "closed_at",
        "won or lost deal without a close date",
        (is_won | is_lost) & closed.isna().to_numpy() & ~bad_closed,
        raw["closed_at"] if "closed_at" in raw else closed,
    )
    before = (closed < created).to_numpy()
    add(
        "closed_at",
        "closed before created",
        before,
        [closed, created],
    )

    has_amount = "amount" in raw
    if has_amount:
        amount, bad_amount = parse_amounts(raw["amount"], opts.decimal)
        rule = "not a number"
        other = "," if opts.decimal == "." else "."
        sample = raw["amount"].iloc[np.flatnonzero(bad_amount)[:50]]
        if len(sample) and not parse_amounts(sample, other)[1].any():
            rule += (" (for amounts with a decimal comma, give --decimal ,)" if other == ","
                     else " (these amounts have a decimal point: leave out --decimal ,)")
        add("amount", rule, bad_amount, raw["amount"])
        add("amount", "negative amount", (amount < 0).to_numpy(), raw["amount"])
        add(
            "amount",
            "won deal without an amount",
            is_won & amount.isna().to_numpy() & ~bad_amount,
            raw["amount"],
        )
    else:
        amount = pd.Series(np.nan, index=raw.index, dtype=float)
    # A lost deal's recorded value (often 0) is not the contract value at stake.
    amount = amount.where(~is_lost)

    stage_dates: dict[str, pd.Series] = {}
    prev = created
    prev_name = "created_at"
    for s in stages:
        c = f"{s}_at"
        d, bad = parsed[c].values, parsed[c].bad
        add(c, not_a_date, bad, raw[c])
        order_bad = (d < prev).to_numpy()
        add(
            c,
            f"stage date before {label(prev_name)}",
            order_bad,
            [d, prev],
        )
        after_close = (d > closed).to_numpy()
        add(c, "stage date after the close date", after_close, raw[c])
        stage_dates[c] = d
        prev = d.fillna(prev)
        prev_name = c

    bad_rows = np.zeros(n, dtype=bool)
    for p in problems:
        bad_rows[p.rows] = True
    if problems:
        lines = [p.describe(row_numbers, label(p.column)) for p in problems]
        n_bad = int(bad_rows.sum())
        if not skip_invalid:
            detail = "\n  - ".join(lines)
            header = ", header = row 1" if n and row_numbers.min() == 2 else ""
            raise DataError(
                f"{source}: {n_bad} of {n} rows are invalid (rows as a spreadsheet numbers "
                f"them{header}):\n  - {detail}\nFix them, or rerun with --skip-invalid "
                f"to drop these {n_bad} rows."
            )
        if n_bad == n:
            raise DataError(
                f"{source}: every row is invalid, nothing left after --skip-invalid:\n  - "
                + "\n  - ".join(lines)
            )
        warn.append(
            f"{source}: skipped {n_bad} invalid rows of {n} (--skip-invalid): " + "; ".join(lines)
        )
    warn += notes

    keep = ~bad_rows
    dated = {"created_at": created.where(~imputed), "closed_at": closed, **stage_dates}
    today_ts = pd.Timestamp(today if today is not None else pd.Timestamp.today()).normalize()
    outliers, future, early, bulk_end = _date_outliers(dated, keep, today_ts)
    warn += _outlier_warnings(outliers, future, early, bulk_end, today_ts, raw, label,
                              row_numbers, source, explicit=as_of is not None)
    if as_of is None:
        candidates = [d[keep & ~outliers[c]].max() for c, d in dated.items()]
        candidates = [c for c in candidates if pd.notna(c)]
        if not candidates:
            raise DataError(f"{source}: no dates in the data; give --as-of.")
        as_of_ts = max(candidates)
    else:
        as_of_ts = _parse_as_of(as_of)

    created = created.where(~imputed, as_of_ts)
    late_created = keep & (created > as_of_ts).to_numpy()
    if late_created.any():
        warn.append(
            f"{source}: dropped {int(late_created.sum())} deals created after the as-of date "
            f"{as_of_ts.date()} (they did not exist yet): {_rows(row_numbers, late_created)}."
        )
        keep &= ~late_created
    late_closed = keep & (closed > as_of_ts).to_numpy()
    if late_closed.any():
        warn.append(
            f"{source}: {int(late_closed.sum())} deals closed after the as-of date "
            f"{as_of_ts.date()} are treated as open at that date: "
            f"{_rows(row_numbers, late_closed)}."
        )
        outcome = outcome.where(~late_closed, "open")
        closed = closed.where(~late_closed)
    for c, d in stage_dates.items():
        stage_dates[c] = d.where(~(d > as_of_ts))

    if "segment" in raw:
        segment = parse_text(raw["segment"]).fillna(UNKNOWN_SEGMENT)
    else:
        segment = pd.Series(DEFAULT_SEGMENT, index=raw.index, dtype=object)
    table = pd.DataFrame(
        {
            "opportunity_id": ids.astype(object),
            "created_at": created.astype("datetime64[ns]"),
            "outcome": outcome.astype(object),
            "closed_at": closed.astype("datetime64[ns]"),
            "amount": amount.astype(float),
            "segment": segment.astype(object),
            "created_imputed": imputed,
        },
        index=raw.index,
    )
    if "owner" in raw:
        table["owner"] = parse_text(raw["owner"])
    for c, d in stage_dates.items():
        table[c] = d.astype("datetime64[ns]")
    table["row"] = row_numbers
    table = table.loc[keep].reset_index(drop=True)
    if table.empty:
        raise DataError(f"{source}: no opportunities left at the as-of date {as_of_ts.date()}.")
    warn += amount_warnings(table, source, has_amount=has_amount, label=label("amount"))
    return Opportunities(
        table=table, as_of=as_of_ts, stages=stages, source=source, warnings=tuple(warn)
    )


def _rows(row_numbers: np.ndarray, mask: np.ndarray) -> str:
    rows = row_numbers[np.flatnonzero(mask)]
    shown = ", ".join(str(r) for r in rows[:SHOW_ROWS])
    more = f" and {len(rows) - SHOW_ROWS} more" if len(rows) > SHOW_ROWS else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _date_outliers(
    dated: dict[str, pd.Series], keep: np.ndarray, today: pd.Timestamp
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray],
           pd.Timestamp | None]:
    """Masks per column: far beyond the bulk, after today, far before the bulk.

    The last value is the latest date of the bulk (None without dates).
    """
    values = np.concatenate([d.to_numpy()[keep] for d in dated.values()])
    values = np.sort(values[~np.isnat(values)])
    empty = {c: np.zeros(len(keep), dtype=bool) for c in dated}
    if not len(values):
        return empty, dict(empty), dict(empty), None
    k_max = max(OUTLIER_MIN_COUNT, len(values) // 100)
    gap = np.timedelta64(OUTLIER_GAP_DAYS, "D")
    # Largest tail (at most k_max dates) separated from the rest by more than the gap.
    hi_cut, lo_cut = None, None
    for t in range(min(k_max, len(values) - 1), 0, -1):
        if values[-t] - values[-t - 1] > gap:
            hi_cut = values[-t - 1]
            break
    for t in range(min(k_max, len(values) - 1), 0, -1):
        if values[t] - values[t - 1] > gap:
            lo_cut = values[t]
            break
    bulk_end = pd.Timestamp(hi_cut if hi_cut is not None else values[-1])
    outliers, future, early = {}, {}, {}
    for c, d in dated.items():
        v = d.to_numpy()
        valid = keep & ~np.isnat(v)
        outliers[c] = valid & (v > hi_cut) if hi_cut is not None else empty[c]
        future[c] = valid & (v > today.to_datetime64()) & ~outliers[c]
        early[c] = valid & (v < lo_cut) if lo_cut is not None else empty[c]
    return outliers, future, early, bulk_end


def _outlier_warnings(
    outliers: dict[str, np.ndarray], future: dict[str, np.ndarray], early: dict[str, np.ndarray],
    bulk_end: pd.Timestamp | None, today: pd.Timestamp, raw: pd.DataFrame, label,  # noqa: ANN001
    row_numbers: np.ndarray, source: str, *, explicit: bool,
) -> list[str]:
    def cells(c: str, mask: np.ndarray) -> str:
        idx = np.flatnonzero(mask)
        col = raw[c] if c in raw else None
        shown = ", ".join(
            f"row {row_numbers[i]} ({_show(col.iloc[i]) if col is not None else '?'})"
            for i in idx[:SHOW_ROWS]
        )
        more = f", ... and {len(idx) - SHOW_ROWS} more" if len(idx) > SHOW_ROWS else ""
        return f"column {label(c)!r}: {shown}{more}"

    out = []
    far = [cells(c, m) for c, m in outliers.items() if m.any()]
    if far and bulk_end is not None:
        n = sum(int(m.sum()) for m in outliers.values())
        what = ("they are left out of the default as-of date, which is the bulk's last date "
                f"{bulk_end.date()}" if not explicit else "check them")
        out.append(
            f"{source}: {n} date{'s' if n > 1 else ''} far beyond the rest of the data (more "
            f"than {OUTLIER_GAP_DAYS} days after every other date, which end on "
            f"{bulk_end.date()}): " + "; ".join(far) + f". A typo? {what[0].upper()}{what[1:]}"
            "; give --as-of to choose the date yourself."
        )
    late = [cells(c, m) for c, m in future.items() if m.any()]
    if late:
        n = sum(int(m.sum()) for m in future.values())
        out.append(
            f"{source}: {n} date{'s are' if n > 1 else ' is'} after today ({today.date()}): "
            + "; ".join(late) + ". Check them; give --as-of to set the data's date."
        )
    low = [cells(c, m) for c, m in early.items() if m.any()]
    if low:
        n = sum(int(m.sum()) for m in early.values())
        out.append(
            f"{source}: {n} date{'s' if n > 1 else ''} far before the rest of the data (more "
            f"than {OUTLIER_GAP_DAYS} days before every other date): " + "; ".join(low)
            + ". A typo or a placeholder? They stretch the window over which arrivals per "
            "month are counted."
        )
    return out


def amount_warnings(
    table: pd.DataFrame, source: str, *, has_amount: bool = True, label: str = "amount"
) -> list[str]:
    """Warnings about won deals' amounts: no amount column, zeros, segments without amounts.

    A segment none of whose won deals has a positive amount gets deals-won targets only
    (the calibrate step leaves its bookings targets out); zero amounts count as wins but
    say nothing about deal sizes.
    """
    if not has_amount:
        return [
            f"{source}: no {label!r} column: only deals-won targets can be set; bookings "
            "targets need the won deals' amounts (add an amount column, or name yours with "
            "--map amount=<column>)."
        ]
    out = []
    won = table.loc[table["outcome"].eq("won")]
    zero = won.loc[won["amount"].eq(0)]
    if len(zero):
        rows = ", ".join(str(r) for r in zero["row"].head(SHOW_ROWS))
        more = f" and {len(zero) - SHOW_ROWS} more" if len(zero) > SHOW_ROWS else ""
        out.append(
            f"{source}: {len(zero)} won deal{'s have' if len(zero) > 1 else ' has'} an amount "
            f"of 0 (row{'s' if len(zero) > 1 else ''} {rows}{more}): they count as wins, but "
            "deal sizes are learnt from the won deals with a positive amount only."
        )
    positive = won.loc[won["amount"].gt(0)].groupby("segment").size()
    n_won = won.groupby("segment").size()
    unsized = [s for s in sorted(table["segment"].unique()) if positive.get(s, 0) == 0]
    for s in unsized:
        k = int(n_won.get(s, 0))
        why = (f"none of its {k} won deal{'s' if k > 1 else ''} has a positive amount" if k
               else "it has no won deal")
        out.append(
            f"{source}: segment {s!r}: {why}, so it gets deals-won targets only (no bookings "
            "target)."
        )
    return out


def _parse_as_of(as_of: str | date | pd.Timestamp) -> pd.Timestamp:
    ts = _one_date(as_of)
    if ts is pd.NaT or pd.isna(ts):
        raise DataError(f"--as-of {as_of!r} is not a date; use YYYY-MM-DD.")
    return ts


def canonical_table_schema(as_of: pd.Timestamp | None = None):  # noqa: ANN201 - pandera type
    """The contract of ``Opportunities.table`` as a pandera schema.

    :func:`validate` builds tables that satisfy it; other producers of
    :class:`~targetsim.data.funnel.Opportunities` (synthetic generators, tests) can check
    theirs with :func:`check_opportunities`. pandera is imported here, not at module
    level, so the CLI does not pay its import time on every run.

    Parameters
    ----------
    as_of : pandas.Timestamp, optional
        When given, no date may lie after it.
    """
    import pandera.pandas as pa

    def not_after(s: pd.Series) -> pd.Series:
        return s.isna() | (s <= as_of) if as_of is not None else pd.Series(True, index=s.index)

    date_col = pa.Column("datetime64[ns]", pa.Check(not_after, name="not after as_of"),
                         nullable=True)
    return pa.DataFrameSchema(
        {
            "opportunity_id": pa.Column(object, unique=True, nullable=False),
            "created_at": pa.Column(
                "datetime64[ns]", pa.Check(not_after, name="not after as_of"), nullable=False
            ),
            "outcome": pa.Column(object, pa.Check.isin(["won", "lost", "open"])),
            "closed_at": date_col,
            "amount": pa.Column(float, pa.Check.ge(0), nullable=True),
            "segment": pa.Column(object, nullable=False),
            "created_imputed": pa.Column(bool),
            "owner": pa.Column(object, nullable=True, required=False),
            r"^.+_at$": pa.Column("datetime64[ns]", nullable=True, regex=True),
            "row": pa.Column(int, pa.Check.ge(2), required=False),
        },
        checks=[
            pa.Check(
                lambda d: d["closed_at"].notna() == d["outcome"].isin(["won", "lost"]),
                name="closed_at set exactly for won and lost deals",
            ),
            pa.Check(
                lambda d: d["closed_at"].isna() | (d["closed_at"] >= d["created_at"]),
                name="closed_at not before created_at",
            ),
            pa.Check(
                # unless the export had no amount at all (deals-won targets only)
                lambda d: d["outcome"].ne("won") | d["amount"].notna() | d["amount"].isna().all(),
                name="won deals have an amount",
            ),
        ],
        strict=False,
    )


def check_opportunities(opps: Opportunities) -> Opportunities:
    """Check an :class:`Opportunities` against the canonical table contract.

    Raises
    ------
    DataError
        Listing every broken rule (column, check, first failing values).
    """
    import pandera.errors as pe

    schema = canonical_table_schema(pd.Timestamp(opps.as_of))
    try:
        schema.validate(opps.table, lazy=True)
    except pe.SchemaErrors as exc:
        fc = exc.failure_cases
        lines = []
        frame_level = fc["schema_context"].eq("DataFrameSchema")
        for check, g in fc.loc[frame_level].groupby("check", sort=False):
            idx = pd.unique(g["index"].dropna())
            lines.append(
                f"{check}: fails in {len(idx)} rows (table index "
                f"{', '.join(map(str, idx[:SHOW_ROWS]))})"
            )
        for (col, check), g in fc.loc[~frame_level].groupby(
            ["column", "check"], dropna=False, sort=False
        ):
            lines.append(
                f"column {col!r}: {check} fails ({len(g)} cases, e.g. "
                f"{', '.join(map(str, g['failure_case'].head(SHOW_ROWS)))})"
            )
        raise DataError(
            f"{opps.source}: table breaks the canonical contract:\n  - " + "\n  - ".join(lines)
        ) from None
    return opps
