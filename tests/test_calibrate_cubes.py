"""Small projection cubes built by hand, with known distributions, for calibration tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr


def make_cube(
    n_draws: int = 400,
    segments: tuple[str, ...] = ("A", "B"),
    owners: tuple[str, ...] = ("o1", "o2", "o3"),
    scenarios: tuple[str, ...] = ("baseline", "tension"),
    months: int = 12,
    start: str = "2027-01-01",
    seed: int = 0,
) -> xr.Dataset:
    """A projection cube with the contract's variables.

    Monthly bookings per segment are Gamma(shape 4, scale 2500 × (i + 1)); ``tension``
    scales them by 0.8. Owners split the segments' bookings (owner ``k`` gets share
    ``(k + 1) / sum``), so owner totals add up to the company total.
    """
    rng = np.random.default_rng(seed)
    d, c, s, m = n_draws, len(scenarios), len(segments), months
    scale = 2500.0 * (np.arange(s) + 1)
    factor = np.array([1.0 if sc == "baseline" else 0.8 for sc in scenarios])
    bookings = rng.gamma(4.0, 1.0, size=(d, c, s, m)) * scale[None, None, :, None]
    bookings *= factor[None, :, None, None]
    won = rng.poisson(5.0, size=(d, c, s, m)).astype(float)
    new = rng.poisson(20.0, size=(d, c, s, m)).astype(float)
    open_value = rng.gamma(9.0, 1.0, size=(d, c, s, m)) * 10_000.0
    share = (np.arange(len(owners)) + 1.0) / np.sum(np.arange(len(owners)) + 1.0)
    total = bookings.sum(axis=2)
    owner_bookings = total[:, :, None, :] * share[None, None, :, None]
    month = pd.date_range(start, periods=m, freq="MS")
    dims = ("draw", "scenario", "segment", "month")
    ds = xr.Dataset(
        {
            "bookings": (dims, bookings),
            "deals_won": (dims, won),
            "deals_lost": (dims, won),
            "new_opportunities": (dims, new),
            "went_cold": (dims, np.zeros_like(won)),
            "open_count": (dims, new),
            "open_value": (dims, open_value),
            "owner_bookings": (("draw", "scenario", "owner", "month"), owner_bookings),
            "owner_deals_won": (
                ("draw", "scenario", "owner", "month"),
                np.round(won.sum(axis=2)[:, :, None, :] * share[None, None, :, None]),
            ),
        },
        coords={
            "draw": np.arange(d),
            "scenario": list(scenarios),
            "segment": list(segments),
            "owner": list(owners),
            "month": month,
        },
        attrs={"as_of": "2026-12-31", "horizon_start": start, "months": m, "seed": seed},
    )
    return ds


def test_cube_owner_bookings_add_up_to_company_total() -> None:
    ds = make_cube(n_draws=20)
    company = ds["bookings"].sum(["segment", "month"])
    owners = ds["owner_bookings"].sum(["owner", "month"])
    np.testing.assert_allclose(owners.values, company.values, rtol=1e-12)
