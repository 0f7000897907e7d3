"""Read a CRM export (CSV, Parquet, Excel) into a raw table, or fail with a DataError.

The raw table keeps every cell as the file gave it (text for CSV, native values for
Parquet and Excel); parsing and validation happen in :mod:`targetsim.data.schema`, so the
rules are the same whatever the file format.

Row numbers are the ones a spreadsheet shows: the table's index (named ``row``) holds, for
each data row, its row in the sheet with the header as row 1 (for a CSV: one row per
record, blank lines included, as Excel shows them when it opens the file). Rows whose cells
are all empty are left out. Messages about the file's structure name the row and, when it
differs, the line of the file.

CSV files
---------
* Encoding: UTF-8 (with or without BOM) or UTF-16 with a BOM (Excel's "Unicode text");
  anything else stops with the first byte that is not UTF-8, and its line.
* Separator: ``,``, ``;``, tab or ``|``, detected on the first records.
* Quotes: a cell may be quoted (``"Acme, Inc."``, doubled quotes inside, line breaks inside);
  a quote that is never closed or text glued after a closing quote is an error naming the
  row and line; a row with more cells than the header is an error (a separator inside an
  unquoted value), a shorter row is padded with empty cells.
* Header: names are stripped of blanks; a name used twice stops with an error (the second
  column would otherwise be silently ignored or renamed).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from targetsim.errors import DataError

#: File suffixes understood by :func:`read_table`, by reader.
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES
#: Separators a CSV may use, in order of preference on a tie.
SEPARATORS = (",", ";", "\t", "|")
#: Rows of an Excel sheet searched for the header row (title rows may come first).
HEADER_SEARCH_ROWS = 20
#: How many offending rows a structural message names.
SHOW_ROWS = 5
_SEP_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}


def read_table(
    path: str | Path, *, sheet: str | None = None, want: Sequence[str] = ()
) -> pd.DataFrame:
    """Read a table file into a DataFrame of object columns, one row per data row.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (see the module docstring), ``.parquet`` or ``.xlsx`` file.
    sheet : str, optional
        Excel only: the sheet to read. Default: the first sheet whose header has every
        column of ``want`` (a cover page or a notes sheet before the data is skipped).
    want : sequence of str
        Column names the caller needs (used to find the sheet and its header row).

    Returns
    -------
    pandas.DataFrame
        Column names stripped of surrounding blanks; empty cells are missing (None); the
        index (named ``row``) holds the spreadsheet row number of each row.

    Raises
    ------
    DataError
        The file is missing, is a folder, has an unknown extension, is empty, is not
        UTF-8 (CSV), cannot be parsed, has a column name twice, or (Excel) no sheet has the
        wanted columns.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if not p.exists():
            raise DataError(f"{p}: file not found.")
        if p.is_dir():
            raise DataError(
                f"{p} is a folder: give a CSV, Parquet or Excel file "
                "(or use --format maven for a Maven CRM folder)."
            )
        if sheet is not None and suffix not in EXCEL_SUFFIXES:
            raise DataError(f"{p}: --sheet applies to Excel files only.")
        if suffix in CSV_SUFFIXES:
            header, rows, numbers = _read_csv(p)
        elif suffix in PARQUET_SUFFIXES:
            header, rows, numbers = _read_parquet(p)
        elif suffix in EXCEL_SUFFIXES:
            header, rows, numbers = _read_excel(p, sheet, tuple(want))
        elif suffix == ".xls":
            raise DataError(
                f"{p}: old Excel format (.xls) is not supported: save it as .xlsx or CSV."
            )
        else:
            raise DataError(
                f"{p}: unknown file type {suffix or '(no extension)'!r}; expected one of "
                f"{', '.join(SUPPORTED_SUFFIXES)}."
            )
    except OSError as exc:
        raise DataError(f"{p}: cannot be read ({(exc.strerror or str(exc)).lower()}).") from None
    return _tidy(header, rows, numbers, p)


# ---------------------------------------------------------------- CSV


def _decode(p: Path, data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        raise DataError(
            f"{p}: this is an Excel workbook (or another zip file), not a CSV text file: "
            "give it its .xlsx name, or save it as CSV UTF-8."
        )
    boms = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
            (codecs.BOM_UTF16_BE, "utf-16-be"))
    offset, enc = next(((len(b), e) for b, e in boms if data.startswith(b)), (0, "utf-8"))
    try:
        text = data[offset:].decode(enc)
    except UnicodeDecodeError as exc:
        pos = exc.start + offset
        line = data[:pos].count(b"\n") + 1
        raise DataError(
            f"{p}: not UTF-8 text: byte 0x{data[pos]:02x} at byte {pos} (line {line}) cannot "
            "be decoded. Re-export the file as UTF-8 (in Excel: 'CSV UTF-8')."
        ) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(
            f"{p}: contains a NUL character (line {line}): not a text CSV; re-export it as "
            "CSV UTF-8."
        )
    return text


