"""Declarative priors of the funnel model.

Every prior is a small validated object; :class:`ModelConfig` groups them with weakly
informative defaults that can be read at class level (``ModelConfig().won_log_days``) and
round-trip through JSON/YAML (``ModelConfig.model_validate(yaml.safe_load(...))``). The
hash of the configuration is stored with every fit.

Scales: durations in days, amounts in the data's currency, arrivals per calendar month,
probabilities on the logit scale. Hierarchical parameters have a population mean (a
Normal prior) and a between-segment standard deviation (``*_sd``, a boundary-avoiding
Gamma prior); each segment's value is Normal(mean, sd), centred or non-centred according
to the strength of its own data (see :mod:`targetsim.model.funnel_model`).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, ValidationError

from targetsim.errors import ConfigError

#: Bumped whenever the model's structure or variable names change: a fit saved by another
#: version cannot be read as this one.
MODEL_VERSION = "funnel-4"
#: Default MCMC draws and tuning steps per chain (``fit_funnel``, ``FunnelModel.fit`` and
#: the minimum ``plan`` samples). The gate judges R-hat on a few hundred parameters: with
#: two chains of 1,000 draws the largest of them passed 1.01 by chance on 3 of 30
#: benchmark fits (ESS above 500, no divergence), with 1,500 on none of those three.
DEFAULT_DRAWS = 1500
DEFAULT_TUNE = 500


class Normal(BaseModel):
    """Normal(``mu``, ``sigma``) prior."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    mu: float = 0.0
    sigma: PositiveFloat = 1.0


class HalfNormal(BaseModel):
    """HalfNormal(``sigma``) prior on a positive scale."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sigma: PositiveFloat = 1.0


class Gamma(BaseModel):
    """Gamma(``alpha``, ``beta``) prior (mean ``alpha / beta``) on a positive scale.

    With ``alpha = 2`` the density vanishes linearly at zero: the boundary-avoiding prior
    recommended for a between-group spread estimated from few groups (Chung et al. 2013),
    which also keeps the sampler out of the neck of the hierarchical funnel.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    alpha: PositiveFloat = 2.0
    beta: PositiveFloat = 5.0

    @classmethod
    def with_mean(cls, mean: float, alpha: float = 2.0) -> Gamma:
        return cls(alpha=alpha, beta=alpha / mean)


