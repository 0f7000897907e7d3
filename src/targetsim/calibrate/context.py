"""Last year beside every target: actuals, run-rate, implied growth, and why a target departs.

A target a sales leader can defend is shown with what the same company, segment or rep did
in the last 12 months. Everything here reads the **data**, never the model: the deals of
:class:`~targetsim.data.funnel.FunnelData` become

* ``actuals.csv``: one row per segment, owner and calendar month of the 24 months up to the
  as-of date: ``segment, owner, month, new_opportunities, deals_won, deals_lost, bookings``
  (``owner`` empty for deals without one; deals whose creation date was imputed are not
  counted as new opportunities);
* ``last_year.csv``: one row per level and name (``total``, each segment, each owner):
  the last 12 months' ``bookings_12m`` and ``deals_won_12m``, the annualised run-rate of the
  last 6 months (``bookings_run_rate``, ``deals_won_run_rate``: twice the last 6 months), and
  what the last 12 months show for the four fitted quantities that set a target's level:
  ``arrivals_per_month``, ``win_rate`` (wins per new opportunity in the window: the
  steady-state reading of the model's created → won probability, not won ÷ closed, which
  ignores deals that never close), ``deal_size_median`` and ``cycle_days_median``.

:func:`add_context` then appends, after the contract columns of ``targets.csv`` (DESIGN.md,
"Extending the contracts"): ``last_year_actual`` (the metric in the last 12 months for FY
rows, in the same quarter a year earlier for quarter rows), ``run_rate`` (FY: annualised
6-month run-rate; quarter: a quarter of it), ``implied_growth`` (the number handed out,
``quota`` when targets.csv has it, else ``target``, ÷ last year − 1),
``context_flag`` (FY rows only: ``below_last_year`` when the target is under last year's
actual, ``above_last_year`` when it is more than :data:`ABOVE_FACTOR` times it) and
``context_driver``: the fitted quantity that departs most from what the last 12 months show
in the direction of the flag (``fit_summary.csv`` median against ``last_year.csv``;
for a rep, the segments' departures weighted by the rep's bookings in each).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from targetsim.calibrate.periods import FY
from targetsim.io import read_csv_output

#: Columns of actuals.csv.
ACTUALS_COLUMNS = [
    "segment", "owner", "month", "new_opportunities", "deals_won", "deals_lost", "bookings",
]
#: Columns of last_year.csv.
LAST_YEAR_COLUMNS = [
    "level", "name", "bookings_12m", "deals_won_12m", "bookings_run_rate", "deals_won_run_rate",
    "arrivals_per_month", "win_rate", "deal_size_median", "cycle_days_median",
]
#: Columns appended to targets.csv, in this order.
CONTEXT_COLUMNS = [
    "last_year_actual", "run_rate", "implied_growth", "context_flag", "context_driver",
]
#: The fitted quantities compared with last year, and the sign of their effect on bookings
#: (a longer cycle pushes wins out of the year).
DRIVERS = {
    "arrivals_per_month": 1.0, "win_rate": 1.0, "deal_size_median": 1.0,
    "cycle_days_median": -1.0,
}
#: A full-year target above this multiple of last year's actual is flagged.
ABOVE_FACTOR = 1.5
BELOW = "below_last_year"
ABOVE = "above_last_year"
#: Months kept in actuals.csv (two years: last year and the year before, for quarters).
ACTUALS_MONTHS = 24


@dataclass(frozen=True)
class LastYear:
    """What the data showed, beside which every target is read.

    Attributes
    ----------
    actuals : DataFrame
        actuals.csv (:func:`actuals_frame`).
    last_year : DataFrame
        last_year.csv (:func:`last_year_frame`).
    as_of : Timestamp
    fit_summary : DataFrame, optional
        fit_summary.csv, to name the fitted quantity behind a flagged target.
    """

    actuals: pd.DataFrame
    last_year: pd.DataFrame
    as_of: pd.Timestamp
    fit_summary: pd.DataFrame | None = None

    @classmethod
    def from_deals(cls, deals: pd.DataFrame, as_of: pd.Timestamp,
                   fit_summary: pd.DataFrame | None = None) -> LastYear:
        """Build it from ``FunnelData.deals``."""
        actuals = actuals_frame(deals, as_of)
        return cls(actuals, last_year_frame(deals, actuals, as_of), pd.Timestamp(as_of),
                   fit_summary)

    @classmethod
    def from_plan_dir(cls, plan_dir: str | Path, as_of: str | pd.Timestamp) -> LastYear | None:
        """Read actuals.csv and last_year.csv (and fit_summary.csv) of a plan; None if absent."""
        d = Path(plan_dir)
        if not (d / "actuals.csv").is_file() or not (d / "last_year.csv").is_file():
            return None
        strs = {"segment": str, "owner": str, "month": str, "level": str, "name": str}
        actuals = read_csv_output(d / "actuals.csv", dtype=strs, keep_default_na=False,
                                  na_values=[""])
        actuals["owner"] = actuals["owner"].fillna("")
        ly = read_csv_output(d / "last_year.csv", dtype=strs, keep_default_na=False,
                             na_values=[""])
        fs = None
        if (d / "fit_summary.csv").is_file():
            fs = read_csv_output(d / "fit_summary.csv", dtype={"segment": str, "stage": str},
                                 keep_default_na=False, na_values=[""])
            fs["stage"] = fs["stage"].fillna("")
        return cls(actuals, ly, pd.Timestamp(as_of), fs)


def _window(as_of: pd.Timestamp, months: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(start, end]`` of the ``months`` whole months up to ``as_of``."""
    end = pd.Timestamp(as_of).normalize()
    return end - pd.DateOffset(months=months), end


