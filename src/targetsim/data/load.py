"""Public entry points of the data step: file (or folder) → validated opportunities → funnel."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from importlib import resources
from pathlib import Path

from targetsim.data.adapters import from_canonical, from_maven
from targetsim.data.funnel import FunnelData, Opportunities, build_funnel
from targetsim.data.options import ReadOptions
from targetsim.data.schema import CANONICAL, REQUIRED, validate
from targetsim.errors import ConfigError

#: Input layouts ``fmt`` accepts.
FORMATS = ("canonical", "maven")


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
    options: ReadOptions | None = None,
) -> Opportunities:
    """Read and validate a CRM export.

    Parameters
    ----------
    path : str or Path
        CSV, Parquet or Excel file in the canonical layout (DESIGN.md), or for
        ``fmt="maven"`` the Maven folder or its ``sales_pipeline.csv``.
    fmt : {None, "canonical", "maven"}
        Input layout; None means canonical.
    mapping : dict, optional
        Canonical column → the file's column (``--map canonical=theirs``). Canonical only.
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
    options : ReadOptions, optional
        How the file writes dates and amounts, and which Excel sheet to read
        (``--date-format``, ``--dayfirst``/``--monthfirst``, ``--decimal``, ``--sheet``).

    Returns
    -------
    Opportunities

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
    if layout == "maven":
        if mapping:
            raise ConfigError("--map does not apply to --format maven (its columns are known).")
        if stages and stages != ("engaging",):
            raise ConfigError(
                f"--stages {','.join(stages)}: the Maven data has one stage, 'engaging' "
                "(Prospecting → Engaging → Won/Lost); leave --stages out."
            )
        if options is not None and options.sheet is not None:
            raise ConfigError("--sheet does not apply to --format maven (its files are CSV).")
        raw = from_maven(path, segment_col=segment_col)
    else:
        for canon, theirs in (mapping or {}).items():
            if canon not in CANONICAL and not re.fullmatch(r"[A-Za-z0-9_]+_at", canon):
                raise ConfigError(
                    f"--map {canon}={theirs}: {canon!r} is not a canonical column; use one of "
                    f"{', '.join(CANONICAL)} or <stage>_at."
                )
        want = [(mapping or {}).get(c, c) for c in REQUIRED]
        raw = from_canonical(path, mapping=mapping, segment_col=segment_col,
                             sheet=options.sheet if options is not None else None, want=want)
    return validate(
        raw.table,
        source=raw.source,
        stages=raw.stages or stages,
        as_of=as_of,
        skip_invalid=skip_invalid,
        labels=raw.labels,
        impute_created=raw.impute_created,
        warnings=raw.warnings,
        options=options,
    )


def load_funnel(
    path: str | Path,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    segment_col: str | None = None,
    stages: Sequence[str] = (),
    as_of: str | date | None = None,
    skip_invalid: bool = False,
    options: ReadOptions | None = None,
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
        )
    )
