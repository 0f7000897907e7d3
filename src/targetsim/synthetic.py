"""Synthetic CRM exports drawn from known funnel parameters.

The generator is the model's own story told forwards (see :mod:`targetsim.model.params`):
opportunities arrive per calendar month, each is eventually won, lost or stalls, wins and
losses happen after log-normal durations, and whatever has not closed by ``as_of`` is
``open``. Parameter-recovery tests, the simulation-based calibration and the benchmarks
fit the model to these exports and compare the posterior with the truth.

Time convention (shared with the model and the simulator): a deal created on day ``c``
that closes after a continuous duration ``t`` days closes on the calendar day
``c + floor(t)``. The observed whole-day duration ``d = floor(t)`` therefore brackets ``t``
in ``[d, d + 1)`` and the model reads it as ``d + 0.5`` days.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from targetsim.data.funnel import FunnelData, Opportunities, build_funnel
from targetsim.errors import ConfigError
from targetsim.model.outcomes import LogNormalOutcome
from targetsim.model.params import FunnelParams, LogNormalSize

#: Canonical columns of a generated export, in order.
CANONICAL_COLUMNS = (
    "opportunity_id",
    "created_at",
    "outcome",
    "closed_at",
    "amount",
    "segment",
    "owner",
)
#: Name of the one intermediate stage written when ``stages=True``.
SYNTHETIC_STAGE = "qualified"


def _month_windows(as_of: pd.Timestamp, history_months: int) -> list[tuple[int, pd.Timestamp, int]]:
    """``(m, first day, observed days)`` of each history month, ``m = 0`` the as-of month."""
    out = []
    as_of_month = as_of.to_period("M")
    for m in range(-(history_months - 1), 1):
        period = as_of_month + m
        start = period.start_time.normalize()
        days = period.days_in_month if m < 0 else as_of.day
        out.append((m, start, int(days)))
    return out


def _owner_names(truth: FunnelParams, owners_per_segment: int) -> tuple[list[list[str]], dict]:
    """Owner names per segment and each owner's effect (first draw)."""
    segs = truth.segments
    if owners_per_segment <= 0:
        return [[] for _ in segs], {}
    n_needed = len(segs) * owners_per_segment
    if len(truth.owners) == 0:
        names = [[f"{s}-rep{k + 1}" for k in range(owners_per_segment)] for s in segs]
        return names, {}
    if len(truth.owners) != n_needed:
        raise ConfigError(
            f"truth has {len(truth.owners)} owners but owners_per_segment={owners_per_segment} "
            f"over {len(segs)} segments needs {n_needed} (segment by segment, in order)"
        )
    names = [
        list(truth.owners[i * owners_per_segment : (i + 1) * owners_per_segment])
        for i in range(len(segs))
    ]
    effects = {o: float(truth.owner_effect[0, j]) for j, o in enumerate(truth.owners)}
    return names, effects


