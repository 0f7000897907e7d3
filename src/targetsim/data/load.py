"""Public entry points of the data step: file (or folder) → validated opportunities → funnel."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from datetime import date
from importlib import resources
from pathlib import Path

import pandas as pd

from targetsim.data.adapters import (
    ExportOptions,
    RawCanonical,
    attach_extras,
    from_canonical,
    from_crm_export,
    from_maven,
)
from targetsim.data.amounts import resolve_placeholder_amounts
from targetsim.data.funnel import FunnelData, Opportunities, build_funnel
from targetsim.data.options import ReadOptions
from targetsim.data.schema import CANONICAL, REQUIRED, validate
from targetsim.errors import ConfigError

#: Input layouts ``fmt`` accepts.
FORMATS = ("canonical", "maven", "salesforce", "hubspot")
#: Layouts read by :mod:`targetsim.data.crm`.
CRM_FORMATS = ("salesforce", "hubspot")


def demo_data_path() -> Path:
    """Folder of the bundled demo data (Maven Analytics' CRM Sales Opportunities).

    Found with :mod:`importlib.resources`, so it works from any directory after install.
    """
    return Path(str(resources.files("targetsim") / "demo_data"))


def load_opportunities(
    path: str | Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    segment_col: str | None = None,
    stages: Sequence[str] = (),
    as_of: str | date | None = None,
    skip_invalid: bool = False,
    options: ExportOptions | None = None,
    read: ReadOptions | None = None,
) -> Opportunities:
    """Read and validate a CRM export.

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or Excel file in the canonical layout (DESIGN.md), or for
        ``fmt="maven"`` the Maven folder or its ``sales_pipeline.csv``.
    fmt : {None, "canonical", "maven", "salesforce", "hubspot"}
        Input layout; None means canonical.
    mapping : dict, optional
        Canonical column → the file's column (``--map canonical=theirs``); with
        ``salesforce``/``hubspot`` it overrides the layout's column for a role of
        :data:`targetsim.data.crm.ROLES` (``outcome`` = the stage column).
    segment_col : str, optional
        Column to use as the segment (default the ``segment`` column, else one segment
        ``all``).
    stages : sequence of str
        Intermediate stages in funnel order, each with a ``<stage>_at`` column. Maven
        always has the one stage ``engaging``.
    as_of : str or date, optional
        Censoring date; default the latest date in the data.
    skip_invalid : bool
        Drop invalid rows with a warning (and a count) instead of failing.
    options : ExportOptions, optional
        Stage names (``--won-stages``, ``--lost-stages``, ``--stage-order``), the stage
        history, currency rates and placeholder amounts.
    read : ReadOptions, optional
        How the file writes dates and amounts, and which Excel sheet to read
        (``--date-format``, ``--dayfirst``/``--monthfirst``, ``--decimal``, ``--sheet``).

    Returns
    -------
    Opportunities
        With ``expected_close_at`` (open deals' expected close, when the export has it) and
        ``stage_moves_back`` (with a stage history).

    Raises
    ------
    DataError
        Missing, unreadable or invalid input (see :mod:`targetsim.data.schema`).
    ConfigError
        Unknown ``fmt``, a malformed ``mapping``, or options that do not apply to ``fmt``.
    """
    layout = (fmt or "canonical").strip().lower()
    if layout not in FORMATS:
        raise ConfigError(f"--format {fmt!r} is unknown; choose one of {', '.join(FORMATS)}.")
    stages = tuple(stages)
    options = options or ExportOptions()
    read = read or ReadOptions()
    if options.stage_history is not None and stages:
        raise ConfigError(
            "--stages and --stage-history both name the stages: with a stage history, give "
            "their order with --stage-order (or leave it to be inferred)."
        )
    if layout == "maven":
        if mapping:
            raise ConfigError("--map does not apply to --format maven (its columns are known).")
        if stages and stages != ("engaging",):
            raise ConfigError(
                f"--stages {','.join(stages)}: the Maven data has one stage, 'engaging' "
                "(Prospecting → Engaging → Won/Lost); leave --stages out."
            )
        if options.names_stages or options.stage_history is not None or options.fx:
            raise ConfigError(
                "--won-stages, --lost-stages, --stage-order, --stage-history and --fx do not "
                "apply to --format maven (its stages and currency are known)."
            )
        if read.sheet is not None:
            raise ConfigError("--sheet does not apply to --format maven (its files are CSV).")
        raw = from_maven(path, segment_col=segment_col)
    elif layout in CRM_FORMATS:
        from targetsim.data.crm import ROLES

        for role, theirs in (mapping or {}).items():
            if role not in ROLES + ("outcome", "segment"):
                raise ConfigError(
                    f"--map {role}={theirs}: with --format {layout}, {role!r} is not a column "
                    f"role; use one of {', '.join(ROLES)}."
                )
        if stages:
            raise ConfigError(
                f"--stages does not apply to --format {layout}: name the open stages in "
                "funnel order with --stage-order, and give their dates with --stage-history"
                + (" (or the export's Date entered columns)." if layout == "hubspot" else ".")
            )
        raw = from_crm_export(path, layout, mapping=mapping, segment_col=segment_col,
                              options=options, skip_invalid=skip_invalid, read=read)
    else:
        for canon, theirs in (mapping or {}).items():
            if canon not in CANONICAL and not re.fullmatch(r"[A-Za-z0-9_]+_at", canon):
                raise ConfigError(
                    f"--map {canon}={theirs}: {canon!r} is not a canonical column; use one of "
                    f"{', '.join(CANONICAL)} or <stage>_at."
                )
        if options.fx:
            raise ConfigError(
                "--fx applies to --format salesforce and hubspot, whose exports name each "
                "amount's currency; convert a canonical file's amounts before loading it."
            )
        want = [(mapping or {}).get(c, c) for c in REQUIRED]
        raw = from_canonical(path, mapping=mapping, segment_col=segment_col, options=options,
                             skip_invalid=skip_invalid, sheet=read.sheet, want=want)
    raw, moves_back = _with_stage_history(raw, options, skip_invalid, read)
    opps = validate(
        raw.table,
        source=raw.source,
        stages=raw.stages or stages,
        as_of=as_of,
        skip_invalid=skip_invalid,
        labels=raw.labels,
        impute_created=raw.impute_created,
        warnings=raw.warnings,
        row_numbers=raw.row_numbers,
        options=read,
    )
    opps = attach_extras(opps, raw, moves_back, read)
    opps = resolve_placeholder_amounts(opps, options.amounts)
    return _note_no_lost(opps)


def _with_stage_history(
    raw: RawCanonical, options: ExportOptions, skip_invalid: bool, read: ReadOptions
) -> tuple[RawCanonical, pd.Series | None]:
    """Add the ``<stage>_at`` columns of ``--stage-history`` (or HubSpot's own columns)."""
    from targetsim.data.stage_history import (
        add_stage_dates,
        deal_dates,
        read_stage_history,
        stage_dates,
    )

    if options.stage_history is not None:
        history = read_stage_history(options.stage_history, skip_invalid=skip_invalid,
                                     read=read)
        source = str(options.stage_history)
    elif raw.history is not None and options.stage_order:
        history, source = raw.history, f"{raw.source} (Date entered columns)"
    else:
        return raw, None
    stage_map = raw.stage_map or options.stage_map(("won", "closed won"), ("lost", "closed lost"))
    sd = stage_dates(history, stage_map, deal_dates(raw.table, read), source=source,
                     skip_invalid=skip_invalid)
    labels = dict(raw.labels)
    for name, slug in zip(sd.names, sd.stages, strict=True):
        labels.setdefault(f"{slug}_at", f"{name} (entered, from {source})")
    raw = replace(raw, table=add_stage_dates(raw.table, sd), stages=sd.stages, labels=labels,
                  warnings=raw.warnings + sd.warnings)
    return raw, sd.moves_back


def _note_no_lost(opps: Opportunities) -> Opportunities:
    """Say so when nothing is ever lost: a lead funnel where unconverted leads stay open."""
    outcome = opps.table["outcome"]
    if outcome.eq("lost").any() or not outcome.eq("open").any() or not outcome.eq("won").any():
        return opps
    n_open = int(outcome.eq("open").sum())
    note = (
        f"{opps.source}: no deal is marked lost: the {n_open:,} that never converted are read "
        "as open (censored at the as-of date), as in a lead funnel where a lead is never "
        "closed as lost."
    )
    return replace(opps, warnings=(*opps.warnings, note))


def load_funnel(
    path: str | Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    segment_col: str | None = None,
    stages: Sequence[str] = (),
    as_of: str | date | None = None,
    skip_invalid: bool = False,
    options: ExportOptions | None = None,
    read: ReadOptions | None = None,
) -> FunnelData:
    """:func:`load_opportunities` then :func:`~targetsim.data.funnel.build_funnel`."""
    return build_funnel(
        load_opportunities(
            path,
            fmt=fmt,
            mapping=mapping,
            segment_col=segment_col,
            stages=stages,
            as_of=as_of,
            skip_invalid=skip_invalid,
            options=options,
            read=read,
        )
    )
