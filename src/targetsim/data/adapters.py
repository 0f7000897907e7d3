"""Adapters: known CRM export layouts turned into the canonical table.

Each adapter returns a :class:`RawCanonical` (cells still raw, canonical column names)
that :func:`targetsim.data.schema.validate` checks with the same rules as any file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from targetsim.data.readers import read_table
from targetsim.data.schema import UNKNOWN_SEGMENT, parse_amounts, parse_text
from targetsim.errors import DataError


@dataclass(frozen=True)
class RawCanonical:
    """A raw table renamed to canonical columns, ready for validation.

    Attributes
    ----------
    table : pandas.DataFrame
        Raw cells, canonical column names; row ``i`` is spreadsheet row ``i + 2`` of ``source``.
    source : str
        The file the rows come from.
    labels : dict
        Canonical name → the name in the user's file, for messages.
    stages : tuple of str
        Stages the layout defines (empty: take the user's ``--stages``).
    impute_created : numpy.ndarray or None
        Rows whose creation date is unknown by design.
    warnings : tuple of str
        What the adapter did that a user should know.
    """

    table: pd.DataFrame
    source: str
    labels: dict[str, str] = field(default_factory=dict)
    stages: tuple[str, ...] = ()
    impute_created: np.ndarray | None = None
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------- canonical with --map


def from_canonical(
    path: str | Path, mapping: dict[str, str] | None = None, segment_col: str | None = None,
    **read_kw: object,
) -> RawCanonical:
    """Read a canonical file, renaming the user's columns with ``mapping`` (canonical → theirs).

    ``read_kw`` (``sheet``, ``want``) go to :func:`~targetsim.data.readers.read_table`.

    Raises
    ------
    DataError
        The file cannot be read, or a mapped or segment column is not in it.
    """
    raw = read_table(path, **read_kw)
    source = str(path)
    mapping = dict(mapping or {})
    missing = [theirs for theirs in mapping.values() if theirs not in raw.columns]
    if missing:
        raise DataError(
            f"{source}: --map names column(s) not in the file: "
            f"{', '.join(repr(m) for m in missing)}. The file has: "
            f"{', '.join(repr(c) for c in list(raw.columns)[:30])}."
        )
    # A file column that has a canonical name but is replaced by a mapped one is dropped,
    # so the mapped column wins instead of producing two columns of the same name.
    theirs_to_canon = {theirs: canon for canon, theirs in mapping.items()}
    cols = {}
    for c in raw.columns:
        if c in theirs_to_canon:
            cols[theirs_to_canon[c]] = raw[c]
        elif c not in mapping and c not in cols:
            cols[c] = raw[c]
    table = pd.DataFrame(cols, index=raw.index)
    if segment_col is not None:
        name = mapping.get(segment_col, segment_col)
        if name in raw.columns:
            table["segment"] = raw[name]
        elif segment_col in table.columns:
            table["segment"] = table[segment_col]
        else:
            raise DataError(
                f"{source}: --segment-col {segment_col!r} is not a column of the file. "
                f"The file has: {', '.join(repr(c) for c in list(raw.columns)[:30])}."
            )
    return RawCanonical(table=table, source=source, labels=mapping)


# ---------------------------------------------------------------- Maven CRM

MAVEN_FILES = {
    "sales_pipeline.csv": (
        "opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date",
        "close_date", "close_value",
    ),
    "accounts.csv": ("account", "sector", "office_location"),
    "products.csv": ("product", "series", "sales_price"),
    "sales_teams.csv": ("sales_agent", "manager", "regional_office"),
}
#: Columns ``--segment-col`` can name with ``--format maven``.
MAVEN_SEGMENT_COLUMNS = (
    "product", "series", "sector", "office_location", "account", "regional_office", "manager",
    "sales_agent",
)
_MAVEN_STAGE_TO_OUTCOME = {"won": "won", "lost": "lost", "engaging": "open", "prospecting": "open"}
#: Spelling fixes between the pipeline and the product list (SOURCE.md quirk 7).
MAVEN_PRODUCT_FIXES = {"GTXPro": "GTX Pro"}


def maven_folder(path: str | Path) -> Path:
    """The Maven folder given the folder itself or its ``sales_pipeline.csv``."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: not found.")
    return p if p.is_dir() else p.parent


