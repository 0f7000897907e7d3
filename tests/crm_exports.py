"""Realistic CRM exports written by the tests, with their truth (nothing copied from a CRM).

:func:`generate_deals` simulates deals walking through a CRM's stages (dwell times, losses,
skipped stages, moves back and forth, reopenings are not generated) up to an as-of date, and
keeps the truth: each deal's outcome, dates, amount in the plan's currency, and the date it
*first reached* each stage going forward (empty for a stage it skipped, even if it came
back to it later). Writers then lay that truth out the way each CRM exports it, quirks
included:

* :func:`write_salesforce_report`: a Salesforce opportunity report (labels such as
  ``Opportunity ID``, ``Stage``, ``Created Date``; US dates ``3/14/2017``; formatted amounts
  ``12,000.00`` with an ``Opportunity Currency`` column; deals repeated by a join to
  products; the report footer; an expected ``Close Date`` on open deals);
* :func:`write_salesforce_api` and :func:`write_salesforce_history`: a Data Loader export of
  ``Opportunity`` (API names, ISO date-times, ``IsDeleted`` rows, ``IsClosed``/``IsWon``
  flags, a custom lost stage, the same deal exported twice with different
  ``LastModifiedDate``) and of ``OpportunityHistory`` (one row per stage change);
* :func:`write_hubspot`: a HubSpot deals export (``Record ID``, ``Deal Stage``,
  ``Create Date``, ``Pipeline``, ``Amount in company currency``, ``Date entered "<stage>
  (<pipeline>)"`` columns, a second pipeline with custom stage names);
* :func:`write_lead_funnel`: a lead-level marketing funnel where unconverted leads stay
  open for ever and won rows carry the placeholder amount 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SF_STAGES = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
             "Negotiation/Review")
HS_STAGES = ("Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
             "Decision Maker Bought-In", "Contract Sent")
RENEWAL_STAGES = ("Renewal due", "Quote sent")
OWNERS = ("Alice Martin", "Bruno Costa", "Chloé Durand", "Deepak Rao", "Emma Schulz",
          "Farid Haddad")
TYPES = ("New Business", "Existing Business")
#: Value of one euro in the plan's currency (dollars) in the generated exports.
EUR_RATE = 1.10


@dataclass(frozen=True)
class DealTruth:
    """What the generated CRM really holds.

    Attributes
    ----------
    deals : pandas.DataFrame
        ``id, created (Timestamp with time), outcome, closed (Timestamp or NaT), amount
        (plan currency), currency, amount_local, owner, type, stage (current CRM stage
        name), expected_close (open deals)``.
    changes : pandas.DataFrame
        Every stage change up to as-of: ``id, stage, at`` (creation included).
    reached : pandas.DataFrame
        Index ``id``, one column per open stage: the day the deal first reached it going
        forward (NaT if it skipped it or never got there).
    moves_back : pandas.Series
        Moves to an earlier open stage per deal.
    as_of : pandas.Timestamp
    stages : tuple of str
    """

    deals: pd.DataFrame
    changes: pd.DataFrame
    reached: pd.DataFrame
    moves_back: pd.Series
    as_of: pd.Timestamp
    stages: tuple[str, ...]


def generate_deals(
    n: int,
    *,
    stages: tuple[str, ...] = SF_STAGES,
    won_stage: str = "Closed Won",
    lost_stage: str = "Closed Lost",
    start: str = "2016-01-01",
    as_of: str = "2017-12-31",
    p_lost: float = 0.18,
    p_skip: float = 0.08,
    p_back: float = 0.10,
    p_return_to_skipped: float = 0.3,
    eur_share: float = 0.2,
    seed: int = 0,
    id_prefix: str = "0065g00000",
) -> DealTruth:
    """Deals walking forward through ``stages``, lost at each stage with ``p_lost``.

    Dwell times per stage are gamma (shape 2, mean 9 days); a deal may skip a stage
    (``p_skip``), step back to the previous stage and return (``p_back``, a move back), or
    after skipping a stage come back to it later (``p_return_to_skipped``, a move back; the
    skipped stage then has no forward date). Won amounts are log-normal (median 20,000).
    """
    rng = np.random.default_rng(seed)
    t0, t_end = pd.Timestamp(start), pd.Timestamp(as_of)
    span = (t_end - t0).days
    rows, changes, reached_rows = [], [], []
    backs: dict[str, int] = {}
    for i in range(n):
        did = f"{id_prefix}{i:05d}"
        created = t0 + pd.Timedelta(days=float(rng.uniform(0, span)))
        created = created.floor("min")
        t = created
        k = 0
        reached = {s: pd.NaT for s in stages}
        reached[stages[0]] = created.normalize()
        path = [(stages[0], created)]
        outcome = None
        skipped: list[int] = []
        while True:
            t = t + pd.Timedelta(days=float(rng.gamma(2.0, 4.5)))
            if rng.random() < p_lost:
                outcome, path = "lost", path + [(lost_stage, t)]
                break
            if skipped and rng.random() < p_return_to_skipped:
                j = skipped.pop()  # back to a skipped stage, then forward again
                path.append((stages[j], t))
                t = t + pd.Timedelta(days=float(rng.gamma(2.0, 2.0)))
                path.append((stages[k], t))
                continue
            if k >= 1 and rng.random() < p_back:
                path.append((stages[k - 1], t))
                t = t + pd.Timedelta(days=float(rng.gamma(2.0, 2.0)))
                path.append((stages[k], t))
                continue
            if k == len(stages) - 1:
                outcome, path = "won", path + [(won_stage, t)]
                break
            step = 2 if (k + 2 < len(stages) and rng.random() < p_skip) else 1
            if step == 2:
                skipped.append(k + 1)
            k += step
            path.append((stages[k], t))
            if pd.isna(reached[stages[k]]):
                reached[stages[k]] = t.normalize()
        seen = [(s, at) for s, at in path if at.normalize() <= t_end]
        closed = path[-1][1] if path[-1][1].normalize() <= t_end else pd.NaT
        final = outcome if pd.notna(closed) else "open"
        # count only the moves back that happened by as-of
        n_back = 0
        idx = {s: j for j, s in enumerate(stages)}
        for (a, _), (b, _) in zip(seen, seen[1:], strict=False):
            if a in idx and b in idx and idx[b] < idx[a]:
                n_back += 1
        backs[did] = n_back
        for s in stages:
            if pd.notna(reached[s]) and reached[s] > t_end:
                reached[s] = pd.NaT
        amount = float(np.round(np.exp(rng.normal(np.log(20_000), 0.6)), -2))
        currency = "EUR" if rng.random() < eur_share else "USD"
        local = amount / EUR_RATE if currency == "EUR" else amount
        expected = pd.NaT
        if final == "open":
            expected = (t_end + pd.Timedelta(days=float(rng.uniform(-40, 150)))).normalize()
        rows.append({
            "id": did, "created": created, "outcome": final,
            "closed": closed.normalize() if pd.notna(closed) else pd.NaT,
            "amount": amount, "currency": currency, "amount_local": round(local, 2),
            "owner": OWNERS[int(rng.integers(len(OWNERS)))],
            "type": TYPES[int(rng.random() < 0.35)],
            "stage": seen[-1][0], "expected_close": expected,
        })
        changes += [{"id": did, "stage": s, "at": at} for s, at in seen]
        reached_rows.append({"id": did, **{s: reached[s] for s in stages}})
    deals = pd.DataFrame(rows)
    return DealTruth(
        deals=deals,
        changes=pd.DataFrame(changes),
        reached=pd.DataFrame(reached_rows).set_index("id"),
        moves_back=pd.Series(backs, name="moves_back"),
        as_of=t_end,
        stages=tuple(stages),
    )


def _us_date(ts: pd.Timestamp) -> str:
    return "" if pd.isna(ts) else f"{ts.month}/{ts.day}/{ts.year}"


def write_salesforce_report(truth: DealTruth, path: Path, *, seed: int = 1,
                            duplicate_share: float = 0.04) -> dict[str, int]:
    """A Salesforce "Opportunities" report exported as CSV (Details Only).

    Returns the counts of the quirks written (``duplicates``, ``footer_lines``).
    """
    rng = np.random.default_rng(seed)
    d = truth.deals
    prob = {"Prospecting": 10, "Qualification": 20, "Needs Analysis": 40,
            "Proposal/Price Quote": 75, "Negotiation/Review": 90, "Closed Won": 100,
            "Closed Lost": 0}
    rows = []
    for r in d.itertuples():
        close = r.closed if r.outcome != "open" else r.expected_close
        rows.append({
            "Opportunity Owner": r.owner,
            "Account Name": f"Account {r.id[-4:]}",
            "Opportunity Name": f"{r.type} deal {r.id[-5:]}",
            "Opportunity ID": r.id[:15],
            "Stage": r.stage,
            "Type": r.type,
            "Lead Source": ["Web", "Partner", "Trade Show", "Phone Inquiry"][int(r.id[-1]) % 4],
            "Fiscal Period": f"Q{(close.month - 1) // 3 + 1}-{close.year}",
            "Opportunity Currency": r.currency,
            "Amount": f"{r.amount_local:,.2f}",
            "Probability (%)": f"{prob.get(r.stage, 50)}%",
            "Created Date": _us_date(r.created),
            "Close Date": _us_date(close),
        })
    frame = pd.DataFrame(rows)
    dup = frame.sample(frac=duplicate_share, random_state=int(rng.integers(1 << 30)))
    frame = pd.concat([frame, dup]).sort_index(kind="stable").reset_index(drop=True)
    footer = [
        "",
        '"Opportunities by Stage"',
        '"Copyright (c) 2000-2018 salesforce.com, inc. All rights reserved."',
        '"Confidential Information - Do Not Distribute"',
        '"Generated By:  Sales Ops  1/2/2018 9:14 AM"',
        '"Acme Hardware"',
    ]
    text = frame.to_csv(index=False, quoting=1, lineterminator="\n")
    path.write_text(text + "\n".join(footer) + "\n", encoding="utf-8")
    return {"duplicates": len(dup), "footer_lines": len(footer)}


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def write_salesforce_api(truth: DealTruth, path: Path, *, seed: int = 2,
                         deleted: int = 25, stale_copies: int = 30,
                         custom_lost: str = "Closed - No Budget") -> dict[str, int]:
    """A Data Loader export of ``Opportunity`` (API names), with deleted rows and stale copies.

    A third of the lost deals are in the custom closed stage ``custom_lost``, which only
    the ``IsClosed``/``IsWon`` flags identify as lost.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for r in truth.deals.itertuples():
        stage = r.stage
        if r.outcome == "lost" and rng.random() < 1 / 3:
            stage = custom_lost
        close = r.closed if r.outcome != "open" else r.expected_close
        modified = (r.closed if pd.notna(r.closed) else truth.as_of) + pd.Timedelta(hours=17)
        rows.append({
            "Id": r.id + "AAA", "IsDeleted": "false", "Name": f"Deal {r.id[-5:]}",
            "StageName": stage, "Amount": r.amount_local, "CloseDate": close.strftime("%Y-%m-%d"),
            "Type": r.type, "IsClosed": str(r.outcome != "open").lower(),
            "IsWon": str(r.outcome == "won").lower(),
            "OwnerId": f"0055g0000{OWNERS.index(r.owner)}",
            "CreatedDate": _iso(r.created), "LastModifiedDate": _iso(modified),
            "CurrencyIsoCode": r.currency,
        })
    frame = pd.DataFrame(rows)
    ghosts = frame.sample(n=deleted, random_state=int(rng.integers(1 << 30))).copy()
    ghosts["Id"] = [f"0065g0000ZZ{i:04d}AAA" for i in range(len(ghosts))]
    ghosts["IsDeleted"] = "true"
    closed = frame.loc[frame["IsClosed"].eq("true")]
    stale = closed.sample(n=stale_copies, random_state=int(rng.integers(1 << 30))).copy()
    stale["StageName"] = "Negotiation/Review"
    stale["IsClosed"] = "false"
    stale["IsWon"] = "false"
    stale["LastModifiedDate"] = [
        _iso(pd.Timestamp(m[:19]) - pd.Timedelta(days=3)) for m in stale["LastModifiedDate"]
    ]
    out = pd.concat([stale, frame, ghosts]).reset_index(drop=True)
    out.to_csv(path, index=False)
    return {"deleted": deleted, "stale_copies": stale_copies}