def actuals_frame(deals: pd.DataFrame, as_of: pd.Timestamp,
                  months: int = ACTUALS_MONTHS) -> pd.DataFrame:
    """actuals.csv: monthly new opportunities, wins, losses and bookings per segment and owner.

    Parameters
    ----------
    deals : pandas.DataFrame
        ``FunnelData.deals`` (``segment, owner, outcome, created_at, closed_at, amount,
        created_imputed``).
    as_of : Timestamp
    months : int
        Calendar months kept, ending with the as-of month.
    """
    d = deals.copy()
    d["owner"] = d["owner"].astype(object).where(d["owner"].notna(), "") if "owner" in d \
        else ""
    d["segment"] = d["segment"].astype(str)
    end = pd.Timestamp(as_of).normalize()
    first = (end.to_period("M") - (months - 1)).to_timestamp()
    grid = pd.date_range(first, end.to_period("M").to_timestamp(), freq="MS")
    imputed = d["created_imputed"].astype(bool) if "created_imputed" in d else False
    created = d.loc[~imputed & d["created_at"].notna()].assign(
        month=lambda x: x["created_at"].dt.to_period("M").dt.to_timestamp())
    closed = d.loc[d["closed_at"].notna() & (d["closed_at"] <= end)].assign(
        month=lambda x: x["closed_at"].dt.to_period("M").dt.to_timestamp())
    keys = ["segment", "owner", "month"]
    new = created.groupby(keys).size().rename("new_opportunities")
    won = closed.loc[closed["outcome"].eq("won")]
    wins = won.groupby(keys).size().rename("deals_won")
    book = won.assign(amount=won["amount"].fillna(0.0)).groupby(keys)["amount"].sum()
    lost = closed.loc[closed["outcome"].eq("lost")].groupby(keys).size().rename("deals_lost")
    pairs = d[["segment", "owner"]].drop_duplicates().sort_values(["segment", "owner"])
    index = pd.MultiIndex.from_tuples(
        [(s, o, m) for s, o in pairs.itertuples(index=False) for m in grid], names=keys)
    out = pd.concat([new, wins, lost, book.rename("bookings")], axis=1).reindex(index)
    out = out.fillna(0.0).reset_index()
    for c in ("new_opportunities", "deals_won", "deals_lost"):
        out[c] = out[c].astype(np.int64)
    out["month"] = out["month"].dt.strftime("%Y-%m")
    return out[ACTUALS_COLUMNS]


