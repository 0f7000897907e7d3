"""The page's assumptions: checked, turned into a scenario YAML and a :class:`Scenario`.

The page sends its controls as JSON (numbers, or the text typed in a box)::

    {"name": "what-if", "probability": 0.6, "company_target": "9.5M",
     "market": {"lead_volume": 1.1, "win_rate": 1, "deal_size": 1, "cycle_length": 1},
     "segments": {"SMB": {"win_rate": 0.9}},
     "capacity": {"reps": {"SMB": 6, "Mid": 4}, "max_open_deals_per_rep": 25,
                  "ramp_months": 3, "attrition_per_year": 0.1, "patience_days": 30,
                  "hires": [{"month": "2027-03", "segment": "SMB", "count": 2}]}}

Every bad value is an :class:`AssumptionError` naming the control (``field``, the key path
of the scenario file, e.g. ``segments.SMB.win_rate``) and what is wrong, which the page
shows beside that control. The scenario itself is made by
:func:`targetsim.simulate.scenario.parse_scenario` from the very YAML text that
"Save scenario" writes, so a saved file gives ``plan --scenario`` the same scenario.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from targetsim.errors import ConfigError, TargetsimError
from targetsim.serve.context import PlanContext
from targetsim.simulate.scenario import MULTIPLIERS, Scenario, parse_scenario

#: Range the page accepts for a multiplier (a wider one would only exhaust memory).
MULTIPLIER_MAX = 10.0
#: Largest headcount, deals per rep and hires the page accepts.
COUNT_MAX = 100_000
#: Longest scenario name.
NAME_MAX = 80
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


class AssumptionError(ConfigError):
    """A control of the page holds a bad value.

    Attributes
    ----------
    field : str or None
        Key path of the control (``market.win_rate``, ``capacity.reps.SMB``,
        ``probability``...), None for the request as a whole.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Assumptions:
    """A validated what-if: the scenario, its YAML text, probability and board's number."""

    scenario: Scenario
    yaml_text: str
    probability: float
    company_target: float | None

    @property
    def scenario_key(self) -> str:
        """Identifies what is simulated (the scenario file's text)."""
        return hashlib.sha256(self.yaml_text.encode("utf-8")).hexdigest()[:16]

    @property
    def key(self) -> str:
        """Identifies the whole what-if (scenario, probability, board's number)."""
        raw = json.dumps([self.yaml_text, self.probability, self.company_target])
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def _number(value: Any, path: str, *, lo: float, hi: float, lo_open: bool = False,
            integer: bool = False, what: str = "a number") -> float:
    """A number from JSON or from the text of a box (``1.2``, ``1,2``)."""
    if isinstance(value, bool) or value is None:
        raise AssumptionError(f"{path}: must be {what}, got {value!r}", path)
    if isinstance(value, str):
        text = value.strip().replace("\u202f", "").replace(" ", "")
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")
        try:
            value = float(text)
        except ValueError:
            raise AssumptionError(f"{path}: must be {what}, got {value!r}", path) from None
    if not isinstance(value, int | float) or not math.isfinite(float(value)):
        raise AssumptionError(f"{path}: must be {what}, got {value!r}", path)
    x = float(value)
    if integer and x != math.floor(x):
        raise AssumptionError(f"{path}: must be a whole number, got {value!r}", path)
    low_ok = x > lo if lo_open else x >= lo
    if not low_ok or x > hi:
        op = ">" if lo_open else ">="
        raise AssumptionError(f"{path}: must be {op} {lo:g} and <= {hi:g}, got {value!r}", path)
    return x


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _mapping(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AssumptionError(f"{path}: expected an object of values", path)
    return value


def _multipliers(raw: Any, path: str, *, required: bool) -> dict[str, float]:
    raw = _mapping(raw, path)
    unknown = sorted(set(raw) - set(MULTIPLIERS))
    if unknown:
        raise AssumptionError(
            f"{path}.{unknown[0]}: unknown multiplier (allowed: {', '.join(MULTIPLIERS)})",
            f"{path}.{unknown[0]}")
    out = {}
    for key in MULTIPLIERS:
        value = raw.get(key)
        if _blank(value):
            if required:
                out[key] = 1.0
            continue
        out[key] = _number(value, f"{path}.{key}", lo=0.0, hi=MULTIPLIER_MAX,
                           lo_open=key == "cycle_length")
    return out


def _capacity(raw: Any, ctx: PlanContext) -> dict[str, Any] | None:
    if raw is None or raw is False:
        return None
    raw = _mapping(raw, "capacity")
    reps_raw = raw.get("reps")
    if isinstance(reps_raw, dict):
        unknown = [s for s in reps_raw if s not in ctx.segments]
        if unknown:
            raise AssumptionError(f"capacity.reps: unknown segment {unknown[0]!r}",
                                  "capacity.reps")
        reps: int | dict[str, int] = {}
        for seg in ctx.segments:
            path = f"capacity.reps.{seg}"
            if _blank(reps_raw.get(seg)):
                raise AssumptionError(f"{path}: give the headcount of {seg}", path)
            reps[seg] = int(_number(reps_raw[seg], path, lo=0, hi=COUNT_MAX, integer=True,
                                    what="a whole number"))
    else:
        reps = int(_number(reps_raw, "capacity.reps", lo=0, hi=COUNT_MAX, integer=True,
                           what="a whole number"))
    out: dict[str, Any] = {
        "reps": reps,
        "max_open_deals_per_rep": _number(raw.get("max_open_deals_per_rep"),
                                          "capacity.max_open_deals_per_rep", lo=0.0,
                                          hi=COUNT_MAX, lo_open=True),
        "ramp_months": _number(raw.get("ramp_months", 3), "capacity.ramp_months", lo=0.0,
                               hi=120.0),
        "attrition_per_year": _number(raw.get("attrition_per_year", 0),
                                      "capacity.attrition_per_year", lo=0.0, hi=10.0),
    }
    patience = raw.get("patience_days", 30)
    out["patience_days"] = None if _blank(patience) else _number(
        patience, "capacity.patience_days", lo=0.0, hi=3650.0, lo_open=True)
    hires_raw = raw.get("hires") or []
    if not isinstance(hires_raw, list):
        raise AssumptionError("capacity.hires: expected a list of hires", "capacity.hires")
    months = ctx.horizon_months
    hires = []
    for i, h in enumerate(hires_raw):
        h = _mapping(h, f"capacity.hires.{i}")
        month, seg = h.get("month"), h.get("segment")
        if month not in months:
            raise AssumptionError(
                f"capacity.hires.{i}.month: must be a month of the horizon "
                f"({months[0]} .. {months[-1]}), got {month!r}", f"capacity.hires.{i}.month")
        if seg not in ctx.segments:
            raise AssumptionError(f"capacity.hires.{i}.segment: unknown segment {seg!r}",
                                  f"capacity.hires.{i}.segment")
        count = int(_number(h.get("count", 1), f"capacity.hires.{i}.count", lo=1,
                            hi=COUNT_MAX, integer=True, what="a whole number"))
        hires.append({"month": month, "segment": seg, "count": count})
    out["hires"] = hires
    return out


def parse_amount(value: Any, path: str = "company_target") -> float | None:
    """The board's number from a box: ``12500000``, ``12.5M``, ``800k``; blank = none."""
    if _blank(value):
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        text = repr(float(value))
    elif isinstance(value, str):
        text = value
    else:
        raise AssumptionError(f"{path}: expected an amount like 12.5M, got {value!r}", path)
    from targetsim.cli.plan import parse_amount as parse_cli_amount

    try:
        return parse_cli_amount(text)
    except TargetsimError as exc:
        raise AssumptionError(str(exc).replace("--company-target", path), path) from None


def scenario_document(body: dict[str, Any], ctx: PlanContext) -> dict[str, Any]:
    """The scenario file's content (a dict in file order) from the page's controls."""
    name = body.get("name", "what-if")
    if not isinstance(name, str) or not name.strip():
        raise AssumptionError("name: give the scenario a name", "name")
    if len(name) > NAME_MAX:
        raise AssumptionError(f"name: at most {NAME_MAX} characters", "name")
    description = body.get("description") or (
        f"What-if from targetsim serve on the plan of data as of {ctx.as_of}.")
    if not isinstance(description, str):
        raise AssumptionError("description: must be text", "description")
    doc: dict[str, Any] = {
        "name": name.strip(),
        "description": description,
        "horizon": {"start": ctx.start, "months": ctx.months},
        "market": _multipliers(body.get("market"), "market", required=True),
    }
    segments = _mapping(body.get("segments"), "segments")
    overrides = {}
    for seg, raw in segments.items():
        if seg not in ctx.segments:
            raise AssumptionError(f"segments: unknown segment {seg!r}", "segments")
        values = _multipliers(raw, f"segments.{seg}", required=False)
        if values:
            overrides[seg] = values
    if overrides:
        doc["segments"] = {s: overrides[s] for s in ctx.segments if s in overrides}
    capacity = _capacity(body.get("capacity"), ctx)
    if capacity is not None:
        doc["capacity"] = capacity
    return doc


def scenario_yaml(doc: dict[str, Any]) -> str:
    """The scenario file's text (what "Save scenario" writes)."""
    header = "# Saved by `targetsim serve`; `targetsim plan --scenario FILE` reads it as it is.\n"
    return header + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=100)