def write_salesforce_history(truth: DealTruth, path: Path) -> int:
    """``OpportunityHistory`` as Data Loader exports it: one row per stage change."""
    c = truth.changes
    frame = pd.DataFrame({
        "Id": [f"0085g0000{i:07d}" for i in range(len(c))],
        "OpportunityId": c["id"] + "AAA",
        "StageName": c["stage"],
        "CreatedDate": [_iso(t) for t in c["at"]],
    })
    # exports are ordered by Id, not by time within a deal: shuffle to make that visible
    frame = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    frame.to_csv(path, index=False)
    return len(frame)


def _hs_date(ts: pd.Timestamp) -> str:
    return "" if pd.isna(ts) else ts.strftime("%Y-%m-%d %H:%M")


def write_hubspot(truth: DealTruth, path: Path, *, pipeline: str = "Sales Pipeline",
                  renewals: DealTruth | None = None, date_entered: bool = True) -> None:
    """A HubSpot deals export (``renewals``: a second pipeline with custom stage names)."""
    parts = [(truth, pipeline)] + ([(renewals, "Renewals")] if renewals is not None else [])
    frames = []
    for tr, pipe in parts:
        rows = []
        entered = tr.changes.groupby(["id", "stage"])["at"].min()
        for r in tr.deals.itertuples():
            close = r.closed if r.outcome != "open" else r.expected_close
            row = {
                "Record ID": str(int(r.id[-5:]) + (900000 if pipe == "Renewals" else 100000)),
                "Deal Name": f"{r.type} {r.id[-5:]}",
                "Deal Stage": r.stage,
                "Pipeline": pipe,
                "Amount": r.amount_local,
                "Currency": r.currency,
                "Amount in company currency": r.amount,
                "Close Date": _hs_date(close + pd.Timedelta(hours=16)) if pd.notna(close) else "",
                "Create Date": _hs_date(r.created),
                "Deal owner": r.owner,
                "Deal Type": "newbusiness" if r.type == "New Business" else "existingbusiness",
                "Last Modified Date": _hs_date(tr.as_of),
            }
            if date_entered:
                for s in (*tr.stages, "Closed Won", "Closed Lost") if pipe != "Renewals" else (
                        *tr.stages, "Renewed", "Churned"):
                    when = entered.get((r.id, s), pd.NaT)
                    row[f'Date entered "{s} ({pipe})"'] = _hs_date(when)
            rows.append(row)
        frames.append(pd.DataFrame(rows))
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)


