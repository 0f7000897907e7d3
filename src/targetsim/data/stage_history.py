"""``--stage-history FILE``: one row per stage change → the funnel's ``<stage>_at`` columns.

A CRM's stage history (Salesforce *Opportunity History* / ``OpportunityHistory``,
``OpportunityFieldHistory``; any CRM's audit log) has one row per change:
``opportunity_id, stage, changed_at``. The funnel needs, per deal, the date it first entered
each open stage. The rules:

* **first entry**: a deal that goes Proposal → Negotiation → Proposal → Negotiation entered
  Proposal and Negotiation once each, at their first dates;
* **back and forth is counted**: every move to an earlier open stage counts as one move back
  (``stage_moves_back`` per deal, and a total in the warnings); a move from a won or lost
  stage back to an open one counts as a reopening;
* **funnel order**: ``--stage-order`` gives the open stages in order; without it the order
  is inferred from the history (stage *a* before *b* when most deals that entered both
  entered *a* first) and printed, so it can be checked;
* **consistency with the deal**: a first entry into a stage later than the first entry into
  a stage after it (the deal went back to it) is not a date of reaching that stage in funnel
  order: it is left empty (the stage still counts as passed), and so are entries before the
  deal's creation or after its close. Each kind is counted in a warning;
* stages map to won / lost / open with the same :class:`~targetsim.data.stages.StageMap` as
  the deals, and the columns are named by :func:`~targetsim.data.stages.stage_slug`
  (``Negotiation/Review`` → ``negotiation_review_at``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from targetsim.data.dates import file_order_hint, parse_date_column
from targetsim.data.options import ReadOptions
from targetsim.data.readers import read_table
from targetsim.data.schema import normalize_outcome, parse_dates, parse_text
from targetsim.data.stages import StageMap, stage_key, stage_slug
from targetsim.errors import ConfigError, DataError

#: Column names accepted for each field of the history (case-insensitive), in order.
HISTORY_COLUMNS: dict[str, tuple[str, ...]] = {
    "opportunity_id": ("opportunity_id", "Opportunity ID", "OpportunityId", "Opportunity Id",
                       "Deal ID", "Record ID"),
    "stage": ("stage", "To Stage", "StageName", "Stage", "New Value", "NewValue",
              "Deal Stage"),
    "changed_at": ("changed_at", "Edit Date", "Stage Change Date", "Last Modified",
                   "Last Modified Date", "CreatedDate", "Created Date", "Date"),
}
#: A field-history export mixes fields: only the rows of these fields are stage changes.
FIELD_COLUMNS = ("Field", "Field / Event", "Field/Event")
STAGE_FIELDS = ("stagename", "stage", "dealstage", "deal stage", "opportunity stage")
SHOW = 5


@dataclass(frozen=True)
class StageDates:
    """First entry into each open stage, per deal.

    Attributes
    ----------
    stages : tuple of str
        Column-safe stage names (``<stage>_at`` columns), in funnel order.
    names : tuple of str
        The CRM's stage names, same order.
    dates : pandas.DataFrame
        Index: opportunity id (text); one ``<stage>_at`` datetime column per stage.
    moves_back : pandas.Series
        Moves to an earlier open stage, per opportunity id (int).
    reopened : pandas.Series
        Moves from a won or lost stage back to an open one, per opportunity id (int).
    order_inferred : bool
        The order came from the history, not from ``--stage-order``.
    warnings : tuple of str
    """

    stages: tuple[str, ...]
    names: tuple[str, ...]
    dates: pd.DataFrame
    moves_back: pd.Series
    reopened: pd.Series
    order_inferred: bool
    warnings: tuple[str, ...] = ()


def _norm(header: str) -> str:
    return re.sub(r"\s+", " ", str(header)).strip().lower()


def read_stage_history(
    path: str | Path, *, skip_invalid: bool = False, read: ReadOptions | None = None
) -> pd.DataFrame:
    """Read a stage-history file into ``opportunity_id, stage, changed_at, row``.

    Its dates follow the export's date options (``--dayfirst``, ``--date-format``); the
    first sheet with the history's columns is read from a workbook.

    Raises
    ------
    DataError
        A column is missing, or rows have no id, no stage or no readable date (unless
        ``skip_invalid``, which drops them with a warning in ``DataFrame.attrs``).
    """
    source = str(path)
    raw = read_table(path)
    by_norm = {_norm(c): c for c in raw.columns}
    found: dict[str, str] = {}
    for field, names in HISTORY_COLUMNS.items():
        for n in names:
            if _norm(n) in by_norm and by_norm[_norm(n)] not in found.values():
                found[field] = by_norm[_norm(n)]
                break
    missing = [f for f in HISTORY_COLUMNS if f not in found]
    if missing:
        raise DataError(
            f"{source}: a stage history needs the columns opportunity_id, stage, changed_at "
            f"(one row per stage change); no column for {', '.join(missing)} (accepted: "
            + "; ".join(f"{f}: {', '.join(repr(n) for n in HISTORY_COLUMNS[f])}"
                        for f in missing)
            + f"). The file has: {', '.join(repr(c) for c in list(raw.columns)[:30])}."
        )
    rows = raw.index.to_numpy(dtype=np.int64)  # the reader's spreadsheet rows
    keep = np.ones(len(raw), dtype=bool)
    for fc in FIELD_COLUMNS:
        if _norm(fc) in by_norm:
            field = parse_text(raw[by_norm[_norm(fc)]]).map(
                lambda v: stage_key(v) if v is not None else None)
            keep &= field.isin(STAGE_FIELDS).to_numpy()
            break
    ids = parse_text(raw[found["opportunity_id"]])
    stage = parse_text(raw[found["stage"]])
    when, bad_date = parse_dates(raw[found["changed_at"]], read, label=found["changed_at"],
                                 source=source, rows=rows)
    problems = []
    for what, col, mask in (
        ("no opportunity id", found["opportunity_id"], ids.isna().to_numpy()),
        ("no stage", found["stage"], stage.isna().to_numpy()),
        ("not a date", found["changed_at"], bad_date),
        ("no date", found["changed_at"], when.isna().to_numpy() & ~bad_date),
    ):
        m = mask & keep
        if m.any():
            pos = np.flatnonzero(m)
            shown = ", ".join(f"row {rows[p]} ({raw[col].iloc[p]!r})" for p in pos[:SHOW])
            more = f", ... and {len(pos) - SHOW} more" if len(pos) > SHOW else ""
            problems.append((m, f"column {col!r}: {what} in {len(pos):,} rows: {shown}{more}"))
    warnings = []
    if problems:
        bad = np.any([m for m, _ in problems], axis=0)
        text = "\n  - ".join(t for _, t in problems)
        if not skip_invalid:
            raise DataError(
                f"{source}: {int(bad.sum()):,} of {int(keep.sum()):,} stage changes are "
                f"invalid (rows as a spreadsheet numbers them):\n  - {text}\nFix them, or "
                "rerun with --skip-invalid to drop them."
            )
        warnings.append(f"{source}: skipped {int(bad.sum()):,} invalid stage changes "
                        f"(--skip-invalid): " + "; ".join(t for _, t in problems))
        keep &= ~bad
    out = pd.DataFrame({
        "opportunity_id": ids[keep].to_numpy(dtype=object),
        "stage": stage[keep].to_numpy(dtype=object),
        "changed_at": when[keep].to_numpy(),
        "order_key": exact_times(raw[found["changed_at"]], when)[keep].to_numpy(),
        "row": rows[keep],
    })
    if out.empty:
        raise DataError(f"{source}: the stage history has no stage change.")
    out.attrs["source"] = source
    out.attrs["warnings"] = warnings
    return out


def exact_times(cells: pd.Series, days: pd.Series) -> pd.Series:
    """Time of day kept, to order several changes of one day (``days`` where unreadable).

    The day is always the one of ``days`` (read with the column's one format); only the time
    of day is taken from the cell, so a day-first cell is never re-read month first.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dateutil's "dayfirst" hints: the day is not used
        exact = pd.to_datetime(cells.where(days.notna()), errors="coerce", format="mixed",
                               utc=True)
    exact = exact.dt.tz_localize(None).astype("datetime64[ns]")
    time_of_day = (exact - exact.dt.normalize()).fillna(pd.Timedelta(0))
    return days + time_of_day


def infer_order(history: pd.DataFrame, open_names: list[str]) -> tuple[str, ...]:
    """Funnel order of open stages from a history: *a* before *b* when most deals entering
    both entered *a* first (ranked by the number of stages each one precedes so).

    Ties are broken by the median day of first entry, then by name.
    """
    if not open_names:
        return ()
    first = (
        history.loc[history["stage"].isin(open_names)]
        .groupby(["opportunity_id", "stage"])["changed_at"].min()
        .unstack("stage")
        .reindex(columns=open_names)
    )
    t = first.to_numpy(dtype="datetime64[ns]").astype("int64").astype(float)
    t[first.isna().to_numpy()] = np.nan
    k = len(open_names)
    score = np.zeros(k)
    for a in range(k):
        for b in range(k):
            if a != b:
                both = ~np.isnan(t[:, a]) & ~np.isnan(t[:, b])
                ahead = int(np.sum(t[both, a] < t[both, b]))
                behind = int(np.sum(t[both, a] > t[both, b]))
                score[a] += ahead > behind
    created = first.min(axis=1)
    delay = [(first[n] - created).dt.days.median() for n in open_names]
    key = sorted(range(k), key=lambda i: (-score[i], np.nan_to_num(delay[i]), open_names[i]))
    return tuple(open_names[i] for i in key)


def stage_dates(
    history: pd.DataFrame,
    stage_map: StageMap,
    deals: pd.DataFrame,
    *,
    source: str,
    skip_invalid: bool = False,
) -> StageDates:
    """First entry into each open stage per deal, consistent with the deals' own dates.

    Parameters
    ----------
    history : pandas.DataFrame
        From :func:`read_stage_history` (or HubSpot's ``Date entered`` columns).
    stage_map : StageMap
        The deals' stage map; its ``order`` is the funnel (inferred when empty).
    deals : pandas.DataFrame
        ``opportunity_id`` (text), ``created_at``, ``closed_at`` (NaT while open).
    source : str
        The history file, for messages.
    skip_invalid : bool
        Drop changes to stages that cannot be told instead of failing.

    Raises
    ------
    DataError
        A stage that cannot be told won, lost or open (or that ``--stage-order`` does not
        list); two stages with the same column name.
    """
    warn = list(history.attrs.get("warnings", []))
    h = history.reset_index(drop=True)
    outcome = stage_map.classify(h["stage"])
    unknown = outcome.isna().to_numpy()
    if unknown.any():
        msg = stage_map.unknown_message(source, "stage", h["stage"], unknown, h["row"].to_numpy())
        if not skip_invalid:
            raise DataError(msg)
        warn.append(f"skipped {int(unknown.sum()):,} stage changes (--skip-invalid): {msg}")
        h, outcome = h.loc[~unknown].reset_index(drop=True), outcome[~unknown].reset_index(
            drop=True)
    h = h.assign(outcome=outcome.to_numpy())
    is_open = h["outcome"].eq("open")

    if stage_map.explicit_order:
        names = stage_map.order
        inferred = False
    else:
        seen = list(dict.fromkeys(h.loc[is_open, "stage"]))
        # one name per stage key: the history may spell a stage two ways
        by_key: dict[str, str] = {}
        for n in seen:
            by_key.setdefault(stage_key(n), n)
        canon = h["stage"].map(lambda s: by_key.get(stage_key(s), s))
        h = h.assign(stage=canon)
        names = infer_order(h.loc[is_open], list(by_key.values()))
        inferred = True
        if not names:
            warn.append(f"{source}: the history has no change into an open stage; no stage "
                        "dates.")
        else:
            warn.append(
                f"{source}: funnel order inferred from the history: {' → '.join(names)}; "
                "give --stage-order to set it."
            )
    slugs = tuple(stage_slug(n) for n in names)
    dup = {s for s in slugs if slugs.count(s) > 1}
    if dup:
        raise ConfigError(
            f"stages {', '.join(n for n, s in zip(names, slugs, strict=True) if s in dup)} "
            "would share a column name; rename one in the CRM or the history."
        )
    index = {stage_key(n): i for i, n in enumerate(names)}
    h = h.assign(k=h["stage"].map(lambda s: index.get(stage_key(s), -1)).to_numpy())
    if "order_key" not in h:
        h = h.assign(order_key=h["changed_at"])
    h = h.sort_values(["opportunity_id", "order_key", "row"], kind="stable")

    # back and forth, from consecutive changes of each deal
    same = h["opportunity_id"].eq(h["opportunity_id"].shift())
    now_open = h["outcome"].eq("open")
    prev_k = h["k"].shift()
    back = same & now_open & prev_k.ge(0) & h["k"].lt(prev_k)
    reopen = same & now_open & h["outcome"].shift().isin(["won", "lost"])
    moves_back = back.groupby(h["opportunity_id"]).sum().astype(int)
    reopened = reopen.groupby(h["opportunity_id"]).sum().astype(int)

    cols = [f"{s}_at" for s in slugs]
    opens = h.loc[h["k"].ge(0)]
    # first entries to the second (order_key), so that two changes of one day keep their order
    first = opens.groupby(["opportunity_id", "k"])["order_key"].min().unstack("k")
    first = first.reindex(columns=range(len(names)))
    first.columns = cols
    first = first.astype("datetime64[ns]")

    d = deals.dropna(subset=["opportunity_id"]).drop_duplicates("opportunity_id")
    d = d.set_index("opportunity_id")
    unmatched = first.index.difference(d.index)
    first = first.loc[first.index.isin(d.index)]
    created = d["created_at"].reindex(first.index)
    closed = d["closed_at"].reindex(first.index)
    day = first.apply(lambda c: c.dt.normalize())
    before = day.lt(created, axis=0)
    after = day.gt(closed, axis=0)
    first = first.mask(before | after)
    n_before, n_after = int(before.to_numpy().sum()), int(after.to_numpy().sum())
    # funnel order: a first entry after a later stage's first entry is a return, not a reach
    n_order = 0
    later = pd.Series(pd.NaT, index=first.index, dtype="datetime64[ns]")
    for c in reversed(cols):
        late = first[c].gt(later)
        n_order += int(late.sum())
        first[c] = first[c].mask(late)
        later = pd.concat([later, first[c]], axis=1).min(axis=1)
    first = first.apply(lambda c: c.dt.normalize())

    n_deals_back = int((moves_back > 0).sum())
    if n_deals_back:
        warn.append(
            f"{source}: {n_deals_back:,} deals went back to an earlier stage "
            f"({int(moves_back.sum()):,} moves back); each stage's first entry is used."
        )
    if int(reopened.sum()):
        warn.append(f"{source}: {int((reopened > 0).sum()):,} deals were reopened after being "
                    "won or lost; the export's current outcome is used.")
    dropped = []
    if n_order:
        dropped.append(f"{n_order:,} entered after a later stage (date left empty, the stage "
                       "counts as passed)")
    if n_before:
        dropped.append(f"{n_before:,} before the deal's creation")
    if n_after:
        dropped.append(f"{n_after:,} after the deal's close")
    if dropped:
        warn.append(f"{source}: first stage entries not used as dates: {'; '.join(dropped)}.")
    if len(unmatched):
        warn.append(f"{source}: {len(unmatched):,} opportunities of the history are not in the "
                    f"export (e.g. {', '.join(map(repr, list(unmatched[:3])))}); ignored.")
    no_history = d.index.difference(h["opportunity_id"].unique())
    if len(no_history):
        warn.append(f"{source}: {len(no_history):,} deals of the export have no stage history; "
                    "they count as never having entered a stage (won deals as having passed "
                    "every stage).")
    return StageDates(
        stages=slugs, names=tuple(names), dates=first, moves_back=moves_back,
        reopened=reopened, order_inferred=inferred, warnings=tuple(warn),
    )


def deal_dates(table: pd.DataFrame, read: ReadOptions | None = None) -> pd.DataFrame:
    """``opportunity_id, created_at, closed_at`` of a raw canonical table, for
    :func:`stage_dates` (unreadable cells, or a column whose format cannot be told, are NaT:
    validation reports them later with the file's names)."""
    ids = parse_text(table["opportunity_id"])
    rows = (table.index.to_numpy(dtype=np.int64) if table.index.name == "row"
            else np.arange(len(table)) + 2)
    cols = [c for c in ("created_at", "closed_at") if c in table]
    hint = file_order_hint({c: table[c] for c in cols}, rows, read)

    def dates(c: str) -> pd.Series:
        try:
            return parse_date_column(table[c], label=c, source="", rows=rows, options=read,
                                     order_hint=hint).values
        except DataError:
            return pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns]")

    created = dates("created_at")
    outcome, _ = normalize_outcome(table["outcome"])
    if "closed_at" in table:
        closed = dates("closed_at").where(outcome.isin(["won", "lost"]))
    else:
        closed = pd.Series(pd.NaT, index=table.index, dtype="datetime64[ns]")
    return pd.DataFrame({"opportunity_id": ids, "created_at": created, "closed_at": closed})


def add_stage_dates(table: pd.DataFrame, sd: StageDates) -> pd.DataFrame:
    """The raw canonical table with one ``<stage>_at`` column per stage of ``sd``."""
    clash = [c for c in sd.dates.columns if c in table.columns]
    if clash:
        raise ConfigError(
            f"the export already has {', '.join(clash)}; --stage-history would replace them. "
            "Drop those columns or the history."
        )
    ids = parse_text(table["opportunity_id"])
    out = table.copy()
    for c in sd.dates.columns:
        out[c] = sd.dates[c].reindex(ids.to_numpy()).to_numpy()
    return out
