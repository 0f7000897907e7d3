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
MODEL_VERSION = "funnel-3"
#: Default MCMC draws and tuning steps per chain (``fit_funnel``, ``FunnelModel.fit`` and
#: the minimum ``plan`` samples): the convergence gate needs about a thousand draws per
#: chain to judge R-hat on a few hundred parameters.
DEFAULT_DRAWS = 1000
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


class ModelConfig(BaseModel):
    """Priors of :class:`targetsim.model.FunnelModel` (weakly informative defaults).

    Attributes
    ----------
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
