"""CRM stage names: which mean won, lost or still open, and the funnel's order.

A CRM records one *stage* per deal (``Closed Won``, ``Negotiation/Review``, a custom
``Renewed``...). targetsim needs the outcome (``won`` / ``lost`` / ``open``) and, for a
stage funnel, the open stages in order. :class:`StageMap` is the one place where stage names
become outcomes, for every layout (Salesforce, HubSpot, ``--map`` on any other CRM) and
for the stage history.

Rules
-----
* names compare case-insensitively, blanks, ``_`` and ``-`` collapsed (``Closed-Won`` is
  ``closed won``);
* ``--won-stages`` / ``--lost-stages`` name the closed stages; a layout adds its defaults
  (``Closed Won`` / ``Closed Lost``);
* with ``--stage-order`` the open stages are exactly the ones it lists: any other name is
  an error (a typo, or a closed stage the lists forgot);
* without it, every other name is open, except one that *looks* closed (``closed``,
  ``won``, ``lost``, ``dead``, ``disqualified``, ``churned``, ``cancelled``...), which is an
  error until it is listed: reading a closed deal as open would project it forward for
  ever.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from targetsim.errors import ConfigError

#: Words that make an unlisted stage name look closed.
CLOSED_LOOKING = re.compile(
    r"\b(closed?|won|lost|dead|disqualified|unqualified|churn(ed)?|cancell?ed|rejected|"
    r"declined|signed|booked|no decision)\b",
    re.IGNORECASE,
)
#: Stage names targetsim reserves for its own funnel steps.
RESERVED = ("created", "won", "lost", "open")
#: How many example rows an error names.
SHOW = 5


def stage_key(name: object) -> str:
    """Comparison key of a stage name: lower case, blanks/``_``/``-`` collapsed."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()


def stage_slug(name: str) -> str:
    """Column-safe name of a CRM stage: ``Negotiation/Review`` → ``negotiation_review``.

    The funnel's ``<stage>_at`` columns and ``fit_summary.csv``'s ``stage`` use it.

    Raises
    ------
    ConfigError
        The name has no letter or digit.
    """
    slug = re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
    if not slug:
        raise ConfigError(f"stage {name!r}: no letter or digit to name it by.")
    return f"stage_{slug}" if slug in RESERVED else slug


def split_names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"Closed Won, Signed"`` (or a list of such strings) → ``("Closed Won", "Signed")``."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else list(value)
    out: list[str] = []
    for item in items:
        out += [s.strip() for s in str(item).split(",") if s.strip()]
    return tuple(out)


