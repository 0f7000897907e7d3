"""Periods of the horizon: the whole horizon (``FY``) and its calendar quarters.

``FY`` is the whole simulated horizon (12 months by default, whatever month it starts in);
quarters are calendar quarters ``YYYY-Qn`` of the projection's month coordinate. A horizon
that does not start on a quarter boundary has partial first and last quarters: they are
reported as such (fewer months), never stretched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.errors import DataError

#: Name of the whole-horizon period.
FY = "FY"


def month_index(projection: xr.Dataset) -> pd.DatetimeIndex:
    """The projection's months as month-start timestamps.

    Raises
    ------
    DataError
        If the projection has no ``month`` coordinate or it is empty.
    """
    if "month" not in projection.coords or projection.sizes.get("month", 0) == 0:
        raise DataError("projection has no 'month' coordinate: was it made by targetsim simulate?")
    return pd.DatetimeIndex(projection["month"].values).to_period("M").to_timestamp()


def period_months(projection: xr.Dataset) -> dict[str, np.ndarray]:
    """Month positions of each period, ``FY`` first then quarters in time order.

    Returns
    -------
    dict of str to ndarray of int
        Period label → integer positions along the ``month`` dimension.
    """
    return periods_of_months(month_index(projection))


def periods_of_months(months: pd.DatetimeIndex) -> dict[str, np.ndarray]:
    """Month positions of each period of a horizon given by its month starts."""
    out: dict[str, np.ndarray] = {FY: np.arange(len(months))}
    labels = [f"{m.year}-Q{m.quarter}" for m in months]
    for label in dict.fromkeys(labels):
        out[label] = np.array([i for i, lab in enumerate(labels) if lab == label])
    return out


def horizon_end(projection: xr.Dataset) -> pd.Timestamp:
    """Last day of the horizon (the deadline of a FY target)."""
    return month_index(projection)[-1] + pd.offsets.MonthEnd(0)


def period_end(projection: xr.Dataset, period: str) -> pd.Timestamp:
    """Last day of a period of :func:`period_months`."""
    months = month_index(projection)
    idx = period_months(projection)[period]
    return months[idx[-1]] + pd.offsets.MonthEnd(0)
