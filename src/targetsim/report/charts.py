"""Inline SVG charts, written as text: no JavaScript library, no CDN, prints as vectors.

Every piece of text that can come from data goes through :func:`html.escape`, because the
SVG is inserted into the page as markup.
"""

from __future__ import annotations

import html
import math

import pandas as pd

from targetsim.report.i18n import fmt_compact, month_abbr

WIDTH, HEIGHT = 560, 300
PAD_L, PAD_R, PAD_T, PAD_B = 64, 16, 28, 36


def _nice_step(span: float, n_ticks: int = 5) -> float:
    raw = span / max(n_ticks, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for mult in (1, 2, 2.5, 5, 10):
        if mult * mag >= raw:
            return mult * mag
    return 10 * mag


def fan_chart_svg(
    band: pd.DataFrame,
    *,
    title: str,
    lang: str,
    target: float | None = None,
    last_year: list[float] | None = None,
) -> str:
    """A fan chart of cumulative outcomes against a target, as an ``<svg>`` element.

    Parameters
    ----------
    band : pandas.DataFrame
        ``month, p10, p50, p90`` (see :func:`targetsim.report.figures.cumulative_band`).
    title : str
        Chart title (escaped here).
    lang : str
        Language of the axis numbers.
    target : float, optional
        Full-year target, drawn as a dashed horizontal line.
    last_year : list of float, optional
        Cumulative actuals of the same months a year earlier, drawn as a grey line.

    Returns
    -------
    str
        SVG markup.
    """
    months = list(pd.DatetimeIndex(band["month"]))
    n = len(months)
    values = [*band["p90"], *band["p10"]]
    if target is not None:
        values.append(target)
    if last_year is not None:
        values.extend(last_year)
    y_max = max([v for v in values if math.isfinite(v)] + [1.0]) * 1.05
    step = _nice_step(y_max)
    y_top = step * math.ceil(y_max / step)
    pw, ph = WIDTH - PAD_L - PAD_R, HEIGHT - PAD_T - PAD_B

    def x(i: float) -> float:
        return PAD_L + (pw * (i + 1) / n if n else 0.0)

    def y(v: float) -> float:
        return PAD_T + ph * (1.0 - v / y_top)

    parts = [
        f'<svg class="fan" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{html.escape(title)}</title>",
        f'<text class="chart-title" x="{PAD_L}" y="18">{html.escape(title)}</text>',
    ]
    tick = 0.0
    while tick <= y_top + 1e-9:
        yy = y(tick)
        parts.append(
            f'<line class="grid" x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="tick" x="{PAD_L - 6}" y="{yy + 4:.1f}" text-anchor="end">'
            f"{html.escape(fmt_compact(tick, lang))}</text>"
        )
        tick += step
    for i, m in enumerate(months):
        parts.append(
            f'<text class="tick" x="{x(i):.1f}" y="{HEIGHT - PAD_B + 16}" '
            f'text-anchor="middle">{html.escape(month_abbr(m.month, lang))}</text>'
        )
    # The band starts at zero before the first month: cumulative outcomes start from nothing.
    upper = [(PAD_L, y(0.0))] + [(x(i), y(v)) for i, v in enumerate(band["p90"])]
    lower = [(x(i), y(v)) for i, v in enumerate(band["p10"])][::-1] + [(PAD_L, y(0.0))]
    pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in upper + lower)
    parts.append(f'<polygon class="band" points="{pts}"/>')
    med = " ".join(
        f"{a:.1f},{b:.1f}"
        for a, b in [(PAD_L, y(0.0))] + [(x(i), y(v)) for i, v in enumerate(band["p50"])]
    )
    parts.append(f'<polyline class="median" points="{med}"/>')
    if last_year is not None and len(last_year) == n:
        ly = " ".join(
            f"{a:.1f},{b:.1f}"
            for a, b in [(PAD_L, y(0.0))] + [(x(i), y(v)) for i, v in enumerate(last_year)]
        )
        parts.append(f'<polyline class="last-year" points="{ly}"/>')
        parts.append(
            f'<text class="ly-label" x="{x(n - 1) - 4:.1f}" y="{y(last_year[-1]) + 14:.1f}" '
            f'text-anchor="end">{html.escape(fmt_compact(last_year[-1], lang))}</text>'
        )
    if target is not None and math.isfinite(target):
        yy = y(target)
        parts.append(
            f'<line class="target" x1="{PAD_L}" x2="{WIDTH - PAD_R}" '
            f'y1="{yy:.1f}" y2="{yy:.1f}"/>'
            f'<text class="target-label" x="{WIDTH - PAD_R - 4}" y="{yy - 5:.1f}" '
            f'text-anchor="end">{html.escape(fmt_compact(target, lang))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{PAD_L}" x2="{PAD_L}" y1="{PAD_T}" y2="{HEIGHT - PAD_B}"/>'
        f'<line class="axis" x1="{PAD_L}" x2="{WIDTH - PAD_R}" y1="{HEIGHT - PAD_B}" '
        f'y2="{HEIGHT - PAD_B}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