def parse_assumptions(body: Any, ctx: PlanContext) -> Assumptions:
    """Validate the page's controls.

    Parameters
    ----------
    body : dict
        The JSON the page sends (see the module docstring).
    ctx : PlanContext

    Returns
    -------
    Assumptions

    Raises
    ------
    AssumptionError
        A control holds a bad value; the message names it.
    """
    if not isinstance(body, dict):
        raise AssumptionError("expected a JSON object of assumptions")
    probability = _number(body.get("probability", ctx.probability), "probability", lo=0.0,
                          hi=1.0, lo_open=True)
    if probability >= 1.0:
        raise AssumptionError("probability: must be below 1", "probability")
    target = parse_amount(body.get("company_target"))
    text = scenario_yaml(scenario_document(body, ctx))
    try:
        scenario = parse_scenario(text, "the page")
        scenario.check_segments(ctx.segments, "the plan")
    except TargetsimError as exc:  # a rule of the scenario file the checks above missed
        raise AssumptionError(str(exc)) from None
    return Assumptions(scenario=scenario, yaml_text=text, probability=probability,
                       company_target=target)


def controls_of(scenario: Scenario, ctx: PlanContext) -> dict[str, Any]:
    """A scenario as the page's controls (to start from one of the plan's scenarios)."""
    cap = scenario.capacity
    capacity = None
    if cap is not None:
        capacity = {
            "reps": {s: cap.reps_of(s) for s in ctx.segments},
            "max_open_deals_per_rep": cap.max_open_deals_per_rep,
            "ramp_months": cap.ramp_months,
            "attrition_per_year": cap.attrition_per_year,
            "patience_days": cap.patience_days,
            "hires": [h.model_dump() for h in cap.hires if h.month in ctx.horizon_months],
        }
    return {
        "name": scenario.name,
        "market": scenario.market.model_dump(),
        "segments": {s: o.model_dump(exclude_none=True) for s, o in scenario.segments.items()
                     if s in ctx.segments},
        "capacity": capacity,
    }


def file_name(text: Any) -> str:
    """A safe file name for a saved scenario or plan (letters, digits, ``.``, ``_``, ``-``)."""
    if not isinstance(text, str):
        raise AssumptionError("file: expected a file name", "file")
    name = text.strip()
    for suffix in (".yaml", ".yml"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    if not _FILE_NAME.match(name) or ".." in name:
        raise AssumptionError(
            f"file: use letters, digits, '.', '_' and '-' only (at most 80), got {text!r}",
            "file")
    return name
