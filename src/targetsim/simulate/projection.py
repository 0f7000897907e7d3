"""Saving and loading the projection cube (``projection.nc``, netCDF via h5netcdf)."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from targetsim.errors import DataError, ModelMismatchError
from targetsim.io import atomic_path

#: Variables every projection has (the contract with calibrate and report).
REQUIRED_VARS = (
    "bookings", "deals_won", "deals_lost", "new_opportunities", "went_cold", "open_count",
    "open_value", "open_count_final", "initial_open", "capacity",
)
REQUIRED_ATTRS = (
    "as_of", "horizon_start", "months", "seed", "engine", "n_draws", "scenarios_json",
    "targetsim_version",
)


def save_projection(ds: xr.Dataset, path: str | os.PathLike[str]) -> Path:
    """Write the projection atomically (a failed run never leaves half a file)."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def load_projection(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a projection written by :func:`save_projection` (fully into memory).

    Raises
    ------
    DataError
        The file is missing or not netCDF.
    ModelMismatchError
        The file is netCDF but not a targetsim projection.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: projection not found (run `targetsim simulate` first)")
    try:
        ds = xr.load_dataset(p, engine="h5netcdf")
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not a readable netCDF projection ({exc})") from None
    missing = [v for v in REQUIRED_VARS if v not in ds] + [
        a for a in REQUIRED_ATTRS if a not in ds.attrs
    ]
    if missing:
        raise ModelMismatchError(
            f"{p}: not a targetsim projection (missing {', '.join(missing)})"
        )
    return ds
