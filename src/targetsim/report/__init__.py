"""targetsim.report: the report a sales team reads (report.html) and the quota sheet (targets.xlsx).

Reads a plan directory written by the earlier steps; never imported by the core math.

Examples
--------
>>> from targetsim.report import write_report  # doctest: +SKIP
>>> write_report("build/demo", lang="fr")  # doctest: +SKIP
[PosixPath('build/demo/report.html'), PosixPath('build/demo/targets.xlsx')]
"""

from __future__ import annotations

from pathlib import Path

from targetsim.io import write_text_atomic
from targetsim.progress import StepBar
from targetsim.report.i18n import labels

__all__ = ["write_report"]


def write_report(
    out_dir: str | Path, *, lang: str = "en", progress: bool = True
) -> list[Path]:
    """Write ``report.html`` and ``targets.xlsx`` into a plan directory, atomically.

    Parameters
    ----------
    out_dir : str or Path
        Directory holding the outputs of fit, simulate and calibrate (``targets.csv``,
        ``projection.nc``, ``fit_summary.csv``, ``diagnostics.json``; optionally
        ``fit.nc``, ``indicators.csv``, ``stress.csv``, ``allocation.csv``, ``tiers.csv``,
        ``topdown.csv``, ``objectives.md``, ``plan.json``).
    lang : {"en", "fr"}
        Language of the labels and number formats.
    progress : bool
        Show a progress bar on stderr.

    Returns
    -------
    list of Path
        ``[report.html, targets.xlsx]`` and ``objectives.md`` (rewritten in ``lang``) when
        the plan has indicators.csv.

    Raises
    ------
    DataError
        If a contract file is missing or malformed.
    ConfigError
        If ``lang`` is not supported.
    """
    from targetsim.report.excel import write_quota_workbook
    from targetsim.report.html import build_context, load_fit, objectives_text, render_html
    from targetsim.report.inputs import load_plan

    labels(lang)  # fail on a bad language before any work
    out = Path(out_dir)
    steps = ("read plan", "read fit", "build report", "write report.html", "write targets.xlsx",
             "write objectives.md")
    with StepBar("report", len(steps), enabled=progress) as bar:
        bar.describe(steps[0])
        plan = load_plan(out)
        bar.step(steps[1])
        fit, note = load_fit(out / "fit.nc")
        if note is not None and (out / "fit.nc").exists():
            # Said on the console, not in the report: the page is for the meeting.
            bar.console.print(f"warning: {out / 'fit.nc'} could not be read ({note}); the "
                              "report leaves out the reps' records and the check of last "
                              "year.", markup=False, highlight=False, soft_wrap=True)
        bar.step(steps[2])
        context = build_context(plan, lang=lang, fit=fit)
        bar.step(steps[3])
        html_path = write_text_atomic(out / "report.html", render_html(context))
        bar.step(steps[4])
        xlsx_path = write_quota_workbook(out / "targets.xlsx", plan, lang=lang)
        bar.step(steps[5])
        paths = [html_path, xlsx_path]
        # objectives.md follows the report's language, like every other output.
        text = objectives_text(plan, lang)
        if text is not None and plan.optional.get("indicators") is not None:
            paths.append(write_text_atomic(out / "objectives.md", text))
        bar.step()
    return paths
