"""targetsim.track: follow a plan during the year, and prove the forecasts on history.

* :func:`track_plan` / :func:`track_targets`: probability of each target given the bookings
  so far and today's pipeline; :func:`early_warnings` with their evidence.
* :func:`backtest`: rolling-origin backtest against the two baselines
  (:func:`last_period_growth`, :func:`stage_weighted_pipeline`), scored with
  :mod:`targetsim.track.scoring`.
* :func:`as_of_cutoff`: an export as it stood at an earlier date.
"""

from targetsim.track.backtest import (
    BacktestResult,
    Forecast,
    backtest,
    model_forecaster,
    parse_cutoffs,
    scorecard,
)
from targetsim.track.baselines import last_period_growth, stage_weighted_pipeline
from targetsim.track.cutoff import as_of_cutoff, won_in_window
from targetsim.track.track import TrackResult, early_warnings, track_plan, track_targets
from targetsim.track.warnings import EarlyWarning

__all__ = [
    "BacktestResult",
    "EarlyWarning",
    "Forecast",
    "TrackResult",
    "as_of_cutoff",
    "backtest",
    "early_warnings",
    "last_period_growth",
    "model_forecaster",
    "parse_cutoffs",
    "scorecard",
    "stage_weighted_pipeline",
    "track_plan",
    "track_targets",
    "won_in_window",
]