def generate_crm(
    truth: FunnelParams,
    *,
    history_months: int = 18,
    random_seed: int = 0,
    owners_per_segment: int = 0,
    stages: bool = False,
) -> pd.DataFrame:
    """Draw a canonical CRM export from known funnel parameters.

    Parameters
    ----------
    truth : FunnelParams
        Known parameters; only the first draw is used. ``truth.as_of`` is the export date.
    history_months : int, default 18
        Calendar months of history ending with the month of ``as_of`` (which is observed
        up to and including ``as_of``).
    random_seed : int, default 0
        Seed; the same seed gives the same export.
    owners_per_segment : int, default 0
        Number of reps per segment; deals are assigned uniformly to the reps of their
        segment. When ``truth.owners`` is non-empty it must list
        ``len(segments) * owners_per_segment`` names, segment by segment, and their
        ``owner_effect`` shifts the win logit; otherwise reps are named ``<segment>-repK``
        and have no effect.
    stages : bool, default False
        Add a ``qualified_at`` column: the date the deal entered the intermediate stage
        ``qualified``. Won deals passed it at a uniform fraction (0.2 to 0.6) of their
        cycle; lost deals did so before losing with probability 0.5; stalled deals with
        probability 0.5 at a LogNormal(log 20, 0.5)-day age. Dates after ``as_of`` are
        left empty.

    Returns
    -------
    pandas.DataFrame
        Columns ``opportunity_id, created_at, outcome, closed_at, amount, segment, owner``
        (plus ``qualified_at`` with ``stages``). ``amount`` is the won value for won deals,
        an estimate drawn from the same distribution for open deals, NaN for lost ones.
        ``owner`` is None without owners.

    Raises
    ------
    ConfigError
        If ``history_months`` < 1 or the owners of ``truth`` do not match.
    """
    if history_months < 1:
        raise ConfigError(f"history_months must be >= 1, got {history_months}")
    as_of = pd.Timestamp(truth.as_of).normalize()
    owner_names, owner_eff = _owner_names(truth, owners_per_segment)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(random_seed).spawn(3)]
    rng_arr, rng_deal, rng_stage = streams

    windows = _month_windows(as_of, history_months)
    frames = []
    out_c = truth.outcome
    if not isinstance(out_c, LogNormalOutcome) or not isinstance(truth.size, LogNormalSize):
        raise ConfigError("generate_crm tells the log-normal components' story: give "
                          "FunnelParams with LogNormalOutcome and LogNormalSize")
    log_mean = truth.arrivals.log_mean(np.array([m for m, _, _ in windows]), 0)  # (S, M)
    for j, seg in enumerate(truth.segments):
        alpha = truth.arrivals.alpha[0, j]
        created = []
        for i, (_, start, days) in enumerate(windows):
            full_days = start.days_in_month
            mean = np.exp(log_mean[j, i]) * days / full_days
            if np.isinf(alpha):
                n = rng_arr.poisson(mean)
            else:
                # Gamma-Poisson mixture: variance = mean + mean**2 / alpha.
                n = rng_arr.poisson(rng_arr.gamma(alpha, mean / alpha))
            offs = rng_arr.integers(0, days, size=n)
            created.append(start + pd.to_timedelta(np.sort(offs), unit="D"))
        created_at = pd.DatetimeIndex(np.concatenate([c.to_numpy() for c in created]))
        n = len(created_at)

        owners = owner_names[j]
        if owners:
            owner = np.asarray(owners, dtype=object)[rng_deal.integers(0, len(owners), size=n)]
            eff = np.array([owner_eff.get(o, 0.0) for o in owner])
        else:
            owner = np.full(n, None, dtype=object)
            eff = np.zeros(n)
        pw0 = float(out_c.p_win[0, j])
        pl0 = float(out_c.p_lost[0, j])
        pw = expit(logit(np.clip(pw0, 1e-12, 1 - 1e-12)) + eff) if owners else np.full(n, pw0)
        # The non-win mass is split between loss and stall in the segment's ratio.
        lost_share = pl0 / (1.0 - pw0) if pw0 < 1.0 else 0.0
        pl = (1.0 - pw) * lost_share
        u = rng_deal.random(n)
        fate = np.where(u < pw, 0, np.where(u < pw + pl, 1, 2))  # 0 won, 1 lost, 2 stall

        t_won = rng_deal.lognormal(out_c.won_mu[0, j], out_c.won_sigma[0, j], size=n)
        t_lost = rng_deal.lognormal(out_c.lost_mu[0, j], out_c.lost_sigma[0, j], size=n)
        size = rng_deal.lognormal(truth.size.size_mu[0, j], truth.size.size_sigma[0, j], size=n)
        t_close = np.where(fate == 0, t_won, np.where(fate == 1, t_lost, np.inf))
        close_days = np.floor(np.minimum(t_close, 1e5))
        closed_at = created_at + pd.to_timedelta(close_days, unit="D")
        closed = (fate < 2) & (closed_at <= as_of)
        outcome = np.where(closed, np.where(fate == 0, "won", "lost"), "open")
        amount = np.where(outcome == "lost", np.nan, np.round(size, 2))
        frame = pd.DataFrame(
            {
                "created_at": created_at,
                "outcome": outcome,
                "closed_at": pd.Series(closed_at).where(closed, pd.NaT).to_numpy(),
                "amount": amount,
                "segment": seg,
                "owner": owner,
            }
        )
        if stages:
            frac = rng_stage.uniform(0.2, 0.6, size=n)
            reach = rng_stage.random(n) < 0.5
            t_stall = rng_stage.lognormal(np.log(20.0), 0.5, size=n)
            t_stage = np.where(
                fate == 0,
                frac * t_won,
                np.where(reach, np.where(fate == 1, frac * t_lost, t_stall), np.nan),
            )
            stage_at = created_at + pd.to_timedelta(np.floor(np.nan_to_num(t_stage)), unit="D")
            ok = ~np.isnan(t_stage) & (stage_at <= as_of)
            frame[f"{SYNTHETIC_STAGE}_at"] = pd.Series(stage_at).where(ok, pd.NaT).to_numpy()
        frames.append(frame)

    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["created_at", "segment"], kind="stable").reset_index(drop=True)
    out.insert(0, "opportunity_id", [f"SYN{i:07d}" for i in range(len(out))])
    return out


def opportunities_from_frame(
    table: pd.DataFrame, as_of: str | pd.Timestamp, *, stages: tuple[str, ...] = ()
) -> Opportunities:
    """Wrap a canonical frame (as :func:`generate_crm` returns) as :class:`Opportunities`.

    Every creation date is real (``created_imputed`` False) and ``row`` is the spreadsheet
    row of a CSV export of the frame.
    """
    t = table.copy()
    t["created_imputed"] = False
    t["row"] = np.arange(2, len(t) + 2)
    return Opportunities(table=t, as_of=pd.Timestamp(as_of), stages=stages, source="<synthetic>")


def synthetic_funnel(
    truth: FunnelParams,
    *,
    history_months: int = 18,
    random_seed: int = 0,
    owners_per_segment: int = 0,
    stages: bool = False,
) -> FunnelData:
    """Funnel facts of a synthetic export: :func:`generate_crm` then ``build_funnel``.

    Parameters are those of :func:`generate_crm`.
    """
    table = generate_crm(
        truth,
        history_months=history_months,
        random_seed=random_seed,
        owners_per_segment=owners_per_segment,
        stages=stages,
    )
    st = (SYNTHETIC_STAGE,) if stages else ()
    return build_funnel(opportunities_from_frame(table, truth.as_of, stages=st))