def _sums(actuals: pd.DataFrame, as_of: pd.Timestamp, months: int) -> pd.DataFrame:
    end = pd.Timestamp(as_of).to_period("M")
    keep = pd.PeriodIndex(actuals["month"], freq="M") > end - months
    return actuals.loc[keep]


def last_year_frame(deals: pd.DataFrame, actuals: pd.DataFrame,
                    as_of: pd.Timestamp) -> pd.DataFrame:
    """last_year.csv: last 12 months per level and name (see the module docstring)."""
    y = _sums(actuals, as_of, 12)
    h = _sums(actuals, as_of, 6)
    start, end = _window(as_of, 12)
    d = deals.copy()
    d["owner"] = d["owner"].astype(object).where(d["owner"].notna(), "") if "owner" in d \
        else ""
    won = d.loc[d["outcome"].eq("won") & (d["closed_at"] > start) & (d["closed_at"] <= end)]
    if "created_imputed" in won:
        dated = won.loc[~won["created_imputed"].astype(bool)]
    else:
        dated = won

    def row(level: str, name: str, ysel: pd.DataFrame, hsel: pd.DataFrame,
            wsel: pd.DataFrame, dsel: pd.DataFrame) -> dict[str, object]:
        new = float(ysel["new_opportunities"].sum())
        n_won = float(ysel["deals_won"].sum())
        return {
            "level": level, "name": name,
            "bookings_12m": float(ysel["bookings"].sum()),
            "deals_won_12m": n_won,
            "bookings_run_rate": 2.0 * float(hsel["bookings"].sum()),
            "deals_won_run_rate": 2.0 * float(hsel["deals_won"].sum()),
            "arrivals_per_month": new / 12.0,
            "win_rate": n_won / new if new > 0 else float("nan"),
            "deal_size_median": float(wsel["amount"].median()) if len(wsel) else float("nan"),
            "cycle_days_median": float(dsel["duration_days"].median())
            if len(dsel) and "duration_days" in dsel else float("nan"),
        }

    rows = [row("total", "total", y, h, won, dated)]
    for seg in sorted(actuals["segment"].astype(str).unique()):
        rows.append(row("segment", seg, y[y["segment"] == seg], h[h["segment"] == seg],
                        won[won["segment"].astype(str) == seg],
                        dated[dated["segment"].astype(str) == seg]))
    owners = sorted(o for o in actuals["owner"].astype(str).unique() if o)
    for own in owners:
        rows.append(row("owner", own, y[y["owner"] == own], h[h["owner"] == own],
                        won[won["owner"].astype(str) == own],
                        dated[dated["owner"].astype(str) == own]))
    return pd.DataFrame(rows, columns=LAST_YEAR_COLUMNS)


class _QuarterActuals:
    """Actuals per quarter, summed once: the same quarter a year before a quarter's target."""

    def __init__(self, actuals: pd.DataFrame) -> None:
        a = actuals.assign(quarter=pd.PeriodIndex(actuals["month"], freq="M").asfreq("Q"))
        cols = ["bookings", "deals_won"]
        self.covered = {str(m) for m in actuals["month"]}
        self.by = {"total": a.groupby("quarter")[cols].sum(),
                   "segment": a.groupby(["quarter", "segment"])[cols].sum(),
                   "owner": a.groupby(["quarter", "owner"])[cols].sum()}

    def get(self, period: str, level: str, name: str, metric: str) -> float:
        q = pd.Period(period.replace("-", ""), freq="Q") - 4
        months = {str(m) for m in pd.period_range(q.start_time, q.end_time, freq="M")}
        if not months <= self.covered:
            return float("nan")
        table = self.by[level]
        key = q if level == "total" else (q, name)
        return float(table.loc[key, metric]) if key in table.index else 0.0