def _records(text: str, sep: str, limit: int | None = None):
    """Yield (row, first line, last line, cells) of the first records (for :func:`_sniff`)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True,
                        skipinitialspace=True)
    row, last = 0, 0
    for cells in reader:
        row += 1
        yield row, last + 1, reader.line_num, cells
        last = reader.line_num
        if limit is not None and row >= limit:
            return


def _sniff(text: str) -> str:
    """The separator that splits the first records into the most consistent columns."""
    best, best_key = ",", None
    for sep in SEPARATORS:
        counts = []
        try:
            for _, _, _, cells in _records(text, sep, limit=30):
                if any(c.strip() for c in cells):
                    counts.append(len(cells))
        except csv.Error:
            pass
        if not counts:
            continue
        width = counts[0]
        same = sum(c == width for c in counts) / len(counts)
        key = (width > 1, same, width)
        if best_key is None or key > best_key:
            best, best_key = sep, key
    return best


def _where(row: int, first: int) -> str:
    return f"row {row}" if row == first else f"row {row} (line {first} of the file)"


def _read_csv(p: Path) -> tuple[list[object], list[list[object]], list[int]]:
    text = _decode(p, p.read_bytes())
    if not text.strip():
        raise DataError(f"{p}: the file is empty.")
    sep = _sniff(text)
    header: list[object] | None = None
    width = 0
    rows: list[list[object]] = []
    numbers: list[int] = []
    too_long: list[str] = []
    n_too_long = 0
    row, last_line = 0, 0
    max_field = csv.field_size_limit()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True,
                        skipinitialspace=True)
    try:
        csv.field_size_limit(2**31 - 1)
        for cells in reader:  # one record: a spreadsheet row (blank lines count)
            row += 1
            first_line, last_line = last_line + 1, reader.line_num
            if not ((cells and cells[0].strip()) or any(c.strip() for c in cells)):
                continue  # a blank line: an empty row in a spreadsheet, no data
            if header is None:
                header, width = cells, len(cells)
                continue
            if len(cells) != width:
                if len(cells) > width:
                    if any(c.strip() for c in cells[width:]):
                        n_too_long += 1
                        if len(too_long) < SHOW_ROWS:
                            too_long.append(f"{_where(row, first_line)} has {len(cells)}")
                        continue
                    cells = cells[:width]
                else:
                    cells = cells + [""] * (width - len(cells))
            rows.append(cells)
            numbers.append(row)
    except csv.Error as exc:
        msg = str(exc)
        where = _where(row + 1, last_line + 1)
        if "unexpected end of data" in msg:
            raise DataError(
                f"{p}: a quote (\") opened in {where} is never closed, so the rest of the file "
                "would be one cell. Close the quote, or remove it."
            ) from None
        if "expected after" in msg:
            raise DataError(
                f"{p}: {where}: text right after a closing quote (\"); quote the whole cell "
                '("like ""this"" one") or remove the quotes.'
            ) from None
        raise DataError(f"{p}: cannot be read as CSV at {where}: {msg}.") from None
    finally:
        csv.field_size_limit(max_field)
    if header is None:
        raise DataError(f"{p}: the file is empty.")
    if too_long:
        more = f", ... and {n_too_long - SHOW_ROWS} more" if n_too_long > SHOW_ROWS else ""
        raise DataError(
            f"{p}: {n_too_long} row{'s have' if n_too_long > 1 else ' has'} more cells than the "
            f"header's {width} ({_SEP_NAMES[sep]}-separated): "
            + "; ".join(too_long) + more
            + f". A value probably contains a {_SEP_NAMES[sep]} without quotes around it."
        )
    return header, _columns(rows, width), numbers


def _columns(rows: list[list[object]], width: int) -> list[list[object]]:
    """Row lists to column lists (rows already ``width`` long)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(c) for c in zip(*rows, strict=True)]


# ---------------------------------------------------------------- Parquet and Excel


def _read_parquet(p: Path) -> tuple[list[object], list[list[object]], list[int]]:
    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty.")
    try:
        import pyarrow.parquet as pq

        table = pq.read_table(p)
        names = list(table.column_names)
        columns = [table.column(i).to_pandas().astype(object) for i in range(len(names))]
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise DataError(f"{p}: cannot be read as Parquet: {_one_line(exc)}") from None
    n = len(columns[0]) if columns else 0
    return names, [c.tolist() for c in columns], list(range(2, n + 2))