class HazardPriors(BaseModel):
    """Priors and grid of the piecewise-constant hazard component (``cycle: hazard``).

    Attributes
    ----------
    bins : int
        Largest number of day bins; their edges are quantiles of the closed deals' times
        to close (pooled over segments), so each bin holds evidence.
    min_events_per_bin : int
        Fewer bins when the data have fewer closed deals than ``bins`` times this.
    max_bin_ratio, min_split_days : float
        A bin starting at ``min_split_days`` or later ends at most ``max_bin_ratio`` times
        its start (wider bins are split): a hazard is constant within a bin, and one bin
        from 90 to 400 days would give a fast segment's stalled deals a slow one's chance.
    log_hazard : Normal
        Log hazard per day of the population curve's first bin (centre: a median of about
        60 days).
    curve_step : HalfNormal
        Scale of the change of the population log hazard from one bin to the next (a
        random walk: bins without events borrow from their neighbours).
    delayed_entry : bool
        In a left-truncated export (no close before a date well after the first creation),
        count a deal created before that date as at risk from it only (see
        :func:`targetsim.model.stats.left_truncation`). Off by default: on the Maven demo,
        the one such export at hand, it raised the fitted win rate at every backtest
        cutoff (0.62 against 0.52 in June) and the forecasts with it; the detection still
        names the date in a note.
    min_segment_spread, min_shape_spread, min_owner_spread : float
        Floors of the spreads (log scale) of a segment's shift of its whole curve, of a
        segment's bin-by-bin deviations from the population shape and of a rep's shift of
        the hazard of winning. The spreads are estimated from the data before sampling
        (DerSimonian-Laird); the floors keep segments that look alike from being pooled
        into one, so a segment that does differ is not pulled all the way to the others.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    bins: int = Field(default=14, ge=1, le=40)
    min_events_per_bin: int = Field(default=15, ge=1)
    max_bin_ratio: float = Field(default=1.6, gt=1.0)
    min_split_days: float = Field(default=7.0, gt=0.0)
    log_hazard: Normal = Normal(mu=math.log(math.log(2.0) / 60.0), sigma=2.0)
    curve_step: HalfNormal = HalfNormal(sigma=1.0)
    delayed_entry: bool = False
    min_segment_spread: PositiveFloat = 0.5
    min_shape_spread: PositiveFloat = 1.0
    min_owner_spread: PositiveFloat = 0.1


class LocalTrendSettings(BaseModel):
    """Grid and priors of the local-trend arrival component (``arrivals: local_trend``).

    The hyper-parameters are integrated over a grid (exact for the grid, no sampler): the
    standard deviation of the monthly change of the log level, of the slope, the slope's
    damping and the extra-Poisson month-to-month noise. Seasonality (month-of-year effects
    shared by the segments) is switched on with ``season_min_months`` of history.

    Attributes
    ----------
    level_sd, slope_sd, damping, noise_sd : tuple of float
        Grid values.
    level_sd_prior, slope_sd_prior, noise_sd_prior : float
        Scales of half-normal priors on the grid values.
    slope_prior_sd : float
        Prior standard deviation of the slope at the start (log change per month).
    season_sd : float
        Prior standard deviation of a month-of-year effect (log scale).
    season_min_months : int
        Months of history needed for seasonality (two full years by default).
    horizon_months : int
        Months from the as-of month the sampled arrival paths cover.
    start_ratio, edge_ratio, max_edge_months : float, float, int
        Export artefacts: a month at the start of the history (up to a third of it) whose
        new opportunities, all segments together, are fewer than ``start_ratio`` times the
        median month's, or one at its end (up to ``max_edge_months``) with fewer than
        ``edge_ratio`` times, is read as the CRM's adoption or as deals not yet recorded,
        and left out of the arrival rate (with a note). The start is judged more strictly:
        losing an early month costs little, while a ramp left in reads as growth. A real
        collapse of the last months would be left out too: the note names the months so
        that a user can judge.
    ramp_ratio : float
        A ramp-up that has started (its first months below ``start_ratio``) goes on while
        each next month is higher than the one before and still below ``ramp_ratio`` times
        the median: the ramp's last month, near the ``start_ratio`` line, is then left out
        whichever side of it its noise puts it (left in, a month at 75 % of the level
        read as growth added about 10 % to a stationary year's forecast).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    level_sd: tuple[float, ...] = (0.005, 0.015, 0.03, 0.06, 0.12, 0.25)
    slope_sd: tuple[float, ...] = (0.0005, 0.002, 0.006)
    damping: tuple[float, ...] = (0.85, 0.95, 1.0)
    noise_sd: tuple[float, ...] = (0.0, 0.08, 0.16, 0.3, 0.5)
    level_sd_prior: PositiveFloat = 0.08
    slope_sd_prior: PositiveFloat = 0.005
    noise_sd_prior: PositiveFloat = 0.25
    slope_prior_sd: PositiveFloat = 0.02
    season_sd: PositiveFloat = 0.2
    season_min_months: int = Field(default=24, ge=12)
    horizon_months: int = Field(default=121, ge=13, le=240)
    start_ratio: float = Field(default=0.75, ge=0.0, lt=1.0)
    ramp_ratio: float = Field(default=0.9, ge=0.0, lt=1.0)
    edge_ratio: float = Field(default=0.5, ge=0.0, lt=1.0)
    max_edge_months: int = Field(default=3, ge=0)


class TrendShiftSettings(BaseModel):
    """Priors of the trend-and-shift arrival component (``arrivals: trend_shift``).

    Attributes
    ----------
    slope_sd, segment_slope_sd : float
        Prior standard deviations of the market's steady growth (log change per month,
        shared by the segments: estimated from all their counts) and of a segment's own
        departure from it.
    shift_prior : float
        Prior probability that the level moved once during the history.
    shift_sd, segment_shift_sd : float
        Prior standard deviations of that move (log scale), for the market and of a
        segment's own departure from it.
    min_side_months : int
        Months of history needed on each side of a move.
    noise_sd, noise_sd_prior : tuple of float, float
        Grid of the month-to-month noise around the level (log scale) and the scale of its
        half-normal prior.
    season_sd, season_min_months : float, int
        Prior standard deviation of a month-of-year effect and the history it needs.
    trend_min_months : int
        Months of usable history (export artefacts left out) a steady trend needs: with
        less, the rate is a level (and a shift), as on the Maven demo's eight months after
        its ramp-up, whose rise from the CRM's first months would otherwise be carried on
        into the forecast (backtested: +17 % wins forecast for the last quarter of 2017).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    slope_sd: PositiveFloat = 0.015
    segment_slope_sd: PositiveFloat = 0.005
    trend_min_months: int = Field(default=12, ge=2)
    shift_prior: float = Field(default=0.3, gt=0.0, lt=1.0)
    shift_sd: PositiveFloat = 0.5
    segment_shift_sd: PositiveFloat = 0.25
    min_side_months: int = Field(default=2, ge=1)
    noise_sd: tuple[float, ...] = (0.0, 0.08, 0.16, 0.3, 0.5)
    noise_sd_prior: PositiveFloat = 0.25
    season_sd: PositiveFloat = 0.2
    season_min_months: int = Field(default=24, ge=12)


class EmpiricalSizeSettings(BaseModel):
    """Settings of the empirical deal-size component (``size: empirical``).

    Attributes
    ----------
    pooling : float
        Weight, in won deals, of the pooled amounts of every segment in a segment's
        distribution (Dirichlet-process concentration): a segment with few won deals
        borrows their shape, rescaled to its own level.
    slices : int
        Equally likely values kept per draw and segment.
    max_atoms : int
        Amounts per segment beyond which neighbours are grouped (sorted, equal counts).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    pooling: PositiveFloat = 1.0
    slices: int = Field(default=256, ge=16, le=4096)
    max_atoms: int = Field(default=1024, ge=16)


class ModelConfig(BaseModel):
    """Components and priors of :class:`targetsim.model.FunnelModel`.

    The three components are chosen by name (pymc-marketing style: each has its priors,
    its likelihood or direct fit, and its sampler for the simulation):

    * ``cycle``: ``"hazard"`` (default: piecewise-constant hazards of winning and losing
      over day bins, no fixed shape; the never-closes share is what survives the bins) or
      ``"lognormal"`` (eventual shares and log-normal times, the earlier model);
    * ``size``: ``"empirical"`` (default: Bayesian bootstrap of the won amounts, pooled
      for small segments) or ``"lognormal"``;
    * ``arrivals``: ``"trend_shift"`` (default: a negative-binomial GLM per segment with a
      slope and one level shift shared by the market, each segment's own departures, and
      month-of-year effects from 24 months of history; the export's ramp-up and thin last
      months are left out), ``"local_trend"`` (a damped local linear trend on the log
      monthly rate) or ``"negbin"`` (a stationary negative binomial with a trend and
      seasonality after 24 months, the earlier model).

    Attributes
    ----------
    cycle, size, arrivals : str
        The components (above).
    hazard, trend_shift, local_trend, empirical_size : HazardPriors, TrendShiftSettings, \
LocalTrendSettings, EmpiricalSizeSettings
        Settings of the components.
    win_logit ... stale_after_days
        Priors of the log-normal components (and of the funnel stages, which always use
        them):
    win_logit, win_logit_sd : Normal, Gamma
        Population mean and between-segment spread of ``logit(p_win)``: the default puts
        95 % of the prior mass of the eventual win rate between about 5 % and 95 %; the
        spread has prior mean 0.4 on the logit scale.
    lost_share_logit, lost_share_logit_sd : Normal, Gamma
        Same for the logit of the share of non-won deals that are *lost* rather than
        *stalled* (never close). The default mean of 1 leans towards recorded losses (73 %)
        without excluding a funnel where nothing is ever marked lost.
    owner_effect_sd : Gamma
        Spread of reps' additive effects on the win logit (partial pooling: a rep with a
        dozen deals is pulled towards the segment).
    won_log_days, won_log_days_sd : Normal, Gamma
        Log median days from creation to a win (centre 60 days; 95 % between about 3 and
        1,100 days) and its spread over segments.
    won_log_sigma, won_log_sigma_sd : Normal, Gamma
        Log of the log-normal shape of won durations (centre 0.7) and its spread.
    lost_log_days, lost_log_days_sd, lost_log_sigma, lost_log_sigma_sd : Normal, Gamma
        Same for lost deals (centre 30 days).
    size_log, size_log_sd : Normal, Gamma
        Log median won contract value (centre exp(9) ~ 8,100; sigma 3 spans amounts from
        tens to millions) and its spread over segments.
    size_log_sigma, size_log_sigma_sd : Normal, Gamma
        Log of the log-normal shape of won values (centre 0.6) and its spread.
    arrival_log_level, arrival_log_level_sd : Normal, Gamma
        Log mean monthly arrivals at the as-of month (centre exp(3) = 20 a month, sigma
        2.5) and spread over segments.
    arrival_trend, arrival_trend_sd : Normal, Gamma
        Change of the log rate per month (sd 0.05: +/-10 % a month is a strong trend) and
        its spread over segments.
    season_scale : HalfNormal
        Scale of the shared month-of-year effects (which sum to zero). HalfNormal(0.15)
        shrinks them towards zero unless the data show a seasonal pattern.
    trend_min_months, season_min_months : int
        The arrival trend and the month-of-year effects are switched on only when the
        arrival history spans at least this many months (default 24 each). With less, a
        month-of-year effect is seen once and is confounded with the trend (the sampler
        finds several modes, as on Maven's 15 months), and a trend learned from a
        ramp-up or an export's truncated edges, extrapolated over a 12-month horizon,
        multiplies next year's volume: arrivals are then a stationary negative binomial
        whose dispersion carries the month-to-month variation.
    arrival_inv_sqrt_alpha : Gamma
        ``1/sqrt(alpha)`` of the negative-binomial arrivals per segment (0 = Poisson).
        Gamma(2, 10): 95 % between 0.024 and 0.56, i.e. from practically Poisson to a
        strongly overdispersed alpha of 3. A HalfNormal here lets the sampler wander
        into an endless log-scale tail when the counts are Poisson, and mixes badly.
    stage_logit, stage_logit_sd : Normal, Gamma
        Logit of a funnel step's eventual conversion (per step) and its spread over
        segments.
    stage_lost_share_logit : Normal
        Logit of the share of a step's non-converting deals that are lost (per step).
    stage_log_days, stage_log_days_sd, stage_log_sigma : Normal, Gamma, Normal
        Log median days to convert at a step, its spread over segments, log shape.
    stage_lost_log_days : Normal
        Log median days to a loss at a step (shape ``stage_log_sigma`` prior).
    stale_after_days : "auto", float or None
        An open deal older than this many days is abandoned: it will never close, in the
        fit (its only explanation is the stall branch) and in the simulation. ``"auto"``
        (default) = the longest cycle of any closed deal in the data: nothing ever closed
        later, and without the rule the log-normal cycle stretches its tail to read such
        deals as slow future wins (Maven: 1,291 of 1,589 open deals are older than the
        longest closed cycle; the fitted won-cycle shape grew from 1.29 to 1.67 and the
        stall share fell to 1 %). ``None`` = no rule (every open deal may still close).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cycle: Literal["hazard", "lognormal"] = "hazard"
    size: Literal["empirical", "lognormal"] = "empirical"
    arrivals: Literal["trend_shift", "local_trend", "negbin"] = "trend_shift"
    hazard: HazardPriors = HazardPriors()
    trend_shift: TrendShiftSettings = TrendShiftSettings()
    local_trend: LocalTrendSettings = LocalTrendSettings()
    empirical_size: EmpiricalSizeSettings = EmpiricalSizeSettings()
    win_logit: Normal = Normal(mu=0.0, sigma=1.5)
    win_logit_sd: Gamma = Gamma.with_mean(0.4)
    lost_share_logit: Normal = Normal(mu=1.0, sigma=1.5)
    lost_share_logit_sd: Gamma = Gamma.with_mean(0.4)
    owner_effect_sd: Gamma = Gamma.with_mean(0.3)
    won_log_days: Normal = Normal(mu=math.log(60.0), sigma=1.5)
    won_log_days_sd: Gamma = Gamma.with_mean(0.4)
    won_log_sigma: Normal = Normal(mu=math.log(0.7), sigma=0.5)
    won_log_sigma_sd: Gamma = Gamma.with_mean(0.2)
    lost_log_days: Normal = Normal(mu=math.log(30.0), sigma=1.5)
    lost_log_days_sd: Gamma = Gamma.with_mean(0.4)
    lost_log_sigma: Normal = Normal(mu=math.log(0.7), sigma=0.5)
    lost_log_sigma_sd: Gamma = Gamma.with_mean(0.2)
    size_log: Normal = Normal(mu=9.0, sigma=3.0)
    size_log_sd: Gamma = Gamma.with_mean(0.7)
    size_log_sigma: Normal = Normal(mu=math.log(0.6), sigma=0.5)
    size_log_sigma_sd: Gamma = Gamma.with_mean(0.2)
    arrival_log_level: Normal = Normal(mu=3.0, sigma=2.5)
    arrival_log_level_sd: Gamma = Gamma.with_mean(0.8)
    arrival_trend: Normal = Normal(mu=0.0, sigma=0.05)
    arrival_trend_sd: Gamma = Gamma.with_mean(0.01)
    season_scale: HalfNormal = HalfNormal(sigma=0.15)
    trend_min_months: int = Field(default=24, ge=1)
    season_min_months: int = Field(default=24, ge=12)
    arrival_inv_sqrt_alpha: Gamma = Gamma(alpha=2.0, beta=10.0)
    stage_logit: Normal = Normal(mu=0.5, sigma=1.5)
    stage_logit_sd: Gamma = Gamma.with_mean(0.4)
    stage_lost_share_logit: Normal = Normal(mu=1.0, sigma=1.5)
    stage_log_days: Normal = Normal(mu=math.log(30.0), sigma=1.5)
    stage_log_days_sd: Gamma = Gamma.with_mean(0.4)
    stage_log_sigma: Normal = Normal(mu=math.log(0.7), sigma=0.5)
    stage_lost_log_days: Normal = Normal(mu=math.log(30.0), sigma=1.5)
    stale_after_days: Literal["auto"] | PositiveFloat | None = "auto"

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ModelConfig:
        """Validate a mapping (e.g. parsed YAML), raising :class:`ConfigError` on error."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise ConfigError(f"invalid model configuration: {exc}") from exc

    def config_hash(self) -> str:
        """Short SHA-256 of the model version and the priors (stable across runs)."""
        payload = json.dumps(
            {"model_version": MODEL_VERSION, "priors": self.model_dump(mode="json")},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
