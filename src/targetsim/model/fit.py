"""Fitting, the fit result, and its files (``fit.nc``, ``fit_summary.csv``, ``diagnostics.json``).

A :class:`FunnelFit` carries everything later steps need, so ``simulate`` can run from a
saved ``fit.nc`` alone: the posterior, the open pipeline at ``as_of`` and observed history.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from targetsim.data.funnel import FunnelData
from targetsim.errors import ConfigError, DataError, ModelMismatchError
from targetsim.io import atomic_path, write_csv_atomic, write_text_atomic
from targetsim.model.config import DEFAULT_DRAWS, DEFAULT_TUNE, MODEL_VERSION, ModelConfig
from targetsim.model.diagnostics import Diagnostics, diagnose
from targetsim.model.funnel_model import FunnelModel
from targetsim.model.params import FunnelParams
from targetsim.model.posterior import derive
from targetsim.model.stats import history_table

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
class FunnelFit:
    """A fitted funnel model.

    Attributes
    ----------
    idata : arviz.InferenceData
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
        ``compile_seconds`` and ``sampling_seconds`` of the fit (empty after load).
    stale_after_days : float
        Age beyond which an open deal is abandoned (``inf``: no such rule); see
        :class:`ModelConfig`.
    """

    idata: az.InferenceData
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
    stale_after_days: float = math.inf

    # ---------------------------------------------------------------- posterior
    def derived(self) -> xr.Dataset:
        """Named parameters of every draw (see :func:`targetsim.model.posterior.derive`)."""
        return derive(self.idata.posterior)

    def params(self, n_draws: int | None = None, random_seed: int = 0) -> FunnelParams:
        """Posterior draws as :class:`FunnelParams` (the simulator's input).

        Parameters
        ----------
        n_draws : int, optional
            Number of draws; default all (chains x draws). Drawn without replacement
            when possible, with replacement beyond the posterior size.
        random_seed : int, default 0
            Seed of the draw selection.
        """
        d = self.derived().stack(sample=("chain", "draw")).transpose("sample", ...)
        total = d.sizes["sample"]
        if n_draws is None:
            idx = np.arange(total)
        else:
            if n_draws < 1:
                raise ConfigError(f"n_draws must be >= 1, got {n_draws}")
            rng = np.random.default_rng(np.random.SeedSequence(random_seed))
            idx = np.sort(rng.choice(total, size=n_draws, replace=n_draws > total))

        def a(name: str) -> np.ndarray:
            return np.asarray(d[name].values, dtype=float)[idx]

        kw = {}
        if self.owners:
            kw = dict(
                owners=self.owners,
                owner_effect=a("owner_effect"),
                owner_share=self.owner_share(),
            )
        return FunnelParams(
            segments=self.segments,
            p_win=a("p_win"),
            p_lost=a("p_lost"),
            won_mu=a("won_mu"),
            won_sigma=a("won_sigma"),
            lost_mu=a("lost_mu"),
            lost_sigma=a("lost_sigma"),
            size_mu=a("size_mu"),
            size_sigma=a("size_sigma"),
            arrival_log_rate=a("arrival_log_rate"),
            arrival_trend=a("arrival_trend"),
            season=a("season"),
            arrival_alpha=a("arrival_alpha"),
            as_of=self.as_of.strftime("%Y-%m-%d"),
            stale_after_days=self.stale_after_days,
            **kw,
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

    def summary(self) -> pd.DataFrame:
        """The ``fit_summary.csv`` table: one row per segment, parameter (and stage).

        Parameters: ``win_rate``, ``loss_rate``, ``stall_rate``, ``cycle_days_median``
        (created -> won, ``exp(won_mu)``), ``loss_cycle_days_median``,
        ``deal_size_median``, ``arrivals_per_month`` (mean at the as-of month, seasonality
        included), ``arrival_trend`` (log change per month) and, with stages,
        ``conversion`` and ``stage_cycle_days_median`` per stage (``stage`` = the stage
        entered).
        """
        d = self.derived()
        moy = self.as_of.month - 1
        season0 = d["season"].isel(month_of_year=moy)
        quantities = {
            "win_rate": d["p_win"],
            "loss_rate": d["p_lost"],
            "stall_rate": d["p_stall"],
            "cycle_days_median": np.exp(d["won_mu"]),
            "loss_cycle_days_median": np.exp(d["lost_mu"]),
            "deal_size_median": np.exp(d["size_mu"]),
            "arrivals_per_month": np.exp(d["arrival_log_rate"] + season0),
            "arrival_trend": d["arrival_trend"],
        }
        rows = []

        def add(seg: str, name: str, stage: str, v: np.ndarray) -> None:
            v = np.asarray(v, dtype=float).ravel()
            q = np.quantile(v, [0.05, 0.5, 0.95])
            rows.append((seg, name, stage, float(v.mean()), *map(float, q)))

        for j, seg in enumerate(self.segments):
            for name, da in quantities.items():
                add(seg, name, "", da.isel(segment=j).values)
            if "conversion" in d:
                for k, step in enumerate(d["step"].values):
                    add(seg, "conversion", str(step), d["conversion"].isel(step=k, segment=j))
                    add(
                        seg, "stage_cycle_days_median", str(step),
                        d["stage_cycle_days_median"].isel(step=k, segment=j),
                    )
        return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))

    # ---------------------------------------------------------------- files
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fit as netCDF (groups ``posterior``, ``sample_stats``,
        ``open_pipeline``, ``history``; identity in the posterior's attributes)."""
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
            "stale_after_days": float(self.stale_after_days),
        }
        groups = {"posterior": post}
        if "sample_stats" in self.idata:
            groups["sample_stats"] = self.idata.sample_stats
        out = az.InferenceData(**groups)
        out.add_groups(
            {
                "open_pipeline": frame_to_dataset(self.open_pipeline),
                "history": frame_to_dataset(self.history),
            },
            warn_on_custom_groups=False,
        )
        out.to_netcdf(str(path), engine="h5netcdf")
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FunnelFit:
        """Read a fit written by :meth:`save`.

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
            idata = _read_groups(p)
        except Exception as exc:  # h5py/xarray raise many types for a non-netCDF file
            raise DataError(f"{p}: not a readable fit file ({type(exc).__name__}: {exc})") from exc
        if "posterior" not in idata:
            raise DataError(f"{p}: not a targetsim fit (no posterior group)")
        attrs = dict(idata["posterior"].attrs)
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
            if g not in idata:
                raise DataError(f"{p}: fit file lacks its {g} group")
        groups = {"posterior": idata["posterior"]}
        if "sample_stats" in idata:
            groups["sample_stats"] = idata["sample_stats"]
        return cls(
            idata=az.InferenceData(**groups),
            segments=tuple(json.loads(attrs["segments"])),
            owners=tuple(json.loads(attrs["owners"])),
            stages=tuple(json.loads(attrs["stages"])),
            as_of=pd.Timestamp(attrs["as_of"]),
            config_hash=str(attrs["config_hash"]),
            seed=int(attrs["seed"]),
            diagnostics=Diagnostics.from_dict(json.loads(attrs["diagnostics_json"])),
            open_pipeline=dataset_to_frame(idata["open_pipeline"]),
            history=dataset_to_frame(idata["history"]),
            config=config,
            sampler=str(attrs.get("sampler", "")),
            stale_after_days=float(attrs["stale_after_days"]),
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
    idata = az.InferenceData(posterior=idata.posterior, sample_stats=idata.sample_stats)
    funnel: FunnelData = model.funnel
    return FunnelFit(
        idata=idata,
        segments=funnel.segments,
        owners=funnel.owners,
        stages=funnel.stages,
        as_of=pd.Timestamp(funnel.as_of),
        config_hash=model.config.config_hash(),
        seed=int(random_seed),
        diagnostics=diagnose(idata),
        open_pipeline=funnel.open_pipeline.reset_index(drop=True),
        history=history_table(funnel),
        config=model.config,
        sampler=sampler,
        timings={"compile_seconds": t1 - t0, "sampling_seconds": t2 - t1},
        stale_after_days=model.layout.stale_after_days,
    )


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