def from_maven(path: str | Path, segment_col: str | None = None) -> RawCanonical:
    """Read Maven Analytics' *CRM Sales Opportunities* export into the canonical table.

    The quirks of its SOURCE.md are handled so:

    * ``deal_stage`` Won/Lost → ``won``/``lost``; Prospecting and Engaging → ``open``.
    * ``created_at`` = ``engage_date``; the one stage is ``engaging`` (``engaging_at`` =
      ``engage_date``). Prospecting rows have no date at all: their creation date is
      imputed as the as-of date (``created_imputed``), so they count as open deals of age
      0 and not as arrivals.
    * ``amount``: ``close_value`` for won deals; the lost deals' 0 is not an amount (NaN);
      open deals get their product's list price from ``products.csv`` as an estimate.
    * ``GTXPro`` in the pipeline is ``GTX Pro`` in the product list.
    * joins: accounts (``sector``, ``office_location``; ``unknown`` when the account is
      empty), products (``series``), sales teams (``manager``, ``regional_office``);
      ``owner`` = ``sales_agent``. Misspellings in the source (``technolgy``,
      ``Philipines``) are kept as they are.
    * the stale open deals stay open: the model, not the loader, deals with staleness.

    Parameters
    ----------
    path : str or Path
        The folder, or its ``sales_pipeline.csv``.
    segment_col : str, optional
        One of :data:`MAVEN_SEGMENT_COLUMNS`; default one segment ``all``.

    Raises
    ------
    DataError
        A file or column is missing, or ``segment_col`` is not a Maven column.
    """
    folder = maven_folder(path)
    missing_files = [f for f in MAVEN_FILES if not (folder / f).is_file()]
    if missing_files:
        raise DataError(
            f"{folder}: not a Maven CRM folder: missing {', '.join(missing_files)} "
            f"(expected {', '.join(MAVEN_FILES)})."
        )
    tables = {}
    for name, cols in MAVEN_FILES.items():
        t = read_table(folder / name)
        absent = [c for c in cols if c not in t.columns]
        if absent:
            raise DataError(
                f"{folder / name}: missing column(s) {', '.join(repr(c) for c in absent)} "
                "of the Maven layout."
            )
        tables[name] = t
    if segment_col is not None and segment_col not in MAVEN_SEGMENT_COLUMNS + ("owner",):
        raise DataError(
            f"--segment-col {segment_col!r} is not available with --format maven; choose one of "
            f"{', '.join(MAVEN_SEGMENT_COLUMNS)}."
        )
    pipe = tables["sales_pipeline.csv"]
    source = str(folder / "sales_pipeline.csv")

    product = parse_text(pipe["product"]).replace(MAVEN_PRODUCT_FIXES)
    products = tables["products.csv"].assign(product=lambda d: parse_text(d["product"]))
    products = products.drop_duplicates("product").set_index("product")
    accounts = tables["accounts.csv"].assign(account=lambda d: parse_text(d["account"]))
    accounts = accounts.drop_duplicates("account").set_index("account")
    teams = tables["sales_teams.csv"].assign(sales_agent=lambda d: parse_text(d["sales_agent"]))
    teams = teams.drop_duplicates("sales_agent").set_index("sales_agent")
    agent = parse_text(pipe["sales_agent"])
    account = parse_text(pipe["account"])

    stage = parse_text(pipe["deal_stage"])
    stage_key = stage.str.lower()
    outcome = stage_key.map(_MAVEN_STAGE_TO_OUTCOME)
    outcome = outcome.where(outcome.notna(), pipe["deal_stage"])  # unknown: let validation say
    is_open = outcome.isin(["open"]).to_numpy()
    is_won = outcome.isin(["won"]).to_numpy()

    engage = pipe["engage_date"]
    no_date = engage.isna().to_numpy() | (parse_text(engage).isna().to_numpy())
    impute = no_date & stage_key.eq("prospecting").to_numpy()

    list_price, _ = parse_amounts(products["sales_price"].reindex(product.to_numpy()))
    list_price.index = pipe.index
    amount = pipe["close_value"].where(is_won, None).astype(object)
    amount = amount.where(~is_open, list_price.astype(object))
    no_price = is_open & list_price.isna().to_numpy()

    def lookup(frame: pd.DataFrame, col: str, keys: pd.Series) -> pd.Series:
        vals = parse_text(frame[col]).reindex(keys.to_numpy())
        return pd.Series(vals.to_numpy(), index=pipe.index, dtype=object).fillna(UNKNOWN_SEGMENT)

    extra = {
        "product": product.fillna(UNKNOWN_SEGMENT),
        "series": lookup(products, "series", product),
        "sector": lookup(accounts, "sector", account),
        "office_location": lookup(accounts, "office_location", account),
        "account": account.fillna(UNKNOWN_SEGMENT),
        "regional_office": lookup(teams, "regional_office", agent),
        "manager": lookup(teams, "manager", agent),
        "sales_agent": agent.fillna(UNKNOWN_SEGMENT),
        "owner": agent.fillna(UNKNOWN_SEGMENT),
    }
    table = pd.DataFrame(
        {
            "opportunity_id": pipe["opportunity_id"],
            "created_at": engage,
            "outcome": outcome,
            "closed_at": pipe["close_date"],
            "amount": amount,
            "owner": agent,
            "engaging_at": engage,
        },
        index=pipe.index,
    )
    if segment_col is not None:
        table["segment"] = extra[segment_col]

    warnings = []
    if impute.any():
        warnings.append(
            f"{source}: {int(impute.sum())} Prospecting deals have no date; they are counted "
            "as open deals created at the as-of date (not as arrivals)."
        )
    if no_price.any():
        warnings.append(
            f"{source}: {int(no_price.sum())} open deals have a product without a list price; "
            "their amount is unknown."
        )
    labels = {
        "created_at": "engage_date",
        "outcome": "deal_stage",
        "closed_at": "close_date",
        "amount": "close_value",
        "owner": "sales_agent",
        "engaging_at": "engage_date",
    }
    return RawCanonical(
        table=table,
        source=source,
        labels=labels,
        stages=("engaging",),
        impute_created=impute,
        warnings=tuple(warnings),
    )