@dataclass(frozen=True)
class LeadTruth:
    """A lead funnel's truth: conversion probability per source, conversion delays."""

    leads: pd.DataFrame
    p_convert: dict[str, float]
    mean_delay_days: float
    as_of: pd.Timestamp


def generate_leads(
    n: int = 3_343,
    *,
    sources: int = 10,
    start: str = "2024-01-01",
    months: int = 3,
    mean_delay_days: float = 14.0,
    seed: int = 0,
) -> LeadTruth:
    """Leads arriving uniformly over ``months``; a lead of source *s* converts with
    probability ``p_s`` (0.04 to 0.22) after a gamma delay (shape 2, mean
    ``mean_delay_days``); the others never do, and are never marked lost."""
    rng = np.random.default_rng(seed)
    names = [f"source_{i:02d}" for i in range(sources)]
    p = dict(zip(names, np.round(np.linspace(0.04, 0.22, sources), 3), strict=True))
    t0 = pd.Timestamp(start)
    as_of = (t0 + pd.DateOffset(months=months)) - pd.Timedelta(days=1)
    span = (as_of - t0).days + 1
    src = rng.choice(names, size=n)
    created = t0 + pd.to_timedelta(rng.uniform(0, span, size=n), unit="D")
    created = created.floor("D")
    converts = rng.random(n) < np.array([p[s] for s in src])
    delay = rng.gamma(2.0, mean_delay_days / 2.0, size=n)
    conv_at = (created + pd.to_timedelta(delay, unit="D")).floor("D")
    won = converts & (conv_at <= as_of)
    status = np.where(won, "Converted", rng.choice(["New", "Working", "Nurturing"], size=n))
    leads = pd.DataFrame({
        "Lead ID": [f"L-{i:06d}" for i in range(n)],
        "Created": created.strftime("%Y-%m-%d"),
        "Lead Source": src,
        "Status": status,
        "Converted Date": np.where(won, conv_at.strftime("%Y-%m-%d"), ""),
        "Amount": np.where(won, "1", ""),
        "converts": converts,
        "conv_at": conv_at,
    })
    return LeadTruth(leads=leads, p_convert=p, mean_delay_days=mean_delay_days, as_of=as_of)


def write_lead_funnel(truth: LeadTruth, path: Path) -> None:
    """The lead export as a marketing tool writes it (truth columns left out)."""
    truth.leads.drop(columns=["converts", "conv_at"]).to_csv(path, index=False)


#: The recipe for the lead funnel (README, "Other CRMs and lead funnels").
LEAD_ARGS = [
    "--map", "opportunity_id=Lead ID", "--map", "created_at=Created",
    "--map", "outcome=Status", "--map", "closed_at=Converted Date", "--map", "amount=Amount",
    "--segment-col", "Lead Source", "--won-stages", "Converted",
]