def _header_index(values: list[tuple], want: tuple[str, ...]) -> int | None:
    """Index of the first row (among the first rows) holding every wanted name."""
    wanted = {w.strip() for w in want}
    for i, row in enumerate(values[:HEADER_SEARCH_ROWS]):
        names = {str(v).strip() for v in row if v is not None}
        if wanted and wanted <= names:
            return i
        if not wanted and len(names) >= 2:
            return i
    return None


def _read_excel(
    p: Path, sheet: str | None, want: tuple[str, ...]
) -> tuple[list[object], list[list[object]], list[int]]:
    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty.")
    try:
        from openpyxl import load_workbook

        # data_only: a formula cell gives the value Excel computed, never the formula text
        wb = load_workbook(p, read_only=True, data_only=True)
    except Exception as exc:  # zipfile/openpyxl raise many types for a corrupt file
        raise DataError(f"{p}: cannot be read as Excel: {_one_line(exc)}") from None
    try:
        names = list(wb.sheetnames)
        if sheet is not None and sheet not in names:
            raise DataError(
                f"{p}: no sheet named {sheet!r}; the sheets are "
                + ", ".join(repr(s) for s in names) + "."
            )
        order = [sheet] if sheet is not None else names
        seen: list[str] = []
        for name in order:
            ws = wb[name]
            try:
                ws.reset_dimensions()
                values = [tuple(r) for r in ws.iter_rows(values_only=True)]
            except Exception as exc:  # a damaged sheet
                raise DataError(
                    f"{p}: sheet {name!r} cannot be read: {_one_line(exc)}"
                ) from None
            h = _header_index(values, want)
            if h is None and sheet is not None:  # the sheet asked for: its first row
                h = next((i for i, r in enumerate(values) if any(not _blank(v) for v in r)),
                         None)
            if h is None:
                first = next((r for r in values[:HEADER_SEARCH_ROWS] if any(
                    v is not None for v in r)), ())
                cols = [str(v).strip() for v in first if v is not None][:8]
                seen.append(f"{name!r} (" + (", ".join(repr(c) for c in cols) or "empty") + ")")
                continue
            header = list(values[h])
            width = len(header)
            rows, numbers = [], []
            for k, r in enumerate(values[h + 1:], start=h + 2):
                if any(not _blank(v) for v in r):
                    rows.append(list(r[:width]) + [None] * (width - len(r)))
                    numbers.append(k)
            return header, _columns(rows, width), numbers
    finally:
        wb.close()
    need = ", ".join(repr(w) for w in want) if want else "a header row"
    raise DataError(
        f"{p}: no sheet has the columns {need}. The sheets are: " + "; ".join(seen)
        + ". Give the sheet with --sheet NAME (and --map canonical=theirs for other column "
        "names), or save the data sheet as CSV."
    )


# ---------------------------------------------------------------- common


def _column_letter(i: int) -> str:
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def _tidy(
    header: list[object], columns: list[list[object]], numbers: list[int], p: Path
) -> pd.DataFrame:
    names = ["" if h is None else str(h).replace("\ufeff", "").strip() for h in header]
    if not names or not any(names):
        raise DataError(f"{p}: the file is empty (no columns).")
    data: dict[str, list[object]] = {}
    seen: dict[str, int] = {}
    for i, (name, col) in enumerate(zip(names, columns, strict=True)):
        if not name:
            if all(_blank(v) for v in col):
                continue  # a trailing separator or an empty spare column
            name = f"(column {_column_letter(i)})"
        if name in seen:
            raise DataError(
                f"{p}: column {name!r} appears twice (columns {_column_letter(seen[name])} and "
                f"{_column_letter(i)}); rename or remove one: only one of them could be read."
            )
        seen[name] = i
        data[name] = _cells(col)
    if not numbers:
        raise DataError(f"{p}: the file has a header but no data rows.")
    index = pd.Index(np.asarray(numbers, dtype=np.int64), name="row")
    return pd.DataFrame(data, index=index, dtype=object)


def _blank(v: object) -> bool:
    if v is None:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _cells(col: list[object]) -> list[object] | np.ndarray:
    """A column's cells, empty ones (blank text, NaN, NaT) as None."""
    if all(type(v) is str for v in col):  # CSV: one vectorised pass
        values = pd.Series(col, dtype=object)
        return values.where(values.str.strip().ne(""), None).to_numpy(dtype=object)
    return [_cell(v) for v in col]


def _cell(v: object) -> object:
    if v is None or v is pd.NaT or v is pd.NA:
        return None
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg[:300] or type(exc).__name__
