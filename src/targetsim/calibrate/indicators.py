"""Leading indicators: the activity a quarter's target needs, read from the simulations.

For each scenario, segment and quarter, take the segment's quarterly bookings target at
``p`` (same convention as targets.csv) and keep the simulated draws **that reach it**. Among
those draws, the medians of

* ``new_opportunities`` created in the quarter,
* ``wins_needed``: deals won in the quarter,
* ``pipeline_at_quarter_start``: open pipeline value at the start of the quarter's first
  month (``open_value``),

are what "being on track" looked like in the model. ``pipeline_coverage`` is that pipeline
÷ the quarter target: a coverage derived from this funnel's own cycles and win rates, not
a rule of thumb like "3x". Weekly activity is the quarterly figure ÷ 13 (weeks per quarter;
a partial quarter of ``m`` months uses ``13 m / 3`` weeks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.calibrate.periods import FY, period_months
from targetsim.calibrate.targets import check_probability, round_target, target_at_probability
from targetsim.errors import DataError

INDICATOR_COLUMNS = [
    "scenario", "segment", "period", "target", "new_opportunities", "wins_needed",
    "pipeline_at_quarter_start", "pipeline_coverage", "weekly_new_opportunities",
    "weekly_wins",
]
WEEKS_PER_QUARTER = 13.0


def leading_indicators(projection: xr.Dataset, probability: float = 0.6) -> pd.DataFrame:
    """indicators.csv: per scenario × segment × quarter, what reaching the target takes.

    Parameters
    ----------
    projection : xarray.Dataset
        Needs ``bookings``, ``deals_won``, ``new_opportunities`` and ``open_value``.
    probability : float
        ``p`` of the quarterly targets.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`INDICATOR_COLUMNS`. When a target is 0 the coverage is NaN; when
        no draw is needed to "reach" a zero target every draw counts.
    """
    p = check_probability(probability)
    for var in ("bookings", "deals_won", "new_opportunities", "open_value"):
        if var not in projection:
            raise DataError(
                f"projection has no '{var}' variable: was it made by targetsim simulate?"
            )
    periods = {k: v for k, v in period_months(projection).items() if k != FY}
    rows = []
    for scenario in projection["scenario"].values:
        sub = projection.sel(scenario=scenario)
        for segment in projection["segment"].values:
            seg = sub.sel(segment=segment)
            bookings = np.asarray(seg["bookings"].transpose("draw", "month").values, float)
            won = np.asarray(seg["deals_won"].transpose("draw", "month").values, float)
            new = np.asarray(seg["new_opportunities"].transpose("draw", "month").values, float)
            pipe = np.asarray(seg["open_value"].transpose("draw", "month").values, float)
            for label, idx in periods.items():
                x = bookings[:, idx].sum(axis=1)
                t = round_target(target_at_probability(x, p), "bookings")
                hit = x >= t
                n_new = float(np.median(new[hit][:, idx].sum(axis=1)))
                n_won = float(np.median(won[hit][:, idx].sum(axis=1)))
                pipe0 = float(np.median(pipe[hit][:, idx[0]]))
                weeks = WEEKS_PER_QUARTER * len(idx) / 3.0
                rows.append(
                    (str(scenario), str(segment), label, t, n_new, n_won, round(pipe0),
                     round(pipe0 / t, 2) if t > 0 else float("nan"),
                     round(n_new / weeks, 2), round(n_won / weeks, 2))
                )
    return pd.DataFrame(rows, columns=INDICATOR_COLUMNS)
