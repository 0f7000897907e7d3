"""Adapters: known CRM export layouts turned into the canonical table.

Each adapter returns a :class:`RawCanonical` (cells still raw, canonical column names)
that :func:`targetsim.data.schema.validate` checks with the same rules as any file.
Layouts: ``canonical`` (DESIGN.md, any CRM through ``--map`` and the stage options),
``maven`` (the demo data), ``salesforce`` and ``hubspot`` (:mod:`targetsim.data.crm`).

What the export says beyond the canonical columns is carried past validation by
:func:`attach_extras`: the expected close date of open deals (``expected_close_at``, a
leading signal, never a censoring date) and the moves back between stages of the stage
history (``stage_moves_back``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from targetsim.data.dates import file_order_hint, parse_date_column
from targetsim.data.funnel import Opportunities
from targetsim.data.options import ReadOptions
from targetsim.data.readers import read_table
from targetsim.data.schema import (
    UNKNOWN_SEGMENT,
    normalize_outcome,
    parse_amounts,
    parse_text,
)
from targetsim.data.stages import StageMap, split_names, stage_key
from targetsim.errors import DataError


@dataclass(frozen=True)
class ExportOptions:
    """How to read a CRM export beyond its columns (the stage and amount options).

    Attributes
    ----------
    won_stages, lost_stages : tuple of str
        ``--won-stages`` / ``--lost-stages``: stage names meaning won / lost.
    stage_order : tuple of str
        ``--stage-order``: the open stages in funnel order.
    stage_history : Path or None
        ``--stage-history``: one row per stage change.
    fx : dict of str to float
        ``--fx``: value of one unit of each currency in the plan's currency.
    amounts : {"auto", "keep", "unknown"}
        ``--amounts``: placeholder amounts (see
        :func:`targetsim.data.amounts.resolve_placeholder_amounts`).
    """

    won_stages: tuple[str, ...] = ()
    lost_stages: tuple[str, ...] = ()
    stage_order: tuple[str, ...] = ()
    stage_history: Path | None = None
    fx: dict[str, float] = field(default_factory=dict)
    amounts: str = "auto"

    @classmethod
    def build(
        cls,
        won_stages: str | tuple[str, ...] | list[str] | None = None,
        lost_stages: str | tuple[str, ...] | list[str] | None = None,
        stage_order: str | tuple[str, ...] | list[str] | None = None,
        stage_history: str | Path | None = None,
        fx: dict[str, float] | None = None,
        amounts: str | None = None,
    ) -> ExportOptions:
        """Options from the CLI's raw values (comma lists, paths)."""
        return cls(
            won_stages=split_names(won_stages),
            lost_stages=split_names(lost_stages),
            stage_order=split_names(stage_order),
            stage_history=Path(stage_history) if stage_history else None,
            fx=dict(fx or {}),
            amounts=(amounts or "auto").strip().lower(),
        )

    @property
    def names_stages(self) -> bool:
        """The user said what stage names mean (the outcome column holds stage names)."""
        return bool(self.won_stages or self.lost_stages or self.stage_order)

    def stage_map(self, default_won=(), default_lost=()) -> StageMap:  # noqa: ANN001
        """The :class:`StageMap` of these options plus a layout's defaults."""
        return StageMap.from_options(
            self.won_stages, self.lost_stages, self.stage_order,
            default_won=default_won, default_lost=default_lost,
        )


@dataclass(frozen=True)
class RawCanonical:
    """A raw table renamed to canonical columns, ready for validation.

    Attributes
    ----------
    table : pandas.DataFrame
        Raw cells, canonical column names; the index (named ``row``) holds each row's
        spreadsheet row number in ``source`` (:func:`~targetsim.data.readers.read_table`).
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
    row_numbers : numpy.ndarray or None
        The file's row number of each row of ``table`` when the adapter dropped rows
        (default: the ``row`` index of ``table``).
    expected_close : pandas.Series or None
        Raw expected close date of each open deal (index as ``table``).
    history : pandas.DataFrame or None
        A stage history found in the export itself (HubSpot's ``Date entered`` columns).
    stage_map : StageMap or None
        How stage names were read, for a stage history of the same CRM.
    """

    table: pd.DataFrame
    source: str
    labels: dict[str, str] = field(default_factory=dict)
    stages: tuple[str, ...] = ()
    impute_created: np.ndarray | None = None
    warnings: tuple[str, ...] = ()
    row_numbers: np.ndarray | None = None
    expected_close: pd.Series | None = None
    history: pd.DataFrame | None = None
    stage_map: StageMap | None = None

    @property
    def rows(self) -> np.ndarray:
        """The file's row number of each row of ``table``."""
        if self.row_numbers is not None:
            return self.row_numbers
        return _row_numbers(self.table)


