"""What the what-if page works from: the plan directory's fit, draws, horizon and defaults.

:func:`load_plan_context` reads a directory written by ``targetsim plan`` (or ``demo``):
``fit.nc`` (posterior draws, open pipeline, last year's bookings), and, when present,
``plan.json`` (seed, draws, probability, the board's number, currency, language) and the
attributes of ``projection.nc`` (the plan's scenarios and horizon). The page re-simulates
the same posterior draws with the same seed and horizon as the plan, so its targets are
those ``targetsim plan --scenario`` gives for the same assumptions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from targetsim.errors import DataError
from targetsim.simulate.scenario import Scenario

if TYPE_CHECKING:
    from targetsim.model.params import FunnelParams

#: Draws simulated when neither the option nor the plan says (the plan's own default).
DEFAULT_DRAWS = 400


@dataclass(frozen=True)
class PlanContext:
    """Inputs of every what-if of one page.

    Attributes
    ----------
    params : FunnelParams
        Posterior draws simulated by every what-if.
    open_pipeline : pandas.DataFrame
        Open deals at the as-of date (as :func:`targetsim.simulate.simulate` takes them).
    seed : int
        Root seed of every simulation (the plan's).
    start : str
        First day of the horizon, ``YYYY-MM-DD``.
    months : int
        Horizon length.
    probability : float
        Initial attainment probability of the page.
    company_target : float or None
        Initial board's number.
    scenarios : tuple of Scenario
        The plan's scenarios, offered as starting points.
    last_year : dict
        Bookings of the 365 days up to the as-of date: ``{"total": x, "segment": {name: x},
        "owner": {name: x}}`` (empty dicts when unknown).
    plan_dir : Path or None
        The plan directory (fit files are copied from it when a plan directory is written).
    currency, lang : str
        Currency symbol and language of the plan.
    converged : bool or None
        The fit's convergence verdict, when known.
    sellers : dict of str to int
        Reps who have sold in each segment (the default headcount of a capacity what-if).
    segments_without_amounts : tuple of str
        Segments none of whose won deals has a positive amount: deals-won targets only
        (:mod:`targetsim.calibrate.amounts`).
    """

    params: FunnelParams
    open_pipeline: pd.DataFrame
    seed: int
    start: str
    months: int = 12
    probability: float = 0.6
    company_target: float | None = None
    scenarios: tuple[Scenario, ...] = ()
    last_year: dict[str, Any] = field(default_factory=dict)
    plan_dir: Path | None = None
    currency: str = "$"
    lang: str = "en"
    converged: bool | None = None
    sellers: dict[str, int] = field(default_factory=dict)
    segments_without_amounts: tuple[str, ...] = ()

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(self.params.segments)

    @property
    def owners(self) -> tuple[str, ...]:
        return tuple(self.params.owners)

    @property
    def draws(self) -> int:
        return int(self.params.n_draws)

    @property
    def as_of(self) -> str:
        return str(self.params.as_of)

    @property
    def horizon_months(self) -> list[str]:
        """The horizon's months as ``YYYY-MM`` (the months a hire can start in)."""
        first = pd.Period(self.start[:7], freq="M")
        return [str(first + k) for k in range(self.months)]

    def reference_scenario(self) -> Scenario:
        """The scenario the page starts from: the plan's baseline, else its first one."""
        for sc in self.scenarios:
            if sc.name == "baseline":
                return sc
        return self.scenarios[0] if self.scenarios else Scenario.baseline()

    def last_year_of(self, level: str, name: str) -> float | None:
        """Last year's bookings of a row (``total``, a segment or an owner), None if unknown."""
        if level == "total":
            value = self.last_year.get("total")
        else:
            value = self.last_year.get(level, {}).get(name)
        return None if value is None or not math.isfinite(float(value)) else float(value)


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object")
    return data


def _projection_attrs(path: Path) -> dict[str, Any]:
    """The attributes of projection.nc (scenarios, horizon, seed), without loading the cube."""
    if not path.is_file():
        return {}
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            return dict(ds.attrs)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable projection ({exc})") from None


def _scenarios(attrs: dict[str, Any], source: Path) -> tuple[Scenario, ...]:
    raw = attrs.get("scenarios_json")
    if not raw:
        return ()
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
        return tuple(Scenario.model_validate(s) for s in items)
    except ValueError as exc:
        raise DataError(f"{source}: its scenarios cannot be read ({exc})") from None


def last_year_from_history(history: pd.DataFrame) -> dict[str, Any]:
    """Last year's bookings per segment, owner and in total from ``FunnelFit.history``."""
    if history is None or "bookings_last_365" not in history:
        return {}
    seg = history.loc[history["level"].eq("segment")]
    own = history.loc[history["level"].eq("owner")]
    by_seg = {str(k): float(v) for k, v in zip(seg["segment"], seg["bookings_last_365"],
                                                strict=True)}
    by_own = own.groupby("owner")["bookings_last_365"].sum()
    return {
        "total": float(sum(by_seg.values())),
        "segment": by_seg,
        "owner": {str(k): float(v) for k, v in by_own.items()},
    }


def sellers_from_history(history: pd.DataFrame) -> dict[str, int]:
    """Number of reps with deals in each segment, from ``FunnelFit.history``."""
    if history is None or "level" not in history:
        return {}
    own = history.loc[history["level"].eq("owner") & history["owner"].astype(str).ne("")]
    return {str(k): int(v) for k, v in own.groupby("segment")["owner"].nunique().items()}


def load_plan_context(
    plan_dir: str | Path, *, draws: int | None = None, seed: int | None = None
) -> PlanContext:
    """Read a plan directory for the what-if page.

    Parameters
    ----------
    plan_dir : path
        Directory written by ``targetsim plan`` or ``targetsim demo`` (needs ``fit.nc``).
    draws, seed : int, optional
        Posterior draws and seed; default the plan's (``plan.json``, else ``projection.nc``),
        so the page reproduces the plan's targets.

    Raises
    ------
    DataError
        No such directory, no ``fit.nc``, or an unreadable file.
    ConfigError
        ``draws`` below 10.
    """
    import targetsim
    from targetsim.calibrate.amounts import segments_without_amounts
    from targetsim.errors import ConfigError

    d = Path(plan_dir)
    if not d.is_dir():
        raise DataError(f"{d}: not a directory; give the --out directory of `targetsim plan`")
    fit_path = d / "fit.nc"
    if not fit_path.is_file():
        raise DataError(
            f"{fit_path}: not found; serve reads a plan directory written by `targetsim plan "
            f"DATA --out {d}` or `targetsim demo --out {d}`"
        )
    meta = _read_json(d / "plan.json")
    attrs = _projection_attrs(d / "projection.nc")
    n = int(draws if draws is not None else meta.get("draws", attrs.get("n_draws",
                                                                        DEFAULT_DRAWS)))
    if n < 10:
        raise ConfigError(f"--draws: need at least 10 posterior draws, got {n}")
    s = int(seed if seed is not None else meta.get("seed", attrs.get("seed", 0)))
    fit = targetsim.FunnelFit.load(fit_path)
    params = fit.params(n, random_seed=s)
    start = str(meta.get("horizon_start") or attrs.get("horizon_start") or "")
    if not start:
        start = str((pd.Timestamp(fit.as_of) + pd.offsets.MonthBegin(1)).date())
    months = int(meta.get("months") or attrs.get("months") or 12)
    target = meta.get("company_target")
    return PlanContext(
        params=params,
        open_pipeline=fit.open_pipeline,
        seed=s,
        start=start,
        months=months,
        probability=float(meta.get("probability", 0.6)),
        company_target=float(target) if target else None,
        scenarios=_scenarios(attrs, d / "projection.nc"),
        last_year=last_year_from_history(getattr(fit, "history", None)),
        sellers=sellers_from_history(getattr(fit, "history", None)),
        plan_dir=d,
        currency=str(meta.get("currency", "$")),
        lang=str(meta.get("lang", "en")),
        converged=bool(fit.diagnostics.converged) if hasattr(fit, "diagnostics") else None,
        segments_without_amounts=tuple(segments_without_amounts(
            getattr(fit, "history", None), [str(x) for x in params.segments])),
    )
