"""Scenario files: validated multipliers, horizon and capacity of a simulated future.

A scenario is YAML (contract in ``DESIGN.md``, "Scenario file")::

    name: tension
    description: Downturn: fewer leads, harder wins, longer cycles.
    horizon: {start: 2027-01-01, months: 12}
    market: {lead_volume: 0.8, win_rate: 0.85, deal_size: 0.95, cycle_length: 1.2}
    segments:                       # overrides of `market` per segment (replace, not multiply)
      Enterprise: {lead_volume: 0.7}
    capacity:                       # optional; absent = no capacity limit
      reps: {Enterprise: 4, SMB: 6}     # or one number: the headcount of every segment
      max_open_deals_per_rep: 25
      ramp_months: 3
      attrition_per_year: 0.15
      patience_days: 30             # a lead waiting longer for a free rep goes cold; null = never
      hires: [{month: 2027-03, segment: SMB, count: 2}]

Every error is a :class:`~targetsim.errors.ScenarioError` naming the file and the key path,
e.g. ``scenarios/x.yaml: market.win_rate: must be >= 0, got -0.2``. Segment names can only be
checked against a fit: :meth:`Scenario.check_segments`.

Ranges (a value outside is an error, so is ``.inf`` or ``.nan``):

* multipliers (``market`` and ``segments``): between 0 and :data:`MAX_MULTIPLIER` (10);
  ``cycle_length`` above 0. Ten times the leads, the win rate or the deal size of the
  history is already far outside any plan; beyond it a simulation would measure nothing
  but the model's extrapolation (and can need more memory than the machine has);
* ``horizon.months``: 1 to :data:`MAX_MONTHS` (60, five years);
* ``capacity``: ``reps`` 0 to 100,000 per segment, ``max_open_deals_per_rep`` up to
  10,000, ``ramp_months`` up to 60, ``attrition_per_year`` (departures per rep and year,
  a rate) up to 12, ``patience_days`` up to 3,650, a hire of 1 to 10,000 reps.

The file must be UTF-8 text (a BOM is fine) of at most 1 MB.
"""

from __future__ import annotations

import json
import re
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from targetsim.errors import ScenarioError

#: The multipliers of ``market`` (and of each ``segments`` override), in documentation order.
MULTIPLIERS = ("lead_volume", "win_rate", "deal_size", "cycle_length")
#: Largest multiplier a scenario may set (see the module docstring).
MAX_MULTIPLIER = 10.0
#: Longest horizon, in months (``--months`` and ``horizon.months``).
MAX_MONTHS = 60
#: Largest scenario (or priors) file read, in bytes.
MAX_FILE_BYTES = 1_000_000
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool_numbers(cls, v: Any, info: Any) -> Any:
        # YAML reads yes/no/on/off as booleans; pydantic would take them as 1.0 and 0.0.
        field = cls.model_fields.get(info.field_name)
        kind = str(field.annotation) if field is not None else ""
        if isinstance(v, bool) and ("float" in kind or "int" in kind):
            raise ValueError(f"must be a number, got {v!r}")
        return v


class Market(_Strict):
    """Multipliers on what the history shows; 1.0 = unchanged."""

    lead_volume: float = Field(1.0, ge=0, le=MAX_MULTIPLIER)
    win_rate: float = Field(1.0, ge=0, le=MAX_MULTIPLIER)
    deal_size: float = Field(1.0, ge=0, le=MAX_MULTIPLIER)
    cycle_length: float = Field(1.0, gt=0, le=MAX_MULTIPLIER)


class SegmentOverride(_Strict):
    """Per-segment replacement of some ``market`` multipliers (absent = the market's)."""

    lead_volume: float | None = Field(None, ge=0, le=MAX_MULTIPLIER)
    win_rate: float | None = Field(None, ge=0, le=MAX_MULTIPLIER)
    deal_size: float | None = Field(None, ge=0, le=MAX_MULTIPLIER)
    cycle_length: float | None = Field(None, gt=0, le=MAX_MULTIPLIER)


class Horizon(_Strict):
    """First day and length of the simulated period (calendar months)."""

    start: Any = None
    months: int = Field(12, ge=1, le=MAX_MONTHS)

    @field_validator("start", mode="before")
    @classmethod
    def _date(cls, v: Any) -> str | None:
        if v is None:
            return None
        text = str(v)
        if not re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            raise ValueError(f"must be a date YYYY-MM-DD, got {v!r}")
        try:
            date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"must be a date YYYY-MM-DD, got {v!r}") from None
        return text


