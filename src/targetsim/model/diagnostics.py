"""Convergence gate of a fit: R-hat, bulk and tail ESS, divergences.

Thresholds follow Vehtari et al. (2021), "Rank-normalization, folding, and localization:
an improved R-hat for assessing convergence of MCMC": rank-normalised split R-hat below
1.01 and at least 100 effective draws per chain (bulk and tail). Any divergent transition
fails the gate: it means part of the posterior was not explored, so the estimates may be
biased however large the ESS.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: Maximum acceptable rank-normalised split R-hat.
RHAT_MAX = 1.01
#: Minimum bulk and tail ESS per chain.
ESS_PER_CHAIN = 100
#: Suffixes of internal variables: the raw and standardised variables behind a centred /
#: non-centred parameter and PyMC's transformed copies (``_log__``, ``_zerosum__``). The gate
#: judges the parameters themselves (deterministics of those), on their natural scale.
INTERNAL_SUFFIXES = ("_raw", "_z", "__")


@dataclass(frozen=True)
class Diagnostics:
    """Result of the convergence gate.

    Attributes
    ----------
    rhat_max, ess_bulk_min, ess_tail_min : float
        Worst values over every gated parameter.
    divergences : int
        Divergent transitions after tuning, all chains.
    converged : bool
        True when every threshold is met.
    problems : tuple of str
        One line per failed check, naming the offending parameters and what to try.
    chains, draws : int
        Sampler settings the figures refer to.
    """

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    converged: bool
    problems: tuple[str, ...] = ()
    chains: int = 0
    draws: int = 0

    def to_dict(self) -> dict:
        """JSON-ready dict (the ``diagnostics.json`` contract keys come first)."""
        d = asdict(self)
        d["problems"] = list(self.problems)
        order = ["rhat_max", "ess_bulk_min", "divergences", "converged"]
        return {k: d[k] for k in order} | {k: v for k, v in d.items() if k not in order}

    @classmethod
    def from_dict(cls, d: dict) -> Diagnostics:
        return cls(**{**d, "problems": tuple(d.get("problems", ()))})


def _worst(ds, *, largest: bool, k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` worst (name[coords], value) entries of an arviz diagnostic dataset."""
    rows = []
    for name, da in ds.data_vars.items():
        vals = np.asarray(da.values, dtype=float)
        if vals.ndim == 0:
            rows.append((name, float(vals)))
            continue
        it = np.ndindex(vals.shape)
        for idx in it:
            coords = ",".join(str(da[d].values[i]) for d, i in zip(da.dims, idx, strict=True))
            rows.append((f"{name}[{coords}]", float(vals[idx])))
    rows = [r for r in rows if np.isfinite(r[1])]
    rows.sort(key=lambda r: r[1], reverse=largest)
    return rows[:k]


def diagnose(idata) -> Diagnostics:  # noqa: ANN001 (anything with posterior, sample_stats)
    """Apply the convergence gate to a posterior.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior`` and ``sample_stats`` (``diverging``).

    Returns
    -------
    Diagnostics
    """
    import warnings

    # ArviZ's daily FutureWarning about its own refactor: nothing a user can act on.
    warnings.filterwarnings("ignore", message=r"\s*ArviZ is undergoing a major refactor",
                            category=FutureWarning)
    import arviz as az

    post = idata.posterior
    # A switched-off component (seasonality on a short history) is a constant: no R-hat.
    names = [
        str(v) for v in post.data_vars
        if not str(v).endswith(INTERNAL_SUFFIXES) and np.ptp(post[v].values) > 0
    ]
    chains = int(post.sizes["chain"])
    draws = int(post.sizes["draw"])
    rhat = az.rhat(post[names])
    ess_b = az.ess(post[names], method="bulk")
    ess_t = az.ess(post[names], method="tail")

    def extreme(ds, fn) -> float:
        vals = [np.asarray(v.values, dtype=float).ravel() for v in ds.data_vars.values()]
        allv = np.concatenate(vals) if vals else np.array([np.nan])
        allv = allv[np.isfinite(allv)]
        return float(fn(allv)) if allv.size else float("nan")

    rhat_max = extreme(rhat, np.max)
    ess_bulk_min = extreme(ess_b, np.min)
    ess_tail_min = extreme(ess_t, np.min)
    stats = getattr(idata, "sample_stats", None)
    div = int(np.asarray(stats["diverging"]).sum()) if stats is not None else 0
    need = ESS_PER_CHAIN * chains
    problems = []
    if div > 0:
        problems.append(
            f"{div} divergent transitions: part of the posterior was not explored. Try more "
            "tuning (--tune 1000) or the low-rank mass matrix (--sampler nutpie-lowrank); if "
            "they persist, a segment with very little data may need merging or tighter priors."
        )
    if not rhat_max <= RHAT_MAX:
        worst = ", ".join(f"{n} ({v:.3f})" for n, v in _worst(rhat, largest=True) if v > RHAT_MAX)
        problems.append(
            f"R-hat {rhat_max:.3f} > {RHAT_MAX} (chains disagree) for {worst}. Try more draws "
            "and tuning (--draws 1000 --tune 1000) or more chains."
        )
    for label, value, ds in (("bulk", ess_bulk_min, ess_b), ("tail", ess_tail_min, ess_t)):
        if not value >= need:
            worst = ", ".join(f"{n} ({v:.0f})" for n, v in _worst(ds, largest=False) if v < need)
            problems.append(
                f"{label} ESS {value:.0f} < {need} (100 per chain) for {worst}. Try more draws "
                "(--draws 1000)."
            )
    return Diagnostics(
        rhat_max=rhat_max,
        ess_bulk_min=ess_bulk_min,
        ess_tail_min=ess_tail_min,
        divergences=div,
        converged=not problems,
        problems=tuple(problems),
        chains=chains,
        draws=draws,
    )
