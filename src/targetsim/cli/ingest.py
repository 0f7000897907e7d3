"""``targetsim ingest DATA``: validate a CRM export and print its funnel facts."""

from __future__ import annotations

import json
import math
import sys
from typing import Annotated

import typer
from rich.table import Table

from targetsim.cli._common import (
    AmountsOpt,
    AsOfOpt,
    DataArg,
    DateFormatOpt,
    DayfirstOpt,
    DecimalOpt,
    FormatOpt,
    FxOpt,
    LostStagesOpt,
    MapOpt,
    SafeConsole,
    SegmentColOpt,
    SheetOpt,
    SkipInvalidOpt,
    StageHistoryOpt,
    StageOrderOpt,
    StagesOpt,
    WonStagesOpt,
    console,
    export_options,
    funnel_from_cli,
    read_options,
    styled,
)
from targetsim.data.facts import FunnelFacts, GroupFacts, summarize_funnel

JsonOpt = Annotated[bool, typer.Option("--json", help="Print the facts as JSON on stdout only.")]
WideOpt = Annotated[bool, typer.Option("--wide", help="Every column (about 170 characters "
                                       "wide); the default view fits 80 columns.")]

_GROUP_COLUMNS = (
    ("opps", "opportunities", "int"),
    ("open", "open", "int"),
    ("won", "won", "int"),
    ("lost", "lost", "int"),
    ("win rate", "win_rate", "pct"),
    ("days to win (med.)", "median_days_to_win", "num"),
    ("days to loss (med.)", "median_days_to_loss", "num"),
    ("deal size avg", "avg_contract_value", "money"),
    ("deal size med.", "median_contract_value", "money"),
    ("new / month", "arrivals_per_month", "dec"),
    ("open value", "open_pipeline_value", "money"),
    ("open age (med. days)", "open_pipeline_median_age_days", "num"),
    ("bookings 365 d", "bookings_last_365d", "money"),
    ("coverage", "pipeline_coverage", "ratio"),
)


#: The default view: what a sales leader reads first, in 80 columns.
_COMPACT_COLUMNS = (
    ("opps", "opportunities", "int"),
    ("won", "won", "int"),
    ("win %", "win_rate", "pct"),
    ("days", "median_days_to_win", "num"),
    ("deal", "median_contract_value", "short"),
    ("new/mo", "arrivals_per_month", "dec"),
    ("12 months", "bookings_last_365d", "short"),
)


def _fmt(v: float | int, kind: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if kind == "int":
        return f"{int(v):,}"
    if kind == "pct":
        return f"{100 * v:.1f}%"
    if kind == "money":
        return f"{v:,.0f}"
    if kind == "dec":
        return f"{v:,.1f}"
    if kind == "ratio":
        return f"{v:.2f}x"
    if kind == "short":
        from targetsim.formatting import compact

        return compact(v, "en")
    return f"{v:,.0f}"


def _group_table(title: str, first: str, groups: list[GroupFacts], wide: bool = False) -> Table:
    columns = _GROUP_COLUMNS if wide else _COMPACT_COLUMNS
    table = Table(title=title, title_justify="left", header_style="bold",
                  pad_edge=False, padding=(0, 1) if wide else (0, 0, 0, 1))
    # Long names wrap (a word longer than the column folds) in the compact view rather than
    # pushing numbers off an 80-column screen: the whole name is shown, never cut.
    table.add_column(first, no_wrap=wide, max_width=None if wide else 18,
                     overflow="ellipsis" if wide else "fold")
    for head, _, _ in columns:
        table.add_column(head, justify="right", no_wrap=True)
    for g in groups:
        style = "bold" if g.level == "total" else None
        table.add_row(
            g.name, *(_fmt(getattr(g, attr), kind) for _, attr, kind in columns),
            style=style,
        )
    return table


def print_facts(facts: FunnelFacts, console: SafeConsole, wide: bool = False) -> None:
    """Print the facts as rich tables: segments and total, owners, stages.

    The default view has seven columns and fits 80 characters; ``wide`` prints all 14.
    """
    console.print(
        styled("[bold]{}[/]  as of {}, {} months of arrivals{}", facts.source,
               facts.as_of.date(), f"{facts.months_observed:.1f}",
               f", stages: {' → '.join(facts.stages)}" if facts.stages else ""),
        highlight=False,
    )
    groups = [*facts.segments, facts.total]
    console.print(_group_table("Funnel facts by segment", "segment", groups, wide))
    if facts.owners:
        console.print(_group_table("By owner", "owner", list(facts.owners), wide))
    if facts.stage_facts:
        t = Table(title="Stages", title_justify="left", header_style="bold")
        for head in ("segment", "step", "entered", "converted", "lost", "open", "conversion",
                     "days (med.)"):
            left = head in ("segment", "step")
            t.add_column(head, justify="left" if left else "right", no_wrap=left)
        for s in facts.stage_facts:
            t.add_row(
                s.segment, f"{s.from_stage} → {s.to_stage}", _fmt(s.entered, "int"),
                _fmt(s.converted, "int"), _fmt(s.lost, "int"), _fmt(s.open, "int"),
                _fmt(s.conversion, "pct"), _fmt(s.median_days, "num"),
            )
        console.print(t)
    zeros = [g for g in facts.segments if g.won_zero_amount]
    if zeros:
        console.print(
            f"won deals with an amount of 0: {facts.total.won_zero_amount:,} ("
            + ", ".join(f"{g.name}: {g.won_zero_amount:,}" for g in zeros)
            + "); they count as wins, not in deal sizes.",
            highlight=False,
        )
    unsized = [g.name for g in facts.segments if g.won_with_amount == 0]
    if unsized:
        console.print(
            "no won deal with a positive amount in: " + ", ".join(unsized)
            + " (deals-won targets only).",
            highlight=False,
        )
    if wide:
        note = ("win rate = won / (won + lost); coverage = open pipeline value / bookings of "
                "the last 365 days; open deals' values may be estimates.")
    else:
        note = ("win % = won / (won + lost); days = median days to win; deal = median won "
                "deal; new/mo = new opportunities a month; 12 months = bookings of the last "
                "365 days. --wide shows every column.")
    console.print(note, style="dim")


def ingest(
    data: DataArg,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
    fmt: FormatOpt = None,
    map_: MapOpt = None,
    segment_col: SegmentColOpt = None,
    stages: StagesOpt = None,
    as_of: AsOfOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    won_stages: WonStagesOpt = None,
    lost_stages: LostStagesOpt = None,
    stage_order: StageOrderOpt = None,
    stage_history: StageHistoryOpt = None,
    fx: FxOpt = None,
    amounts: AmountsOpt = "auto",
    date_format: DateFormatOpt = None,
    dayfirst: DayfirstOpt = None,
    decimal: DecimalOpt = ".",
    sheet: SheetOpt = None,
) -> None:
    """Validate a CRM export and print its funnel facts (per segment, total, owner, stage)."""
    options = export_options(won_stages, lost_stages, stage_order, stage_history, fx, amounts)
    read = read_options(date_format, dayfirst, decimal, sheet)
    funnel = funnel_from_cli(data, fmt, map_, segment_col, stages, as_of, skip_invalid,
                             options, read)
    facts = summarize_funnel(funnel)
    if as_json:
        sys.stdout.write(json.dumps(facts.to_dict(), indent=2) + "\n")
        return
    print_facts(facts, console(), wide=wide)


def register(app: typer.Typer) -> None:
    """Add the ``ingest`` command to the CLI."""
    app.command("ingest", epilog="Example: targetsim ingest src/targetsim/demo_data "
                "--format maven --segment-col product")(ingest)