class Hire(_Strict):
    """``count`` reps join ``segment`` on the first day of ``month`` (YYYY-MM)."""

    month: str
    segment: str
    count: int = Field(1, ge=1, le=10_000)

    @field_validator("month", mode="before")
    @classmethod
    def _month(cls, v: Any) -> str:
        if not isinstance(v, str) or not _MONTH.match(v):
            raise ValueError(f"must be a month YYYY-MM, got {v!r}")
        return v


class Capacity(_Strict):
    """Sales capacity: reps per segment, each working a limited number of deals at once."""

    reps: int | dict[str, int]
    max_open_deals_per_rep: float = Field(gt=0, le=10_000)
    ramp_months: float = Field(3.0, ge=0, le=60)
    attrition_per_year: float = Field(0.0, ge=0, le=12)
    patience_days: float | None = Field(30.0, gt=0, le=3650)
    hires: tuple[Hire, ...] = ()

    @field_validator("reps", mode="before")
    @classmethod
    def _reps(cls, v: Any) -> Any:
        def check(x: Any, key: str = "") -> None:
            if isinstance(x, bool) or not isinstance(x, int) or x < 0:
                raise ValueError(f"{key}must be a whole number >= 0, got {x!r}")
            if x > 100_000:
                raise ValueError(f"{key}must be at most 100,000, got {x!r}")

        if isinstance(v, dict):
            for k, x in v.items():
                check(x, f"{k} ")
        else:
            check(v)
        return v

    def reps_of(self, segment: str) -> int:
        """Headcount of ``segment`` at the start of the simulation."""
        return self.reps if isinstance(self.reps, int) else self.reps[segment]


class Scenario(_Strict):
    """A validated scenario: see the module docstring for the file format."""

    name: str = Field(min_length=1)
    description: str = ""
    horizon: Horizon | None = None
    market: Market = Market()
    segments: dict[str, SegmentOverride] = {}
    capacity: Capacity | None = None
    _source: str = PrivateAttr(default="<memory>")

    @property
    def source(self) -> str:
        """The file the scenario came from, for messages."""
        return self._source

    @classmethod
    def baseline(cls) -> Scenario:
        """The scenario of no change: all multipliers 1, no capacity limit."""
        return cls(name="baseline", description="No change from the fitted history.")

    def multiplier(self, key: str, segment: str) -> float:
        """Multiplier ``key`` (one of :data:`MULTIPLIERS`) in ``segment``."""
        over = self.segments.get(segment)
        value = getattr(over, key) if over is not None else None
        return float(getattr(self.market, key) if value is None else value)

    def check_segments(self, segments: tuple[str, ...] | list[str], source: str) -> None:
        """Raise :class:`ScenarioError` when the scenario names a segment not in ``segments``.

        Parameters
        ----------
        segments : sequence of str
            The segments of the fit.
        source : str
            Where those segments come from (e.g. the fit's path), for the message.
        """
        known = set(segments)
        listed = ", ".join(segments)

        def bad(path: str, seg: str) -> ScenarioError:
            return ScenarioError(
                f"{self.source}: {path}: unknown segment {seg!r} (segments in {source}: {listed})"
            )

        for seg in self.segments:
            if seg not in known:
                raise bad(f"segments.{seg}", seg)
        if self.capacity is None:
            return
        if isinstance(self.capacity.reps, dict):
            for seg in self.capacity.reps:
                if seg not in known:
                    raise bad(f"capacity.reps.{seg}", seg)
            missing = [s for s in segments if s not in self.capacity.reps]
            if missing:
                raise ScenarioError(
                    f"{self.source}: capacity.reps: no headcount for segment(s) "
                    f"{', '.join(missing)}; give every segment or one number for all"
                )
        for i, hire in enumerate(self.capacity.hires):
            if hire.segment not in known:
                raise bad(f"capacity.hires.{i}.segment", hire.segment)

    def to_json(self) -> str:
        """The scenario as JSON (stored in the projection's attributes)."""
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)