def _row_numbers(table: pd.DataFrame) -> np.ndarray:
    """Spreadsheet row numbers: the reader's ``row`` index, else header row 1 and no gaps."""
    if table.index.name == "row":
        return table.index.to_numpy(dtype=np.int64)
    return np.arange(len(table)) + 2


# ---------------------------------------------------------------- canonical with --map


def from_canonical(
    path: str | Path,
    mapping: dict[str, str] | None = None,
    segment_col: str | None = None,
    options: ExportOptions | None = None,
    skip_invalid: bool = False,
    **read_kw: object,
) -> RawCanonical:
    """Read a canonical file, renaming the user's columns with ``mapping`` (canonical → theirs).

    This is the recipe for any CRM without an adapter: ``--map`` names the columns, and
    when the ``outcome`` column holds the CRM's stage names, ``--won-stages``,
    ``--lost-stages`` (and ``--stage-order``) say what they mean (:class:`StageMap`; the
    canonical words ``won``, ``lost``, ``open``, ``closed won``, ``closed lost`` keep their
    meaning). ``read_kw`` (``sheet``, ``want``) go to
    :func:`~targetsim.data.readers.read_table`.

    Raises
    ------
    DataError
        The file cannot be read, a mapped or segment column is not in it, or a stage name
        cannot be told won, lost or open.
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
    options = options or ExportOptions()
    warnings: list[str] = []
    rows = _row_numbers(table)
    keep = np.ones(len(table), dtype=bool)
    stage_map = None
    if options.names_stages and "outcome" in table:
        stage_map = options.stage_map(("won", "closed won"), ("lost", "closed lost"))
        names = parse_text(table["outcome"])
        outcome = stage_map.classify(names)
        # the canonical word keeps its meaning beside the CRM's stage names
        outcome = outcome.where(names.map(lambda v: stage_key(v) != "open"), "open")
        unknown = outcome.isna().to_numpy()
        if unknown.any():
            msg = stage_map.unknown_message(
                source, mapping.get("outcome", "outcome"), names, unknown, rows
            )
            if not skip_invalid:
                raise DataError(msg)
            warnings.append(f"skipped {int(unknown.sum()):,} rows (--skip-invalid): {msg}")
            keep = ~unknown
        warnings.append(
            f"{source}: stages read as {stage_map.summary(names[keep], outcome[keep])}."
        )
        table = table.assign(outcome=outcome)
    expected = None
    if "closed_at" in table and "outcome" in table:
        is_open = normalize_outcome(table["outcome"])[0].eq("open").to_numpy()
        expected = table["closed_at"].where(is_open, None)
    if not keep.all():
        table, rows = table.loc[keep], rows[keep]
        expected = expected.loc[keep] if expected is not None else None
    return RawCanonical(
        table=table, source=source, labels=mapping, warnings=tuple(warnings),
        row_numbers=rows, expected_close=expected, stage_map=stage_map,
    )


def from_crm_export(
    path: str | Path,
    fmt: str,
    mapping: dict[str, str] | None = None,
    segment_col: str | None = None,
    options: ExportOptions | None = None,
    skip_invalid: bool = False,
    read: ReadOptions | None = None,
) -> RawCanonical:
    """Read a Salesforce or HubSpot deal export (:func:`targetsim.data.crm.from_crm`)."""
    from targetsim.data.crm import LAYOUTS, from_crm

    layout = LAYOUTS[fmt]
    options = options or ExportOptions()
    stage_map = options.stage_map(layout.default_won, layout.default_lost)
    crm = from_crm(path, layout, stage_map, mapping=mapping, segment_col=segment_col,
                   fx=options.fx, skip_invalid=skip_invalid, read=read)
    return RawCanonical(
        table=crm.table, source=str(path), labels=crm.labels, warnings=crm.warnings,
        row_numbers=crm.row_numbers, expected_close=crm.expected_close,
        history=crm.history, stage_map=stage_map,
    )


# ---------------------------------------------------------------- after validation


def attach_extras(
    opps: Opportunities, raw: RawCanonical, moves_back: pd.Series | None = None,
    read: ReadOptions | None = None,
) -> Opportunities:
    """Carry what validation does not read onto the validated table, by file row.

    * ``expected_close_at``: the expected close date of deals open in the export (their
      ``closed_at`` cell), read with the export's date options. Unreadable ones are left
      empty and counted in a warning: this date is a signal, never a reason to reject a
      deal (nor is a column of them whose format cannot be told: all are left empty).
    * ``stage_moves_back``: moves back to an earlier stage, per deal (with a stage
      history).
    """
    t = opps.table
    warn = list(opps.warnings)
    extra: dict[str, pd.Series] = {}
    if raw.expected_close is not None:
        # the day/month order the whole file proves (the open deals' cells alone may not)
        dated = [c for c in raw.table.columns if c in ("created_at", "closed_at")]
        hint = file_order_hint({c: raw.table[c] for c in dated}, raw.rows, read)
        try:
            parsed = parse_date_column(
                raw.expected_close.reset_index(drop=True),
                label=raw.labels.get("closed_at", "closed_at"), source=raw.source,
                rows=raw.rows, options=read, order_hint=hint,
            )
            dates, bad = parsed.values, parsed.bad
        except DataError as exc:
            dates = pd.Series(pd.NaT, index=range(len(raw.expected_close)),
                              dtype="datetime64[ns]")
            bad = np.zeros(len(dates), dtype=bool)
            warn.append(f"open deals' expected close dates left empty (they are not used for "
                        f"the plan): {exc}")
        by_row = pd.Series(dates.to_numpy(), index=raw.rows)
        extra["expected_close_at"] = t["row"].map(by_row).astype("datetime64[ns]")
        if bad.any():
            warn.append(f"{opps.source}: {int(bad.sum()):,} open deals' expected close dates "
                        "are not dates; left empty (they are not used for the plan).")
    if moves_back is not None:
        ids = t["opportunity_id"].astype(str)
        extra["stage_moves_back"] = ids.map(moves_back).fillna(0).astype(int)
    if not extra:
        return opps
    return replace(opps, table=t.assign(**extra), warnings=tuple(warn))


def expected_close_signal(
    open_pipeline: pd.DataFrame, as_of: pd.Timestamp
) -> pd.DataFrame | None:
    """Open deals by the quarter their rep expects them to close: a leading signal.

    The expected close date never enters the model (it is the rep's hope, and the deal is
    censored at ``as_of``); it tells how much of today's pipeline is *committed* for each
    quarter, and how much has already slipped (``overdue``: expected before ``as_of``).

    Parameters
    ----------
    open_pipeline : pandas.DataFrame
        :attr:`FunnelData.open_pipeline` with its ``expected_close_at`` column.
    as_of : pandas.Timestamp

    Returns
    -------
    pandas.DataFrame or None
        ``segment, expected_close, open_deals, open_value`` (value of the deals with an
        amount); ``expected_close`` is ``overdue``, a quarter ``YYYY-Qn`` or ``none``, plus
        ``total`` rows. None when no open deal has an expected close date.
    """
    if "expected_close_at" not in open_pipeline:
        return None
    d = pd.to_datetime(open_pipeline["expected_close_at"])
    if not d.notna().any():
        return None
    bucket = pd.Series("none", index=open_pipeline.index, dtype=object)
    has = d.notna()
    bucket[has] = [f"{p.year}-Q{p.quarter}" for p in d[has].dt.to_period("Q")]
    bucket[has & (d < pd.Timestamp(as_of))] = "overdue"
    frame = pd.DataFrame({
        "segment": open_pipeline["segment"].astype(str),
        "expected_close": bucket,
        "amount": open_pipeline["amount"].astype(float),
    })
    quarters = sorted(b for b in bucket.unique() if b not in ("overdue", "none"))
    order = ["overdue", *quarters, "none"]
    rows = []
    for seg in [*sorted(frame["segment"].unique()), "total"]:
        sub = frame if seg == "total" else frame.loc[frame["segment"].eq(seg)]
        for b in order:
            s = sub.loc[sub["expected_close"].eq(b)]
            if len(s):
                rows.append((seg, b, len(s), round(float(s["amount"].sum()), 2)))
    return pd.DataFrame(rows, columns=["segment", "expected_close", "open_deals", "open_value"])


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
