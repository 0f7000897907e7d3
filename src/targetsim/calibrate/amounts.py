"""Segments whose won deals have no positive amount: deals-won targets only.

Contract, end to end:

* ingest warns about every segment none of whose won deals has a positive amount (and about
  a file without an ``amount`` column), and counts zero amounts
  (:func:`targetsim.data.schema.amount_warnings`, ``GroupFacts.won_with_amount``);
* the fit's history table (``fit.nc``) carries ``won_with_amount`` per segment;
* the projection carries the list of such segments in its attribute :data:`ATTR`
  (:func:`mark_projection`, called by ``simulate`` and ``plan`` with the fit);
* calibrate (:func:`scope_projection`, :func:`drop_unsized`) sets no bookings target for
  them: their simulated bookings would come from deal sizes the data never showed (the
  prior). The company's bookings total covers the segments with amounts only (and is left
  out when no segment has one); owners' bookings targets are left out as soon as one
  segment lacks amounts, since an owner's bookings mix segments. Deals-won targets are kept
  everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

#: Projection attribute listing the segments without amounts (a JSON list).
ATTR = "segments_without_amounts"
#: Column of the fit's history table: won deals with a positive amount.
HISTORY_COLUMN = "won_with_amount"


def segments_without_amounts(history: pd.DataFrame | None, segments: Sequence[str]) -> list[str]:
    """Segments whose won deals have no positive amount, from a fit's history table.

    A history without :data:`HISTORY_COLUMN` (a fit saved before it existed) says nothing:
    no segment is listed.
    """
    if history is None or HISTORY_COLUMN not in history or "level" not in history:
        return []
    seg = history.loc[history["level"].eq("segment")]
    counts = seg.groupby(seg["segment"].astype(str))[HISTORY_COLUMN].sum()
    return [str(s) for s in segments if int(counts.get(str(s), 0)) == 0]


def mark_projection(projection: xr.Dataset, fit: Any) -> xr.Dataset:
    """Record in ``projection`` the segments of ``fit`` that have no won amounts."""
    segments = [str(s) for s in projection["segment"].values]
    unsized = segments_without_amounts(getattr(fit, "history", None), segments)
    projection.attrs[ATTR] = json.dumps(unsized)
    return projection


def unsized_segments(projection: xr.Dataset) -> list[str]:
    """The segments :func:`mark_projection` listed (empty for an unmarked projection)."""
    raw = projection.attrs.get(ATTR)
    if not raw:
        return []
    names = json.loads(raw) if isinstance(raw, str) else list(raw)
    known = {str(s) for s in projection["segment"].values}
    return [str(s) for s in names if str(s) in known]


def scope_projection(projection: xr.Dataset) -> tuple[xr.Dataset, list[str]]:
    """The projection with no bookings in segments without amounts, and those segments.

    Zeroed bookings leave the company total to the segments with amounts; the rows of the
    unsized segments themselves are then dropped by :func:`drop_unsized`.
    """
    unsized = unsized_segments(projection)
    if not unsized or "bookings" not in projection:
        return projection, unsized
    sized = ~np.isin(projection["segment"].values.astype(str), unsized)
    mask = xr.DataArray(sized, dims=("segment",), coords={"segment": projection["segment"]})
    return projection.assign(bookings=projection["bookings"].where(mask, 0.0)), unsized


def drop_unsized(
    df: pd.DataFrame | None, unsized: Sequence[str], all_segments: Sequence[str],
    *, name_col: str = "name",
) -> pd.DataFrame | None:
    """Rows of a calibrate table that cannot be a bookings target (see the module docstring).

    ``df`` has a ``metric`` column (targets, tiers, stress, allocation) or is per segment
    (indicators: bookings-based, ``name_col="segment"``).
    """
    if df is None or not len(unsized) or df.empty:
        return df
    unsized = set(map(str, unsized))
    none_sized = unsized >= set(map(str, all_segments))
    bookings = df["metric"].eq("bookings") if "metric" in df else pd.Series(True, index=df.index)
    level = df["level"] if "level" in df else pd.Series("segment", index=df.index)
    name = df[name_col].astype(str)
    drop = bookings & (
        (level.eq("segment") & name.isin(unsized))
        | level.eq("owner")
        | (level.eq("total") & none_sized)
    )
    return df.loc[~drop].reset_index(drop=True)


def note(unsized: Sequence[str], all_segments: Sequence[str]) -> str | None:
    """What a reader of the targets must know, or None."""
    if not unsized:
        return None
    if set(unsized) >= set(all_segments):
        return ("no won deal has a positive amount: deals-won targets only, no bookings "
                "target (bookings targets need the won deals' amounts)")
    return (f"segment(s) {', '.join(unsized)}: no won deal with a positive amount, so "
            "deals-won targets only; the company's bookings target covers the other "
            "segments, and owners get deals-won targets only")