def bundled_scenarios() -> tuple[str, ...]:
    """Names of the scenarios shipped with targetsim."""
    root = resources.files("targetsim") / "scenarios"
    return tuple(sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml")))


def read_yaml_text(
    path: str | Path, label: str, error: type[Exception] = ScenarioError
) -> str:
    """The text of a small YAML file, or ``error`` saying in words why it cannot be read.

    Parameters
    ----------
    path : path
    label : str
        How messages name the file (``scenarios/x.yaml``, ``--priors p.yaml``).
    error : exception class
        :class:`ScenarioError` for scenarios, ``ConfigError`` for priors.
    """
    p = Path(path)
    try:
        if p.is_dir():
            raise error(f"{label}: is a folder, not a YAML file")
        if p.stat().st_size > MAX_FILE_BYTES:
            raise error(f"{label}: {p.stat().st_size:,} bytes; a YAML file of settings is at "
                        f"most {MAX_FILE_BYTES:,} bytes: is it the right file?")
        data = p.read_bytes()
    except FileNotFoundError:
        raise error(f"{label}: no such file") from None
    except OSError as exc:
        raise error(f"{label}: cannot be read ({(exc.strerror or str(exc)).lower()})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise error(
            f"{label}: not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} cannot be "
            "decoded; save the file as UTF-8"
        ) from None


def _resolve(path_or_name: str | Path) -> tuple[str, str]:
    """Return (label for messages, YAML text) of a file path or a bundled scenario name."""
    path = Path(path_or_name)
    if path.is_file():
        return str(path_or_name), read_yaml_text(path, str(path_or_name))
    text = str(path_or_name)
    if path.suffix in (".yaml", ".yml") or "/" in text or "\\" in text:
        raise ScenarioError(f"{text}: scenario file not found")
    res = resources.files("targetsim") / "scenarios" / f"{text}.yaml"
    if not res.is_file():
        raise ScenarioError(
            f"{text}: no such scenario file, and not a bundled scenario "
            f"(bundled: {', '.join(bundled_scenarios())})"
        )
    return f"scenarios/{text}.yaml", res.read_text(encoding="utf-8")


def _describe(err: dict[str, Any]) -> str:
    """One pydantic error as ``key.path: message``."""
    loc = ".".join(str(x) for x in err["loc"]) or "<top level>"
    kind, ctx, value = err["type"], err.get("ctx", {}), err.get("input")
    bounds = {
        "greater_than_equal": (">=", "ge"),
        "greater_than": (">", "gt"),
        "less_than_equal": ("<=", "le"),
    }
    if kind in bounds:
        op, key = bounds[kind]
        return f"{loc}: must be {op} {ctx[key]:g}, got {value!r}"
    if kind == "extra_forbidden":
        return f"{loc}: unknown key"
    if kind == "missing":
        return f"{loc}: required key is missing"
    if kind in ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float"):
        return f"{loc}: must be a number, got {value!r}"
    if kind == "finite_number":
        return f"{loc}: must be a finite number, got {value!r}"
    if kind == "value_error":
        return f"{loc}: {ctx.get('error', err['msg'])}"
    return f"{loc}: {err['msg'].lower()}, got {value!r}"


def _allowed(loc: tuple[Any, ...]) -> str:
    """The keys allowed where an unknown key was found (``loc`` ends with that key)."""
    children: dict[str, Any] = {
        "market": Market,
        "horizon": Horizon,
        "capacity": Capacity,
        "segments": (SegmentOverride,),  # a mapping: the next part is a segment name
        "hires": (Hire,),  # a list: the next part is an index
    }
    model: Any = Scenario
    for part in loc[:-1]:
        model = model[0] if isinstance(model, tuple) else children.get(str(part))
        if model is None:
            return ""
    if isinstance(model, tuple):
        return ""
    return ", ".join(model.model_fields)


def parse_scenario(text: str, source: str = "<memory>") -> Scenario:
    """Validate scenario YAML ``text``; ``source`` names it in error messages."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{source}: invalid YAML{where}: {problem}") from None
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a date 2027-13-45
        raise ScenarioError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: must be a mapping of keys (name, market, ...) to values")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            msg = _describe(err)
            if err["type"] == "extra_forbidden":
                allowed = _allowed(tuple(err["loc"]))
                if allowed:
                    msg += f" (allowed: {allowed})"
            parts.append(msg)
        raise ScenarioError(f"{source}: " + "; ".join(parts)) from None
    scenario._source = source
    return scenario


def load_scenario(path_or_name: str | Path) -> Scenario:
    """Load a scenario from a YAML file, or a bundled one by name (``growth``, ``tension``...).

    Raises
    ------
    ScenarioError
        Missing file, invalid YAML (with its line), unknown key, bad value.
    """
    source, text = _resolve(path_or_name)
    return parse_scenario(text, source)