def fit_departures(fit_summary: pd.DataFrame, last_year: pd.DataFrame) -> pd.DataFrame:
    """Per segment (and ``total``), log(fit ÷ last year) of each driver, signed by its effect.

    Positive: the fitted quantity pushes the target above what last year showed. The total
    row weights segments by last year's bookings.
    """
    fs = fit_summary.loc[fit_summary["parameter"].isin(DRIVERS)]
    fs = fs.loc[fs["stage"].fillna("").astype(str).eq("")] if "stage" in fs else fs
    fitted = fs.pivot_table(index="segment", columns="parameter", values="q50", aggfunc="first")
    ly = last_year.loc[last_year["level"] == "segment"].set_index("name")
    rows = {}
    for seg in fitted.index.astype(str):
        if seg not in ly.index:
            continue
        vals = {}
        for q, sign in DRIVERS.items():
            f = float(fitted.loc[seg, q]) if q in fitted.columns else float("nan")
            h = float(ly.loc[seg, q])
            ok = math.isfinite(f) and math.isfinite(h) and f > 0 and h > 0
            vals[q] = sign * math.log(f / h) if ok else float("nan")
        rows[seg] = vals
    out = pd.DataFrame.from_dict(rows, orient="index", columns=list(DRIVERS))
    if len(out):
        w = ly.reindex(out.index)["bookings_12m"].fillna(0.0).to_numpy()
        w = w if w.sum() > 0 else np.ones(len(out))
        out.loc["total"] = [_wavg(out[c].to_numpy(), w) for c in out.columns]
    return out


