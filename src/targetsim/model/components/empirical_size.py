"""The empirical deal-size component (``size: empirical``): won amounts without a shape.

A segment's distribution of won contract values is its own won amounts, weighted by a
Bayesian bootstrap (Rubin 1981: Dirichlet weights, one draw per posterior draw), mixed with
the pooled amounts of every segment rescaled to the segment's level, with the weight of
``pooling`` won deals: the posterior of a Dirichlet process whose base measure is the
pooled distribution (Ferguson 1973). A segment with many won deals is its own data; one
with five borrows the others' shape; list prices stay atoms; a long tail stays as long as
the data show. The uncertainty of the mean comes with it, draw by draw.

Fitted directly (no sampler): the state kept in ``fit.nc`` is each segment's amounts
(grouped beyond ``max_atoms``), from which :func:`draws` makes any number of draws.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from targetsim.model.config import ModelConfig
from targetsim.model.params import EmpiricalSize
from targetsim.model.stats import FunnelStats


def _atoms(values: np.ndarray, max_atoms: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values, grouped into at most ``max_atoms`` runs of neighbours (mean, count)."""
    v = np.sort(values)
    if v.size <= max_atoms:
        return v, np.ones(v.size)
    groups = np.array_split(v, max_atoms)
    return np.array([g.mean() for g in groups]), np.array([float(g.size) for g in groups])


#: Atoms kept of the pooled shape (relative amounts of every segment).
POOL_ATOMS = 256


def fit(st: FunnelStats, cfg: ModelConfig) -> xr.Dataset:
    """The component's state: each segment's atoms, the pooled shape and the segments' levels.

    The pooled shape is every won amount divided by its segment's geometric mean (so a
    segment borrows the others' *shape*, not their level); a segment's level is its mean log
    amount shrunk towards the pooled one by its number of won deals.
    """
    es = cfg.empirical_size
    n_seg = len(st.segments)
    amounts, seg_of = st.won_amounts, st.won_amount_segment
    log_a = np.log(amounts)
    n_s = np.bincount(seg_of, minlength=n_seg).astype(float)
    pooled = float(log_a.mean()) if log_a.size else 0.0
    mean_s = np.divide(np.bincount(seg_of, weights=log_a, minlength=n_seg), n_s,
                       out=np.full(n_seg, pooled), where=n_s > 0)
    level = pooled + n_s / (n_s + es.pooling) * (mean_s - pooled)
    vals, counts, segs = [], [], []
    for s in range(n_seg):
        v, c = _atoms(amounts[seg_of == s], es.max_atoms)
        vals.append(v)
        counts.append(c)
        segs.append(np.full(v.size, s))
    pool_v, pool_c = _atoms(np.exp(log_a - mean_s[seg_of]), POOL_ATOMS)
    return xr.Dataset(
        {
            "value": ("atom", np.concatenate(vals)), "count": ("atom", np.concatenate(counts)),
            "segment": ("atom", np.concatenate(segs).astype(int)),
            "pool_value": ("pool_atom", pool_v), "pool_count": ("pool_atom", pool_c),
            "log_level": ("segment", level),
        },
        attrs={"pooling": float(es.pooling), "slices": int(es.slices)},
    )


def _slice_means(values: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
    """Means of ``k`` equal-probability slices of a weighted discrete distribution."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order] / weights.sum()
    cw = np.concatenate([[0.0], np.cumsum(w)])
    cv = np.concatenate([[0.0], np.cumsum(v * w)])
    p = np.linspace(0.0, 1.0, k + 1)
    # Integral of the quantile function from 0 to p: whole atoms below p plus part of one.
    i = np.clip(np.searchsorted(cw, p, side="right") - 1, 0, v.size - 1)
    integral = cv[i] + v[i] * (p - cw[i])
    return np.diff(integral) * k


def draws(state: xr.Dataset, n_draws: int, rng: np.random.Generator, n_seg: int) -> EmpiricalSize:
    """``n_draws`` draws of every segment's size distribution (K slice means each)."""
    value, count = state["value"].values, state["count"].values
    seg = state["segment"].values.astype(int)
    pool_v, pool_c = state["pool_value"].values, state["pool_count"].values
    level = state["log_level"].values
    alpha = float(state.attrs["pooling"])
    k = int(state.attrs["slices"])
    out = np.zeros((n_draws, n_seg, k))
    if pool_v.size == 0:  # no positive won amount anywhere: nothing to draw sizes from
        return EmpiricalSize(slices=out)
    own = [seg == s for s in range(n_seg)]
    for d in range(n_draws):
        own_w = rng.gamma(count)
        pool_w = rng.gamma(pool_c)
        pool_w /= pool_w.sum()
        pool_mass = rng.gamma(alpha, size=n_seg)
        for s in range(n_seg):
            vals = np.concatenate([value[own[s]], pool_v * np.exp(level[s])])
            wts = np.concatenate([own_w[own[s]], pool_mass[s] * pool_w])
            out[d, s] = _slice_means(vals, wts, k)
    return EmpiricalSize(slices=out)
