"""Fitting, the fit result, and its files (``fit.nc``, ``fit_summary.csv``, ``diagnostics.json``).

A :class:`FunnelFit` carries everything later steps need, so ``simulate`` can run from a
saved ``fit.nc`` alone: the posterior of the sampled components, the state of the directly
fitted ones, the open pipeline at ``as_of`` and observed history. Reading a fit imports
neither PyMC nor the sampler.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import xarray as xr

from targetsim.errors import ConfigError, DataError, ModelMismatchError
from targetsim.io import atomic_path, write_csv_atomic, write_text_atomic
from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE, MODEL_VERSION, ModelConfig
from targetsim.model.diagnostics import Diagnostics, diagnose
from targetsim.model.params import FunnelParams

if TYPE_CHECKING:
    from targetsim.data.funnel import FunnelData
    from targetsim.model.funnel_model import FunnelModel

#: Samplers :func:`fit_funnel` accepts.
#: ``nutpie-lowrank`` adapts nutpie's low-rank mass-matrix update, which can resolve
#: correlated ridges that the default diagonal one crosses slowly; an option to try when
#: the gate fails.
SAMPLERS = ("nutpie", "nutpie-lowrank", "pymc")
#: Columns of ``fit_summary.csv`` (DESIGN.md contract).
SUMMARY_COLUMNS = ("segment", "parameter", "stage", "mean", "q05", "q50", "q95")
#: Target acceptance rate of NUTS: above the 0.8 default because hierarchical spreads
#: estimated from a handful of segments give mildly funnel-shaped posteriors. Measured on
#: the Maven demo data (3 seeds x 1,000 draws): 1 divergence per fit at 0.9, none at 0.95,
#: for about 10 % more gradient evaluations.
TARGET_ACCEPT = 0.95


def _package_version() -> str:
    from targetsim import __version__

    return __version__


@dataclass(frozen=True)
class Samples:
    """The sampled groups of a fit: ``posterior`` and ``sample_stats`` (ArviZ's names).

    A plain container, so that reading a saved fit does not import ArviZ (which imports
    numba, seconds of start-up for a step that only reads draws).
    """

    posterior: xr.Dataset
    sample_stats: xr.Dataset | None = None

    def __contains__(self, group: str) -> bool:
        return getattr(self, group, None) is not None


@dataclass(frozen=True)
class FunnelFit:
    """A fitted funnel model.

    Attributes
    ----------
    idata : Samples
        ``posterior`` (sampled variables) and ``sample_stats``.
    segments, owners, stages : tuple of str
    as_of : pandas.Timestamp
    config_hash : str
        :meth:`ModelConfig.config_hash` of the priors used.
    seed : int
    diagnostics : Diagnostics
    open_pipeline : pandas.DataFrame
        :attr:`FunnelData.open_pipeline` at ``as_of``.
    history : pandas.DataFrame
        :func:`targetsim.model.stats.history_table` of the data.
    config : ModelConfig
    sampler : str
    timings : dict
        ``compile_seconds``, ``sampling_seconds`` and ``direct_seconds`` of the fit (empty
        after load).
    meta : dict
        What the sampled components need besides the posterior (hazard bin edges, stale
        age, as-of month).
    states : dict of str to xarray.Dataset
        State of the directly fitted components (``size``, ``arrivals``).
    """

    idata: Samples
    segments: tuple[str, ...]
    owners: tuple[str, ...]
    stages: tuple[str, ...]
    as_of: pd.Timestamp
    config_hash: str
    seed: int
    diagnostics: Diagnostics
    open_pipeline: pd.DataFrame
    history: pd.DataFrame
    config: ModelConfig = field(default_factory=ModelConfig)
    sampler: str = "nutpie"
    timings: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    states: dict = field(default_factory=dict)

    # ---------------------------------------------------------------- posterior
    @property
    def stale_after_days(self) -> float:
        """Age beyond which an open deal never closes (the last hazard edge or the rule)."""
        if "hazard_edges" in self.meta:
            return float(self.meta["hazard_edges"][-1])
        return float(self.meta.get("stale_after_days", math.inf))

    @property
    def notes(self) -> list[str]:
        """What a user should know about the fit, in words (e.g. months left out)."""
        from targetsim.model.components import local_trend

        out = []
        cut = self.meta.get("truncated_before")
        if cut:
            how = ("the others count as open from that date only" if self.meta.get(
                "delayed_entry") else "the fit takes the earlier deals as they are (the "
                "priors' hazard.delayed_entry: true counts them from that date only)")
            out.append(
                f"no deal closed before {cut} although deals were created earlier: the "
                "export may lack the deals that closed before then (left truncation); "
                f"{how}."
            )
        if "arrivals" in self.states:
            out += local_trend.notes(self.states["arrivals"], self.as_of)
        return out

    def params(self, n_draws: int | None = None, random_seed: int = 0) -> FunnelParams:
        """Posterior draws as :class:`FunnelParams` (the simulator's input).

        Parameters
        ----------
        n_draws : int, optional
            Number of draws; default all (chains x draws). Drawn without replacement
            when possible, with replacement beyond the posterior size.
        random_seed : int, default 0
            Seed of the draw selection and of the directly fitted components' draws.
        """
        from targetsim.model.components import (
            empirical_size,
            hazard,
            local_trend,
            lognormal,
            trend_shift,
        )

        post = self.idata.posterior.stack(sample=("chain", "draw")).transpose("sample", ...)
        total = post.sizes["sample"]
        if n_draws is None:
            idx = np.arange(total)
        else:
            if n_draws < 1:
                raise ConfigError(f"n_draws must be >= 1, got {n_draws}")
            rng = np.random.default_rng(np.random.SeedSequence(random_seed))
            idx = np.sort(rng.choice(total, size=n_draws, replace=n_draws > total))
        n = len(idx)
        arrays = {k: np.asarray(v.values, dtype=float)[idx] for k, v in post.data_vars.items()}
        cfg = self.config
        outcome = (hazard.draws if cfg.cycle == "hazard" else lognormal.outcome_draws)(
            arrays, self.meta
        )
        size_rng, arrival_rng = (
            np.random.default_rng(c) for c in np.random.SeedSequence(random_seed).spawn(3)[1:]
        )
        if cfg.size == "empirical":
            size = empirical_size.draws(self.states["size"], n, size_rng, len(self.segments))
        else:
            size = lognormal.size_draws(arrays, self.meta)
        if cfg.arrivals in ("trend_shift", "local_trend"):
            module = trend_shift if cfg.arrivals == "trend_shift" else local_trend
            arrivals = module.draws(self.states["arrivals"], n, arrival_rng, self.as_of)
        else:
            arrivals = lognormal.arrival_draws(arrays, self.meta)
        return FunnelParams(
            segments=self.segments,
            outcome=outcome,
            size=size,
            arrivals=arrivals,
            owners=self.owners,
            owner_share=self.owner_share() if self.owners else np.zeros((0, 0)),
            as_of=self.as_of.strftime("%Y-%m-%d"),
        )

    def owner_share(self) -> np.ndarray:
        """Share of each segment's deals owned by each rep, (S, O), from the history."""
        share = np.zeros((len(self.segments), len(self.owners)))
        h = self.history.loc[self.history["level"] == "owner"]
        s_idx = {s: i for i, s in enumerate(self.segments)}
        o_idx = {o: i for i, o in enumerate(self.owners)}
        for seg, own, n in zip(h["segment"], h["owner"], h["n_deals"], strict=True):
            if seg in s_idx and own in o_idx:
                share[s_idx[seg], o_idx[own]] = n
        tot = share.sum(axis=1, keepdims=True)
        return np.divide(share, tot, out=np.zeros_like(share), where=tot > 0)

    def quantities(self) -> dict[str, np.ndarray]:
        """Named quantities of every draw, (D, S) each (``conversion`` etc.: (D, K, S)).

        ``win_rate``, ``loss_rate``, ``stall_rate`` (eventual shares of a new deal),
        ``cycle_days_median`` (median days from creation to a win, among wins),
        ``loss_cycle_days_median``, ``deal_size_median``, ``deal_size_mean``,
        ``arrivals_per_month`` (mean at the as-of month, seasonality included),
        ``arrival_trend`` (mean log change per month over the next twelve months) and, with
        stages, ``conversion`` and ``stage_cycle_days_median`` per step.
        """
        p = self.params(None, random_seed=self.seed)
        pw, pl, ps = p.outcome.eventual()
        lr = p.arrivals.log_mean(np.array([0, 12]))
        out = {
            "win_rate": pw,
            "loss_rate": pl,
            "stall_rate": ps,
            "cycle_days_median": p.outcome.won_quantile(0.5),
            "loss_cycle_days_median": p.outcome.lost_quantile(0.5),
            "deal_size_median": p.size.median(),
            "deal_size_mean": p.size.mean(),
            "arrivals_per_month": np.exp(lr[:, :, 0]),
            "arrival_trend": (lr[:, :, 1] - lr[:, :, 0]) / 12.0,
        }
        if self.stages:
            from targetsim.model.components.lognormal import stage_summary

            post = self.idata.posterior.stack(sample=("chain", "draw")).transpose("sample", ...)
            rows = tuple(str(r) for r in post["stage_theta_param"].values)
            out |= stage_summary({"stage_theta": np.asarray(post["stage_theta"].values)},
                                 rows, (*self.stages, "won"))
        return out

    def summary(self) -> pd.DataFrame:
        """The ``fit_summary.csv`` table: one row per segment, parameter (and stage).

        Parameters: see :meth:`quantities` (``stage`` = the stage entered, for the
        per-stage ``conversion`` and ``stage_cycle_days_median``).
        """
        q = self.quantities()
        rows = []

        def add(seg: str, name: str, stage: str, v: np.ndarray) -> None:
            v = np.asarray(v, dtype=float).ravel()
            v = v[np.isfinite(v)]
            if not v.size:
                rows.append((seg, name, stage, *([float("nan")] * 4)))
                return
            qs = np.quantile(v, [0.05, 0.5, 0.95])
            rows.append((seg, name, stage, float(v.mean()), *map(float, qs)))

        steps = ("created", *self.stages, "won")[1:] if self.stages else ()
        for j, seg in enumerate(self.segments):
            for name, v in q.items():
                if name in ("conversion", "stage_cycle_days_median"):
                    continue
                add(seg, name, "", v[:, j])
            for k, step in enumerate(steps):
                add(seg, "conversion", step, q["conversion"][:, k, j])
                add(seg, "stage_cycle_days_median", step, q["stage_cycle_days_median"][:, k, j])
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    # ---------------------------------------------------------------- files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fit as netCDF: groups ``posterior``, ``sample_stats``,
        ``open_pipeline``, ``history`` and ``state_<component>``; identity in the
        posterior's attributes."""
        post = self.idata.posterior.copy()
        post.attrs = {
            "targetsim_version": _package_version(),
            "model_version": MODEL_VERSION,
            "config_hash": self.config_hash,
            "config_json": self.config.model_dump_json(),
            "seed": int(self.seed),
            "as_of": self.as_of.strftime("%Y-%m-%d"),
            "segments": json.dumps(list(self.segments)),
            "owners": json.dumps(list(self.owners)),
            "stages": json.dumps(list(self.stages)),
            "sampler": self.sampler,
            "diagnostics_json": json.dumps(self.diagnostics.to_dict()),
            "meta_json": json.dumps(self.meta),
        }
        groups = {"posterior": post}
        if self.idata.sample_stats is not None:
            groups["sample_stats"] = self.idata.sample_stats
        groups["open_pipeline"] = frame_to_dataset(self.open_pipeline)
        groups["history"] = frame_to_dataset(self.history)
        for name, state in self.states.items():
            groups[f"state_{name}"] = state
        mode = "w"
        for name, ds in groups.items():
            ds.to_netcdf(str(path), group=name, mode=mode, engine="h5netcdf")
            mode = "a"
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FunnelFit:
        """Read a fit written by :meth:`save` (without importing PyMC or ArviZ).

        Raises
        ------
        DataError
            The file is missing or not a fit.
        ModelMismatchError
            The fit was made by another model version.
        """
        p = Path(path)
        if not p.exists():
            raise DataError(f"{p}: no such fit file (run `targetsim fit` first)")
        try:
            groups = _read_groups(p)
        except Exception as exc:  # h5py/xarray raise many types for a non-netCDF file
            raise DataError(f"{p}: not a readable fit file ({type(exc).__name__}: {exc})") from exc
        if "posterior" not in groups:
            raise DataError(f"{p}: not a targetsim fit (no posterior group)")
        attrs = dict(groups["posterior"].attrs)
        version = attrs.get("model_version")
        if version != MODEL_VERSION:
            raise ModelMismatchError(
                f"{p}: fit made by model version {version!r} (targetsim "
                f"{attrs.get('targetsim_version', '?')}), this is {MODEL_VERSION!r}; "
                "re-run `targetsim fit`"
            )
        config = ModelConfig.model_validate_json(attrs["config_json"])
        if config.config_hash() != attrs["config_hash"]:
            raise ModelMismatchError(f"{p}: stored priors do not match their hash")
        for g in ("open_pipeline", "history"):
            if g not in groups:
                raise DataError(f"{p}: fit file lacks its {g} group")
        return cls(
            idata=Samples(groups["posterior"], groups.get("sample_stats")),
            segments=tuple(json.loads(attrs["segments"])),
            owners=tuple(json.loads(attrs["owners"])),
            stages=tuple(json.loads(attrs["stages"])),
            as_of=pd.Timestamp(attrs["as_of"]),
            config_hash=str(attrs["config_hash"]),
            seed=int(attrs["seed"]),
            diagnostics=Diagnostics.from_dict(json.loads(attrs["diagnostics_json"])),
            open_pipeline=dataset_to_frame(groups["open_pipeline"]),
            history=dataset_to_frame(groups["history"]),
            config=config,
            sampler=str(attrs.get("sampler", "")),
            meta=json.loads(attrs.get("meta_json", "{}")),
            states={g[len("state_"):]: ds for g, ds in groups.items() if g.startswith("state_")},
        )


def _read_groups(path: Path) -> dict[str, xr.Dataset]:
    """Every group of a netCDF file, loaded into memory (no file handle stays open)."""
    import h5netcdf

    with h5netcdf.File(path, "r") as fh:
        names = list(fh.groups)
    out = {}
    for g in names:
        with xr.open_dataset(path, group=g, engine="h5netcdf") as ds:
            out[g] = ds.load()
    return out


def frame_to_dataset(df: pd.DataFrame) -> xr.Dataset:
    """A DataFrame as an xarray Dataset that round-trips through netCDF.

    Text columns are stored as strings with a ``__na__<col>`` mask for missing values;
    the original column order and kinds are kept in the attributes.
    """
    data = {}
    kinds = {}
    n = len(df)
    for col in df.columns:
        s = df[col]
        if pd.api.types.is_datetime64_any_dtype(s):
            kinds[col] = "datetime"
            data[col] = ("row", s.to_numpy(dtype="datetime64[ns]"))
        elif pd.api.types.is_bool_dtype(s):
            kinds[col] = "bool"
            data[col] = ("row", s.to_numpy(dtype=bool))
        elif pd.api.types.is_numeric_dtype(s):
            kinds[col] = "int" if pd.api.types.is_integer_dtype(s) else "float"
            data[col] = ("row", s.to_numpy())
        else:
            kinds[col] = "str"
            na = s.isna().to_numpy()
            data[col] = ("row", np.asarray(s.astype(object).where(~na, "").astype(str), dtype=str))
            data[f"__na__{col}"] = ("row", na)
    ds = xr.Dataset(data, coords={"row": np.arange(n)})
    ds.attrs["columns"] = json.dumps(list(map(str, df.columns)))
    ds.attrs["kinds"] = json.dumps(kinds)
    return ds


def dataset_to_frame(ds: xr.Dataset) -> pd.DataFrame:
    """Inverse of :func:`frame_to_dataset`."""
    cols = json.loads(ds.attrs["columns"])
    kinds = json.loads(ds.attrs["kinds"])
    out = {}
    for col in cols:
        v = np.asarray(ds[col].values)
        if kinds[col] == "str":
            na = np.asarray(ds[f"__na__{col}"].values, dtype=bool)
            out[col] = pd.Series(v.astype(str), dtype=object).where(~na, None)
        elif kinds[col] == "datetime":
            out[col] = pd.to_datetime(v)
        else:
            out[col] = v
    return pd.DataFrame(out, columns=cols)


#: Compiled nutpie models of this process, by model structure (most recent last).
_COMPILED: dict[tuple, object] = {}
_COMPILED_MAX = 4


def _nutpie_compiled(model: FunnelModel):
    """nutpie's compiled model, reused with new data when the structure is unchanged.

    All data and priors enter the graph as ``pm.Data``, so a model with the same coordinates
    (segments, owners, steps) only needs its data swapped (``CompiledModel.with_data``):
    JAX compiles in about 3 s, swapping data costs nothing (a new shape re-traces). The
    JAX backend rather than numba: numba took about a minute to compile this graph, on
    every run, its on-disk cache notwithstanding.
    """
    import nutpie

    pm_model = model.model
    key = (
        MODEL_VERSION,
        model.config.config_hash(),
        tuple((k, tuple(map(str, v))) for k, v in pm_model.coords.items()),
    )
    data = {v.name: np.asarray(v.get_value()) for v in pm_model.data_vars}
    cached = _COMPILED.pop(key, None)
    if cached is not None:
        try:
            compiled = cached.with_data(**data)
        except (KeyError, ValueError):  # a structure change the key did not catch
            compiled = None
        if compiled is not None:
            _COMPILED[key] = cached
            return compiled
    compiled = nutpie.compile_pymc_model(pm_model, backend="jax", gradient_backend="jax")
    _COMPILED[key] = compiled
    while len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.pop(next(iter(_COMPILED)))
    return compiled


def sample_model(
    model: FunnelModel,
    *,
    draws: int,
    tune: int,
    chains: int,
    sampler: str,
    random_seed: int,
    progress: bool,
) -> FunnelFit:
    """Sample a built :class:`FunnelModel` and wrap the result (used by ``FunnelModel.fit``)."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"unknown sampler {sampler!r}; choose one of {', '.join(SAMPLERS)}")
    for name, v in (("draws", draws), ("tune", tune), ("chains", chains)):
        if int(v) < 1:
            raise ConfigError(f"{name} must be >= 1, got {v}")
    t0 = time.perf_counter()
    if sampler.startswith("nutpie"):
        import nutpie

        compiled = _nutpie_compiled(model)
        t1 = time.perf_counter()
        idata = nutpie.sample(
            compiled,
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            seed=random_seed,
            progress_bar=progress,
            save_warmup=False,
            target_accept=TARGET_ACCEPT,
            low_rank_modified_mass_matrix=sampler == "nutpie-lowrank",
        )
    else:
        import pymc as pm

        t1 = time.perf_counter()
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=min(chains, os.cpu_count() or 1),
            random_seed=random_seed,
            progressbar=progress,
            model=model.model,
            target_accept=TARGET_ACCEPT,
            compute_convergence_checks=False,
        )
    t2 = time.perf_counter()
    samples = Samples(idata.posterior, idata.sample_stats)
    funnel: FunnelData = model.funnel
    states = fit_direct(model.stats, model.config)
    t3 = time.perf_counter()
    from targetsim.model.stats import history_table

    return FunnelFit(
        idata=samples,
        segments=funnel.segments,
        owners=funnel.owners,
        stages=funnel.stages,
        as_of=pd.Timestamp(funnel.as_of),
        config_hash=model.config.config_hash(),
        seed=int(random_seed),
        diagnostics=diagnose(samples),
        open_pipeline=funnel.open_pipeline.reset_index(drop=True),
        history=history_table(funnel),
        config=model.config,
        sampler=sampler,
        timings={"compile_seconds": t1 - t0, "sampling_seconds": t2 - t1,
                 "direct_seconds": t3 - t2},
        meta=dict(model.meta),
        states=states,
    )


def fit_direct(st, cfg: ModelConfig) -> dict[str, xr.Dataset]:  # noqa: ANN001
    """Fit the components that need no sampler; their states by component name."""
    from targetsim.model.components import empirical_size, local_trend, trend_shift

    states = {}
    if cfg.size == "empirical":
        states["size"] = empirical_size.fit(st, cfg)
    if cfg.arrivals in ("trend_shift", "local_trend"):
        module = trend_shift if cfg.arrivals == "trend_shift" else local_trend
        states["arrivals"] = module.fit(st, cfg)
    return states


def fit_funnel(
    funnel: FunnelData,
    config: ModelConfig | None = None,
    *,
    draws: int = DEFAULT_DRAWS,
    tune: int = DEFAULT_TUNE,
    chains: int = 2,
    sampler: str = "nutpie",
    random_seed: int = 0,
    progress: bool = True,
) -> FunnelFit:
    """Fit the funnel model to funnel facts.

    Parameters
    ----------
    funnel : FunnelData
        From :func:`targetsim.data.funnel.build_funnel`.
    config : ModelConfig, optional
        Priors; default :class:`ModelConfig()`.
    draws, tune, chains : int
        Posterior draws per chain, tuning steps per chain, chains.
    sampler : {"nutpie", "nutpie-lowrank", "pymc"}
        nutpie (JAX backend, default), nutpie with a low-rank mass matrix, or PyMC's own
        NUTS.
    random_seed : int
        Same data and seed give the same posterior.
    progress : bool
        Show the sampler's progress bar.

    Returns
    -------
    FunnelFit
        Check ``fit.diagnostics.converged``.
    """
    from targetsim.model.funnel_model import FunnelModel

    model = FunnelModel(config)
    model.build_model(funnel)
    return model.fit(
        draws=draws,
        tune=tune,
        chains=chains,
        sampler=sampler,
        random_seed=random_seed,
        progress=progress,
    )


def write_fit_outputs(fit: FunnelFit, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``fit.nc``, ``fit_summary.csv`` and ``diagnostics.json`` into ``out_dir``.

    Each file is written atomically (a failed run never leaves a half-written file).

    Returns
    -------
    dict
        ``{"fit": path, "summary": path, "diagnostics": path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "fit": out / "fit.nc",
        "summary": out / "fit_summary.csv",
        "diagnostics": out / "diagnostics.json",
    }
    with atomic_path(paths["fit"]) as tmp:
        fit.save(tmp)
    write_csv_atomic(fit.summary(), paths["summary"])  # segment names neutralised
    write_text_atomic(paths["diagnostics"], json.dumps(fit.diagnostics.to_dict(), indent=2) + "\n")
    return paths
