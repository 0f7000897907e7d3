"""Read a CRM export (CSV, Parquet, Excel) into a raw table, or fail with a DataError.

The raw table keeps every cell as the file gave it (text for CSV, native values for
Parquet and Excel); parsing and validation happen in :mod:`targetsim.data.schema`, so the
rules are the same whatever the file format.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from targetsim.errors import DataError

#: File suffixes understood by :func:`read_table`, by reader.
CSV_SUFFIXES = (".csv", ".txt", ".tsv")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm")
SUPPORTED_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES + EXCEL_SUFFIXES


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table file into a DataFrame of object columns, one row per data row.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` (UTF-8 with or without BOM; ``,``, ``;`` or tab separated), ``.parquet``
        or ``.xlsx`` file (first sheet).

    Returns
    -------
    pandas.DataFrame
        Column names stripped of surrounding blanks; empty cells are missing (None).

    Raises
    ------
    DataError
        The file is missing, is a folder, has an unknown extension, is empty, is not
        UTF-8 (CSV), or cannot be parsed.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: file not found.")
    if p.is_dir():
        raise DataError(
            f"{p} is a folder: give a CSV, Parquet or Excel file "
            "(or use --format maven for a Maven CRM folder)."
        )
    suffix = p.suffix.lower()
    if suffix in CSV_SUFFIXES:
        df = _read_csv(p)
    elif suffix in PARQUET_SUFFIXES:
        df = _read_other(p, "Parquet", lambda: pd.read_parquet(p))
    elif suffix in EXCEL_SUFFIXES:
        df = _read_other(
            p, "Excel", lambda: pd.read_excel(p, sheet_name=0, engine="openpyxl", dtype=object)
        )
    elif suffix == ".xls":
        raise DataError(f"{p}: old Excel format (.xls) is not supported: save it as .xlsx or CSV.")
    else:
        raise DataError(
            f"{p}: unknown file type {suffix or '(no extension)'!r}; expected one of "
            f"{', '.join(SUPPORTED_SUFFIXES)}."
        )
    return _tidy(df, p)


def _read_csv(p: Path) -> pd.DataFrame:
    data = p.read_bytes()
    bom = b"\xef\xbb\xbf"
    offset = len(bom) if data.startswith(bom) else 0
    try:
        text = data[offset:].decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start + offset
        line = data[:pos].count(b"\n") + 1
        raise DataError(
            f"{p}: not UTF-8 text: byte 0x{data[pos]:02x} at byte {pos} (line {line}) cannot "
            "be decoded. Re-export the file as UTF-8 (in Excel: 'CSV UTF-8')."
        ) from None
    if not text.strip():
        raise DataError(f"{p}: the file is empty.")
    first = text.lstrip().splitlines()[0]
    sep = ","
    if "," not in first:
        if ";" in first:
            sep = ";"
        elif "\t" in first:
            sep = "\t"
    try:
        return pd.read_csv(
            io.StringIO(text),
            sep=sep,
            dtype=object,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=True,
        )
    except Exception as exc:  # the parser's own errors vary by engine and version
        raise DataError(f"{p}: cannot be read as CSV: {_one_line(exc)}") from None


def _read_other(p: Path, kind: str, reader) -> pd.DataFrame:  # noqa: ANN001
    if p.stat().st_size == 0:
        raise DataError(f"{p}: the file is empty.")
    try:
        return reader()
    except Exception as exc:  # pyarrow/openpyxl raise many types for a corrupt file
        raise DataError(f"{p}: cannot be read as {kind}: {_one_line(exc)}") from None


def _tidy(df: pd.DataFrame, p: Path) -> pd.DataFrame:
    if df.shape[1] == 0:
        raise DataError(f"{p}: the file is empty (no columns).")
    df = df.copy()
    names = [str(c).strip() for c in df.columns]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise DataError(
                f"{p}: column {name!r} appears twice (columns {seen[name] + 1} and {i + 1}); "
                "rename or remove one."
            )
        seen[name] = i
    df.columns = names
    if len(df) == 0:
        raise DataError(f"{p}: the file has a header but no data rows.")
    df = df.astype(object)
    df = df.where(pd.notna(df), None)
    df.index = pd.RangeIndex(len(df))
    return df


def _one_line(exc: BaseException) -> str:
    msg = " ".join(str(exc).split())
    return msg[:300] or type(exc).__name__
