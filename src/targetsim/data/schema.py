"""The canonical opportunities table: parsing every cell and collecting every problem.

Rules (DESIGN.md, "Input: canonical opportunities table"):

* required columns ``opportunity_id``, ``created_at``, ``outcome``; ``closed_at`` and
  ``amount`` too as soon as one deal is won or lost. A missing column is never recoverable.
* ``outcome`` is ``won``, ``lost`` or ``open``, case-insensitively, surrounding blanks
  ignored. The CRM spellings ``closed won`` / ``closed lost`` (with a space, ``_`` or
  ``-``) are accepted as ``won`` / ``lost``; anything else is an error.
* dates are ISO (``2017-03-01``, time and zone ignored) or another form pandas reads,
  month first when ambiguous (``03/04/2024`` is March 4); Excel cells are dates already.
  The time of day is dropped. A bare number is not accepted as a date.
* ``amount`` is a plain number, ≥ 0; required for won deals, optional (an estimate) for
  open ones, ignored for lost ones (the CRM's 0 for a lost deal is not a contract value).
* an open deal's ``closed_at`` is ignored: CRMs often keep the *expected* close date there.
* stage dates (``<stage>_at``) must be in funnel order, not before creation and not after
  the close.
* a missing ``segment`` becomes ``unknown``; no segment column means one segment ``all``.

Rows breaking a rule are all reported together (file, column, spreadsheet row numbers with
the header as row 1, the offending values, how many rows). With ``skip_invalid`` they
are dropped with a warning instead (every copy of a duplicated id: which one is right is
unknown).

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

from targetsim.data.funnel import DEFAULT_SEGMENT, Opportunities
from targetsim.errors import DataError

REQUIRED = ("opportunity_id", "created_at", "outcome")
REQUIRED_WHEN_CLOSED = ("closed_at", "amount")
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
    return np.fromiter((_is_blank(v) for v in col), dtype=bool, count=len(col))


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

    return pd.Series([conv(v) for v in col], index=col.index, dtype=object)


def _one_date(v: object) -> pd.Timestamp:
    if isinstance(v, bool | np.bool_):
        return pd.NaT
    if isinstance(v, int | float | np.integer | np.floating):
        return pd.NaT  # a bare number is not a date we can trust (epoch? Excel serial?)
    try:
        ts = pd.Timestamp(v.strip() if isinstance(v, str) else v)
    except Exception:  # pandas raises ValueError, OverflowError, TypeError, OutOfBounds...
        return pd.NaT
    if ts is pd.NaT or pd.isna(ts):
        return pd.NaT
    if ts.tzinfo is not None:
        ts = ts.tz_localize(None)
    try:
        return ts.normalize().as_unit("ns")
    except Exception:  # out of the nanosecond range
        return pd.NaT


def parse_dates(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a raw column of dates.

    Returns
    -------
    dates : pandas.Series
        ``datetime64[ns]`` at day precision, NaT where empty or unparseable.
    bad : numpy.ndarray
        True where a non-empty cell could not be read as a date.
    """
    blank = blank_mask(col)
    values: pd.Series
    try:
        # fast path: the usual all-ISO text column
        text = col.where(~blank, None)
        values = pd.to_datetime(text, format="ISO8601", errors="raise")
        if getattr(values.dt, "tz", None) is not None:
            values = values.dt.tz_localize(None)
        values = values.dt.normalize().astype("datetime64[ns]")
    except Exception:  # mixed or odd values: parse each cell on its own
        values = pd.Series(
            [pd.NaT if b else _one_date(v) for v, b in zip(col, blank, strict=True)],
            index=col.index,
            dtype="datetime64[ns]",
        )
    bad = values.isna().to_numpy() & ~blank
    return values, bad


def parse_amounts(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Parse a raw column of amounts; returns (float values with NaN, bad-cell mask)."""

    def conv(v: object) -> float:
        if _is_blank(v) or isinstance(v, bool | np.bool_):
            return np.nan
        if isinstance(v, int | float | np.integer | np.floating):
            return float(v)
        try:
            return float(str(v).strip())
        except (ValueError, OverflowError):
            return np.nan

    blank = blank_mask(col)
    values = pd.Series([conv(v) for v in col], index=col.index, dtype=float)
    bad = (~np.isfinite(values.to_numpy())) & ~blank
    values = values.where(np.isfinite(values.to_numpy()))
    return values, bad


def normalize_outcome(col: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Map outcome spellings to ``won``/``lost``/``open``; returns (values, bad mask)."""
    text = parse_text(col)

    def conv(v: object) -> object:
        if v is None:
            return None
        key = re.sub(r"[\s_\-]+", " ", str(v).lower()).strip()
        return OUTCOME_SYNONYMS.get(key)

    out = pd.Series([conv(v) for v in text], index=col.index, dtype=object)
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
) -> Opportunities:
    """Parse and validate a raw table with canonical column names.

    Parameters
    ----------
    raw : pandas.DataFrame
        Cells as read (see :func:`targetsim.data.readers.read_table`), columns already
        renamed to canonical names; row ``i`` is spreadsheet row ``i + 2``.
    source : str
        File name used in messages.
    stages : sequence of str
        Intermediate stages in funnel order; each needs a ``<stage>_at`` column.
    as_of : str, date or None
        Censoring date; default the latest date in the (valid) data.
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
        deleted or duplicated deals); default ``i + 2``.

    Returns
    -------
    Opportunities

    Raises
    ------
    DataError
        A required column is missing, or rows are invalid and ``skip_invalid`` is False.
    """
    labels = dict(labels or {})

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

    created, bad_created = parse_dates(raw["created_at"])
    add("created_at", "not a date", bad_created, raw["created_at"])
    no_created = created.isna().to_numpy() & ~bad_created & ~imputed
    add("created_at", "empty creation date", no_created, raw["created_at"])

    if "closed_at" in raw:
        closed, bad_closed = parse_dates(raw["closed_at"])
        bad_closed &= ~is_open  # an open deal's (expected) close date is ignored
        add("closed_at", "not a date", bad_closed, raw["closed_at"])
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

    if "amount" in raw:
        amount, bad_amount = parse_amounts(raw["amount"])
        add("amount", "not a number", bad_amount, raw["amount"])
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
        d, bad = parse_dates(raw[c])
        add(c, "not a date", bad, raw[c])
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
    row_numbers = np.arange(n) + 2 if row_numbers is None else np.asarray(row_numbers, int)
    if problems:
        lines = [p.describe(row_numbers, label(p.column)) for p in problems]
        n_bad = int(bad_rows.sum())
        if not skip_invalid:
            detail = "\n  - ".join(lines)
            raise DataError(
                f"{source}: {n_bad} of {n} rows are invalid (rows as a spreadsheet numbers "
                f"them, header = row 1):\n  - {detail}\nFix them, or rerun with --skip-invalid "
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

    keep = ~bad_rows
    if as_of is None:
        candidates = [created[keep & ~imputed].max(), closed[keep].max()]
        candidates += [d[keep].max() for d in stage_dates.values()]
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
            f"{as_of_ts.date()} (they did not exist yet)."
        )
        keep &= ~late_created
    late_closed = keep & (closed > as_of_ts).to_numpy()
    if late_closed.any():
        warn.append(
            f"{source}: {int(late_closed.sum())} deals closed after the as-of date "
            f"{as_of_ts.date()} are treated as open at that date."
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
    return Opportunities(
        table=table, as_of=as_of_ts, stages=stages, source=source, warnings=tuple(warn)
    )


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
                lambda d: d["outcome"].ne("won") | d["amount"].notna(),
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
