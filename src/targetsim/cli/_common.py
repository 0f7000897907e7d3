"""Options and helpers shared by every command: data options, and the one console.

``fit``, ``plan``, ``track``, ``backtest`` and ``ingest`` declare the same data options with
these annotations and turn them into funnel facts with :func:`funnel_from_cli`, so a user
learns one set of flags. The options about what an export *means* (stage names, stage
history, currencies, placeholder amounts) travel together as one
:class:`~targetsim.data.adapters.ExportOptions` built by :func:`export_options`.

Every command prints through :func:`console` (or :func:`err_console`): a rich console for
which every plain string is text, never markup. Data text (segment and owner names, cells
quoted in messages, paths) is escaped with :func:`targetsim.safe_text.escape_console`
wherever rich would read markup (printed strings, table cells, titles), so a segment named
``[/]`` or ``[link=http://x]`` prints as written. The CLI's own styling goes through
:func:`styled`, whose template is ours and whose values are escaped.

Examples
--------
>>> @app.command()  # doctest: +SKIP
... def fit(data: DataArg, fmt: FormatOpt = None, map_: MapOpt = None,
...         segment_col: SegmentColOpt = None, stages: StagesOpt = None,
...         as_of: AsOfOpt = None, skip_invalid: SkipInvalidOpt = False) -> None:
...     funnel = funnel_from_cli(data, fmt, map_, segment_col, stages, as_of, skip_invalid)
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.text import Text

from targetsim.errors import ConfigError
from targetsim.safe_text import escape_console

if TYPE_CHECKING:
    from targetsim.data.adapters import ExportOptions
    from targetsim.data.funnel import FunnelData, Opportunities
    from targetsim.data.options import ReadOptions


class SafeConsole(Console):
    """A rich console that never reads markup in a plain string (see the module docstring)."""

    def render_str(self, text: str, **kwargs):  # noqa: ANN003, ANN201 - rich's signature
        kwargs["markup"] = True  # the escaped text renders as written, markup on or off
        kwargs["emoji"] = False  # ":smile:" in a name stays text
        return super().render_str(escape_console(text), **kwargs)


def console(*, stderr: bool = False, width: int | None = None) -> SafeConsole:
    """The console every command prints with (stdout, or stderr for messages)."""
    return SafeConsole(stderr=stderr, width=width, emoji=False)


def err_console() -> SafeConsole:
    """The console for errors, warnings and progress (stderr)."""
    return console(stderr=True)


def styled(template: str, *values: object, **fields: object) -> Text:
    """Our markup ``template`` with its ``{}`` / ``{name}`` fields filled by escaped values.

    The template is the CLI's own text (``[yellow]warning:[/] ...``, the summary words of
    each language); every value put into it is data and goes through
    :func:`targetsim.safe_text.escape_console`, so the styling renders and the data prints
    as written.

    Examples
    --------
    >>> styled("[yellow]warning:[/] {}", "[/] is a segment").plain
    'warning: [/] is a segment'
    >>> styled("[bold]{name}[/] {n}", name="[red]x", n=3).plain
    '[red]x 3'
    """
    text = template.format(*(escape_console(v) for v in values),
                           **{k: escape_console(v) for k, v in fields.items()})
    return Text.from_markup(text, emoji=False)


#: Longest horizon ``--months`` accepts: targetsim.simulate.scenario.MAX_MONTHS, written out
#: because importing targetsim.simulate loads PyMC at every start of the CLI (a test keeps
#: the two equal).
MAX_MONTHS = 60

DataArg = Annotated[
    Path,
    typer.Argument(
        help="CRM export: a CSV, Parquet or Excel file (or, with --format maven, the folder).",
        show_default=False, metavar="DATA",
    ),
]
FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Input layout: 'canonical' (default: the columns the README lists under Input), "
        "'salesforce' (opportunity report or Data Loader export), 'hubspot' (deals export) or "
        "'maven' (Maven Analytics CRM Sales Opportunities folder).",
    ),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--map",
        help="Column mapping canonical=theirs, e.g. --map opportunity_id='Deal ID' (repeatable).",
    ),
]
SegmentColOpt = Annotated[
    str | None,
    typer.Option(
        "--segment-col",
        help="Column to use as segment (maven: product, series, sector, regional_office, "
        "manager, office_location).",
    ),
]
StagesOpt = Annotated[
    str | None,
    typer.Option(
        "--stages",
        help="Intermediate stages in funnel order, comma separated; each needs a <stage>_at "
        "date column.",
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="As-of date YYYY-MM-DD (default: the latest date in the data)."),
]
SkipInvalidOpt = Annotated[
    bool,
    typer.Option(
        "--skip-invalid",
        help="Drop rows that fail validation (with a warning and a count) instead of stopping.",
    ),
]

WonStagesOpt = Annotated[
    str | None,
    typer.Option(
        "--won-stages",
        help="Stage names that mean won, comma separated (default for salesforce/hubspot: "
        "'Closed Won'); with the canonical layout the outcome column then holds stage names.",
    ),
]
LostStagesOpt = Annotated[
    str | None,
    typer.Option("--lost-stages", help="Stage names that mean lost, comma separated "
                 "(default for salesforce/hubspot: 'Closed Lost')."),
]
StageOrderOpt = Annotated[
    str | None,
    typer.Option(
        "--stage-order",
        help="The open stages in funnel order, comma separated; any other stage name is then "
        "an error. Their dates come from --stage-history (or HubSpot's Date entered columns).",
    ),
]
StageHistoryOpt = Annotated[
    Path | None,
    typer.Option(
        "--stage-history",
        help="Stage history: one row per stage change (opportunity_id, stage, changed_at); "
        "gives each stage's first entry date.",
    ),
]
FxOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fx",
        help="Currency rates to the plan's currency, CODE=rate, e.g. --fx EUR=1.08,GBP=1.27 "
        "(salesforce/hubspot exports with several currencies).",
    ),
]
AmountsOpt = Annotated[
    str,
    typer.Option(
        "--amounts",
        help="'auto': a placeholder won amount (every won amount 0 or 1) is read as unknown; "
        "'keep': amounts as they are; 'unknown': no amounts (deals-won targets only).",
    ),
]
DateFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--date-format",
        help="Format of every date cell, e.g. %d/%m/%Y (default: detected on each whole "
        "column).",
    ),
]
DayfirstOpt = Annotated[
    bool | None,
    typer.Option(
        "--dayfirst/--monthfirst",
        help="Numeric dates like 05/01/2017 are day/month/year (--dayfirst) or month/day/year "
        "(--monthfirst). Default: decided by the data; a column that reads both ways stops.",
    ),
]
DecimalOpt = Annotated[
    str,
    typer.Option(
        "--decimal",
        help="Decimal mark of amounts: '.' (1,234.50) or ',' (1.234,50 or 1 234,50).",
    ),
]
SheetOpt = Annotated[
    str | None,
    typer.Option(
        "--sheet",
        help="Excel sheet to read (default: the first sheet that has the needed columns).",
    ),
]


def export_options(
    won_stages: str | None = None,
    lost_stages: str | None = None,
    stage_order: str | None = None,
    stage_history: Path | None = None,
    fx: list[str] | None = None,
    amounts: str = "auto",
) -> ExportOptions:
    """The stage, history, currency and amount options as one validated object.

    Raises
    ------
    ConfigError
        A malformed ``--fx`` item, an unknown ``--amounts``, a stage named in two lists.
    """
    from targetsim.data.adapters import ExportOptions
    from targetsim.data.amounts import AMOUNT_MODES, parse_fx

    mode = (amounts or "auto").strip().lower()
    if mode not in AMOUNT_MODES:
        raise ConfigError(f"--amounts {amounts!r}: choose one of {', '.join(AMOUNT_MODES)}.")
    options = ExportOptions.build(won_stages, lost_stages, stage_order, stage_history,
                                  parse_fx(fx), mode)
    options.stage_map()  # a stage in two lists fails here, before any file is read
    return options


def parse_mapping(items: list[str] | None) -> dict[str, str] | None:
    """Turn repeated ``canonical=theirs`` strings into a mapping.

    Parameters
    ----------
    items : list of str or None
        Values of ``--map``.

    Returns
    -------
    dict or None
        ``{canonical: their_column}``; None when no mapping was given.

    Raises
    ------
    ConfigError
        An item has no ``=`` or an empty side, or a canonical name is mapped twice.
    """
    if not items:
        return None
    mapping: dict[str, str] = {}
    for item in items:
        canonical, sep, theirs = item.partition("=")
        canonical, theirs = canonical.strip(), theirs.strip()
        if not sep or not canonical or not theirs:
            raise ConfigError(
                f"--map {item!r}: expected canonical=theirs, e.g. --map opportunity_id='Deal ID'."
            )
        if canonical in mapping:
            raise ConfigError(
                f"--map maps {canonical!r} twice ({mapping[canonical]!r}, {theirs!r})."
            )
        mapping[canonical] = theirs
    return mapping


def parse_stages(stages: str | None) -> tuple[str, ...]:
    """Split the ``--stages`` comma list, dropping blanks."""
    if not stages:
        return ()
    return tuple(s.strip() for s in stages.split(",") if s.strip())


def read_options(
    date_format: str | None = None,
    dayfirst: bool | None = None,
    decimal: str = ".",
    sheet: str | None = None,
) -> ReadOptions:
    """The data-reading options (``--date-format``, ``--dayfirst``, ``--decimal``, ``--sheet``).

    Raises
    ------
    ConfigError
        An option is malformed or two of them contradict each other (exit code 2).
    """
    from targetsim.data.options import ReadOptions

    return ReadOptions(date_format=date_format, dayfirst=dayfirst, decimal=decimal.strip(),
                       sheet=sheet)


def print_warnings(warnings: tuple[str, ...] | list[str]) -> None:
    """Print data warnings on stderr, so stdout stays clean for ``--json``."""
    err = err_console()
    for w in warnings:
        err.print(styled("[yellow]warning:[/] {}", w), highlight=False, soft_wrap=True)


def opportunities_from_cli(
    data: Path,
    fmt: str | None,
    map_: list[str] | None,
    segment_col: str | None,
    stages: str | None,
    as_of: str | None,
    skip_invalid: bool,
    options: ExportOptions | None = None,
    read: ReadOptions | None = None,
) -> Opportunities:
    """Load validated opportunities from the shared data options; warnings go to stderr."""
    from targetsim.data import load_opportunities

    opps = load_opportunities(
        data,
        fmt=fmt,
        mapping=parse_mapping(map_),
        segment_col=segment_col,
        stages=parse_stages(stages),
        as_of=as_of,
        skip_invalid=skip_invalid,
        options=options,
        read=read,
    )
    print_warnings(opps.warnings)
    return opps


def funnel_from_cli(
    data: Path,
    fmt: str | None,
    map_: list[str] | None,
    segment_col: str | None,
    stages: str | None,
    as_of: str | None,
    skip_invalid: bool,
    options: ExportOptions | None = None,
    read: ReadOptions | None = None,
) -> FunnelData:
    """Load a CRM export from the shared data options and compute its funnel facts.

    Parameters
    ----------
    data : Path
        File (CSV, Parquet, Excel) or, for ``--format maven``, the folder.
    fmt : str or None
        ``None``/``"canonical"``, ``"salesforce"``, ``"hubspot"`` or ``"maven"``.
    map_ : list of str or None
        Raw ``--map canonical=theirs`` values.
    segment_col : str or None
        Column used as segment.
    stages : str or None
        Raw ``--stages`` comma list.
    as_of : str or None
        Raw ``--as-of`` date.
    skip_invalid : bool
        Drop invalid rows with a warning instead of failing.
    options : ExportOptions, optional
        Stage names, stage history, currencies, placeholder amounts (:func:`export_options`).
    read : ReadOptions, optional
        How the file writes dates and amounts, which Excel sheet (:func:`read_options`).

    Returns
    -------
    FunnelData

    Raises
    ------
    DataError
        The data is missing, unreadable or invalid (exit code 2).
    ConfigError
        An option is malformed (exit code 2).
    """
    from targetsim.data.funnel import build_funnel

    return build_funnel(
        opportunities_from_cli(data, fmt, map_, segment_col, stages, as_of, skip_invalid,
                               options, read)
    )