@dataclass(frozen=True)
class StageMap:
    """How the stage names of one export map to outcomes and funnel stages.

    Attributes
    ----------
    won, lost : tuple of str
        Closed stages, as the user (or the layout's defaults) named them.
    order : tuple of str
        Open stages in funnel order (``--stage-order``); empty = any other name is open.
    """

    won: tuple[str, ...] = ()
    lost: tuple[str, ...] = ()
    order: tuple[str, ...] = ()

    @classmethod
    def from_options(
        cls,
        won_stages: str | Sequence[str] | None = None,
        lost_stages: str | Sequence[str] | None = None,
        stage_order: str | Sequence[str] | None = None,
        *,
        default_won: Iterable[str] = (),
        default_lost: Iterable[str] = (),
    ) -> StageMap:
        """Build the map from the three options (comma lists) and a layout's defaults.

        Raises
        ------
        ConfigError
            A name is in two lists, or named twice in ``--stage-order``.
        """
        won = _unique(split_names(won_stages) + tuple(default_won))
        lost = _unique(split_names(lost_stages) + tuple(default_lost))
        order = split_names(stage_order)
        user_won = {stage_key(s) for s in split_names(won_stages)}
        user_lost = {stage_key(s) for s in split_names(lost_stages)}
        # A user's list overrides a layout default of the other outcome (a CRM where
        # "Closed Lost" is reused for something else is the user's call).
        won = tuple(s for s in won if stage_key(s) not in user_lost or stage_key(s) in user_won)
        lost = tuple(s for s in lost if stage_key(s) not in user_won or stage_key(s) in user_lost)
        both = {stage_key(s) for s in won} & {stage_key(s) for s in lost}
        if both:
            raise ConfigError(
                f"--won-stages and --lost-stages both name {', '.join(sorted(both))!s}."
            )
        keys = [stage_key(s) for s in order]
        if len(set(keys)) != len(keys):
            raise ConfigError(f"--stage-order names a stage twice: {', '.join(order)}.")
        closed = {stage_key(s) for s in won + lost} & set(keys)
        if closed:
            raise ConfigError(
                f"--stage-order lists open stages only; {', '.join(sorted(closed))} "
                "is won or lost."
            )
        return cls(won=won, lost=lost, order=order)

    @property
    def explicit_order(self) -> bool:
        return bool(self.order)

    def outcome_of(self, name: object) -> str | None:
        """``won`` / ``lost`` / ``open`` for one stage name; None when it cannot be told."""
        if name is None or (isinstance(name, float) and np.isnan(name)):
            return None
        key = stage_key(name)
        if not key:
            return None
        if key in {stage_key(s) for s in self.won}:
            return "won"
        if key in {stage_key(s) for s in self.lost}:
            return "lost"
        if self.order:
            return "open" if key in {stage_key(s) for s in self.order} else None
        return None if CLOSED_LOOKING.search(key) else "open"

    def classify(self, names: pd.Series) -> pd.Series:
        """Outcome per cell (None where unknown), computed once per distinct name."""
        text = names.astype(object).where(names.notna(), None)
        lookup = {v: self.outcome_of(v) for v in pd.unique(text.dropna())}
        return pd.Series([lookup.get(v) if v is not None else None for v in text],
                         index=names.index, dtype=object)

    def open_index(self, name: object) -> int | None:
        """Position of an open stage in ``order`` (None when not listed)."""
        key = stage_key(name)
        for i, s in enumerate(self.order):
            if stage_key(s) == key:
                return i
        return None

    def unknown_message(
        self, source: str, column: str, names: pd.Series, unknown: np.ndarray,
        row_numbers: np.ndarray,
    ) -> str:
        """The error for cells whose stage cannot be told: each name, its count and rows."""
        groups: dict[str, list[int]] = {}
        empty: list[int] = []
        for p in np.flatnonzero(unknown):
            v = names.iloc[p]
            if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v).strip():
                empty.append(int(p))
            else:
                groups.setdefault(str(v), []).append(int(p))
        parts = [
            f"{name!r} ({len(pos):,} rows, e.g. row "
            f"{', '.join(str(row_numbers[p]) for p in pos[:SHOW])})"
            for name, pos in groups.items()
        ]
        if empty:
            parts.append(
                f"no stage in {len(empty):,} rows (e.g. row "
                f"{', '.join(str(row_numbers[p]) for p in empty[:SHOW])})"
            )
        if self.order:
            why = "stage names neither in --won-stages, --lost-stages nor --stage-order"
        else:
            why = "stage names that look closed but are not in --won-stages or --lost-stages"
        return (
            f"{source}: column {column!r}: {why}: {'; '.join(parts)}. Say what each stage "
            "means: --won-stages 'Closed Won,...' --lost-stages 'Closed Lost,...' (and "
            "--stage-order 'first,...,last' for the open stages in funnel order), or "
            "--skip-invalid to drop these rows."
        )

    def summary(self, names: pd.Series, outcome: pd.Series) -> str:
        """One line saying how each stage name was read, with counts, biggest first."""
        parts = []
        for oc in ("won", "lost", "open"):
            sel = names[outcome.eq(oc).to_numpy()].astype(str)
            if sel.empty:
                continue
            counts = sel.value_counts()
            shown = ", ".join(f"{k} ({v:,})" for k, v in counts.head(8).items())
            more = f", +{len(counts) - 8} more" if len(counts) > 8 else ""
            parts.append(f"{oc}: {shown}{more}")
        return "; ".join(parts)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, str] = {}
    for n in names:
        seen.setdefault(stage_key(n), n)
    return tuple(seen.values())