def _wavg(x: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(x) & (w > 0)
    return float(np.average(x[ok], weights=w[ok])) if ok.any() else float("nan")


def driver_of(departures: pd.Series, flag: str) -> str:
    """The fitted quantity departing most from last year in the flag's direction ('' if none)."""
    d = departures.dropna()
    if d.empty or not flag:
        return ""
    d = -d if flag == BELOW else d
    best = d.idxmax()
    return str(best) if d[best] > 0 else ""


def _owner_departures(last_12: pd.DataFrame, departures: pd.DataFrame,
                      owner: str) -> pd.Series:
    """A rep's departures: the segments' weighted by the rep's bookings in each (``last_12``:
    the actuals of the last 12 months)."""
    mine = last_12.loc[last_12["owner"] == owner].groupby("segment")["bookings"].sum()
    segs = [s for s in mine.index if s in departures.index]
    if not segs or mine[segs].sum() <= 0:
        return departures.loc["total"] if "total" in departures.index else pd.Series(dtype=float)
    w = mine[segs].to_numpy(dtype=float)
    return pd.Series({c: _wavg(departures.loc[segs, c].to_numpy(), w)
                      for c in departures.columns})


def add_context(targets: pd.DataFrame, actuals: pd.DataFrame, last_year: pd.DataFrame,
                fit_summary: pd.DataFrame | None, as_of: pd.Timestamp) -> pd.DataFrame:
    """targets.csv with :data:`CONTEXT_COLUMNS` appended after its own columns.

    Parameters
    ----------
    targets : DataFrame
        Contract columns (and any other columns already appended).
    actuals, last_year : DataFrame
        :func:`actuals_frame` and :func:`last_year_frame`.
    fit_summary : DataFrame, optional
        ``fit_summary.csv``; without it flags carry no driver.
    as_of : Timestamp
        The data's as-of date.
    """
    ly = last_year.set_index(["level", "name"])
    dep = (fit_departures(fit_summary, last_year) if fit_summary is not None
           else pd.DataFrame(columns=list(DRIVERS)))
    owner_dep: dict[str, pd.Series] = {}
    quarters = _QuarterActuals(actuals)
    last_12 = _sums(actuals, as_of, 12)
    cols: dict[str, list[object]] = {c: [] for c in CONTEXT_COLUMNS}
    for r in targets.itertuples(index=False):
        level, name, metric, period = str(r.level), str(r.name), str(r.metric), str(r.period)
        key = (level, name)
        if key not in ly.index:
            actual = run = float("nan")
        elif period == FY:
            actual = float(ly.loc[key, f"{metric}_12m"])
            run = float(ly.loc[key, f"{metric}_run_rate"])
        else:
            actual = quarters.get(period, level, name, metric)
            run = float(ly.loc[key, f"{metric}_run_rate"]) / 4.0
        quota = getattr(r, "quota", float("nan"))
        target = float(quota) if quota == quota and quota is not None else float(r.target)
        growth = target / actual - 1.0 if math.isfinite(actual) and actual > 0 else float("nan")
        flag = ""
        if period == FY and math.isfinite(actual) and actual > 0:
            if target < actual:
                flag = BELOW
            elif target > ABOVE_FACTOR * actual:
                flag = ABOVE
        driver = ""
        if flag:
            if level == "owner":
                if name not in owner_dep:
                    owner_dep[name] = _owner_departures(last_12, dep, name)
                driver = driver_of(owner_dep[name], flag)
            elif (name if level == "segment" else "total") in dep.index:
                driver = driver_of(dep.loc[name if level == "segment" else "total"], flag)
        for c, v in zip(CONTEXT_COLUMNS, (actual, run, growth, flag, driver), strict=True):
            cols[c].append(v)
    out = targets.drop(columns=[c for c in CONTEXT_COLUMNS if c in targets]).copy()
    for c in CONTEXT_COLUMNS:
        out[c] = cols[c]
    return out


def compare_with_fit(fit_summary: pd.DataFrame, last_year: pd.DataFrame,
                     name: str = "total") -> pd.DataFrame:
    """Fitted median beside last year's figure for each driver of one segment or the total.

    Returns ``quantity, fitted, last_year, ratio``. For the total, arrivals are summed over
    segments; rates, sizes and cycles are the segments' weighted by last year's bookings, on
    both sides alike (a median of all deals would compare a mix of products with its parts:
    on the demo the company's median deal is $1.1K, the bookings-weighted one $5K).
    """
    fs = fit_summary.loc[fit_summary["parameter"].isin(DRIVERS)]
    fs = fs.loc[fs["stage"].fillna("").astype(str).eq("")]
    fitted = fs.pivot_table(index="segment", columns="parameter", values="q50", aggfunc="first")
    ly = last_year.set_index(["level", "name"])
    if name == "total":
        segs = ly.loc["segment"] if "segment" in ly.index.get_level_values(0) else None
        w = (segs.reindex(fitted.index)["bookings_12m"].fillna(0.0).to_numpy()
             if segs is not None else np.ones(len(fitted)))
        fit_vals = {q: (float(fitted[q].sum()) if q == "arrivals_per_month"
                        else _wavg(fitted[q].to_numpy(dtype=float), w))
                    for q in DRIVERS if q in fitted.columns}
        hist = ly.loc[("total", "total")].copy()
        if segs is not None:
            seg_ly = segs.reindex(fitted.index)
            for q in fit_vals:
                if q != "arrivals_per_month":
                    hist[q] = _wavg(seg_ly[q].to_numpy(dtype=float), w)
    else:
        if name not in fitted.index or ("segment", name) not in ly.index:
            return pd.DataFrame(columns=["quantity", "fitted", "last_year", "ratio"])
        fit_vals = {q: float(fitted.loc[name, q]) for q in DRIVERS if q in fitted.columns}
        hist = ly.loc[("segment", name)]
    rows = []
    for q, f in fit_vals.items():
        h = float(hist[q])
        rows.append((q, f, h, f / h if h > 0 and math.isfinite(h) else float("nan")))
    return pd.DataFrame(rows, columns=["quantity", "fitted", "last_year", "ratio"])
