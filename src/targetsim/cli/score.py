"""``targetsim score PLAN_DIR QUOTAS``: the probability of quotas people propose or already have.

Reads the plan directory only (projection.nc, targets.csv, plan.json) and never imports
the sampler; writes quota_scores.csv and quota_rollup.csv into ``--out`` (default
PLAN_DIR) and prints the reference scenario's scores and how they add up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from targetsim.cli._common import SafeConsole, console

PlanDirArg = Annotated[
    Path, typer.Argument(help="A plan directory (the --out of `targetsim plan`).",
                         show_default=False, metavar="PLAN_DIR")
]
QuotasArg = Annotated[
    Path,
    typer.Argument(
        help="Quotas to score: CSV, Parquet or Excel with level, name, period, metric, target "
        "(optional scenario), or the plan's targets.xlsx handed back, edited or not (its "
        "Quotas sheet: one row per rep, FY and quarter quotas; or its Scored quotas sheet).",
        show_default=False, metavar="QUOTAS",
    ),
]
#: Rows of the score table printed (the files have them all).
MAX_ROWS = 60


def print_scores(result, console: SafeConsole, *, currency: str = "$", lang: str = "en",  # noqa: ANN001
                 files: list[Path] | None = None) -> None:
    """The reference scenario's scores as a table, then the roll-up in sentences."""
    from targetsim.calibrate.objectives import format_money, format_percent
    from targetsim.calibrate.score import VERDICTS, summary_lines

    s = result.scores.loc[result.scores["scenario"].eq(result.reference)]
    floor, target, stretch = result.tiers
    combos = s[["level", "period", "metric"]].drop_duplicates()
    one = len(combos) == 1
    what = (f"{combos.iloc[0]['level']}s, {combos.iloc[0]['period']} "
            f"{combos.iloc[0]['metric'].replace('_', ' ')}, " if one else "")
    easy, ok, stretching, unlikely = VERDICTS.get(lang, VERDICTS["en"])
    table = Table(
        title=f"Quotas ({what}{result.reference}); verdict: ≥ "
        f"{format_percent(floor, lang)} {easy}, ≥ {format_percent(target, lang)} {ok}, ≥ "
        f"{format_percent(stretch, lang)} {stretching}, below {unlikely}",
        title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, pad_edge=False,
    )
    columns = ("name",) + (() if one else ("quota of",)) + (
        "quota", "P(attain)", "p10–p90", "vs plan", "verdict")
    for col in columns:
        table.add_column(col, justify="right" if col in ("quota", "P(attain)", "vs plan")
                         else "left", no_wrap=col != "name")

    def value(v: float, metric: str) -> str:
        return format_money(v, lang, currency) if metric == "bookings" else f"{v:,.0f}"

    for r in s.head(MAX_ROWS).itertuples(index=False):
        vs = f"{r.vs_plan_target:+.0%}" if r.vs_plan_target == r.vs_plan_target else "–"
        cells = [str(r.name)]
        if not one:
            cells.append(f"{r.level[:3]} {r.period} {r.metric.replace('_', ' ')}")
        cells += [value(r.target, r.metric), format_percent(r.attainment_probability, lang),
                  f"{value(r.p10, r.metric)}–{value(r.p90, r.metric)}", vs, r.verdict]
        table.add_row(*cells)
    console.print(table)
    if len(s) > MAX_ROWS:
        console.print(f"... and {len(s) - MAX_ROWS} more rows in quota_scores.csv",
                      highlight=False)
    for line in summary_lines(result, currency, lang):
        console.print(line, highlight=False)
    if files:
        console.print(f"wrote {', '.join(str(f) for f in files)}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add the ``score`` command to the CLI."""

    @app.command("score", epilog="Example: targetsim score plan/ plan/targets.xlsx --out "
                 "plan/scored")
    def score(
        plan_dir: PlanDirArg,
        quotas: QuotasArg,
        out: Annotated[
            Path | None, typer.Option("--out", help="Output directory (default: PLAN_DIR).")
        ] = None,
        tiers: Annotated[
            str | None,
            typer.Option("--tiers", help="Floor,target,stretch probabilities of the verdicts "
                         "(default: the plan's, else 0.9,0.6,0.3)."),
        ] = None,
        company_target: Annotated[
            str | None,
            typer.Option("--company-target", help="The company number the proposals add up "
                         "against (FY bookings; default: a total row of QUOTAS, else the "
                         "plan's)."),
        ] = None,
        lang: Annotated[
            str | None, typer.Option("--lang", help="Language of the verdicts: en, fr "
                                     "(default: the plan's).")
        ] = None,
        sheet: Annotated[
            str | None, typer.Option("--sheet", metavar="NAME", help="Sheet of an Excel "
                                     "QUOTAS to read (default: Scored quotas, else Quotas, "
                                     "else every sheet with quota columns).")
        ] = None,
    ) -> None:
        """Probability of attainment of proposed or existing quotas, with a verdict and how
        they add up against the company number (top-down meets participative)."""
        from targetsim.calibrate.score import score_plan, write_scores
        from targetsim.cli._common import print_warnings
        from targetsim.cli.plan import parse_amount, parse_tiers_opt
        from targetsim.io import output_folder, staged_outputs

        result, read, meta = score_plan(plan_dir, quotas, tiers=parse_tiers_opt(tiers),
                                        company_target=parse_amount(company_target), lang=lang,
                                        sheet=sheet)
        print_warnings(read.warnings)
        with output_folder(out or plan_dir, "--out" if out else "PLAN_DIR") as folder:
            with staged_outputs(folder) as stage:  # the scores and the roll-up, or neither
                files = [folder / f.name for f in write_scores(result, stage)]
        print_scores(result, console(), currency=str(meta.get("currency", "$")),
                     lang=lang or str(meta.get("lang", "en")), files=files)
