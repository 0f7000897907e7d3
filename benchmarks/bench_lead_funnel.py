"""Time of ``targetsim plan`` on a lead funnel: the issue's 3,343 leads, 10 sources, 3 months.

The lead export is the tests' generator (``tests/crm_exports.py``: unconverted leads open for
ever, won rows with the placeholder amount 1, known conversion per source). The plan runs
through the CLI with the README's recipe, exactly as a user would, and the script prints the
wall time and the per-step times of plan.json, the company deals-won target beside the
conversions a year the generator implies, and how many bookings rows targets.csv still has
(none once amounts known to be placeholders give deals-won targets only).

Usage::

    python benchmarks/bench_lead_funnel.py [--out DIR] [--leads 3343]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from crm_exports import LEAD_ARGS, generate_leads, write_lead_funnel  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="plan folder (default: a temp dir)")
    ap.add_argument("--leads", type=int, default=3_343)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-leads-"))
    out = args.out or work / "plan"
    truth = generate_leads(args.leads)
    write_lead_funnel(truth, work / "leads.csv")
    print(f"{args.leads:,} leads, {len(truth.p_convert)} sources, as of {truth.as_of.date()}, "
          f"{int(truth.leads['Status'].eq('Converted').sum()):,} converted")

    from targetsim.cli import main as cli

    t0 = time.perf_counter()
    code = 0
    try:
        cli(["plan", str(work / "leads.csv"), *LEAD_ARGS, "--out", str(out), "--no-progress"])
    except SystemExit as exc:
        code = exc.code or 0
    wall = time.perf_counter() - t0
    meta = json.loads((out / "plan.json").read_text())
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in meta["timings_seconds"].items())
    print(f"plan: exit code {code}, wall {wall:.1f} s ({steps}); converged {meta['converged']}")
    import pandas as pd

    t = pd.read_csv(out / "targets.csv")
    won = t.query("level == 'total' and period == 'FY' and metric == 'deals_won'")
    for r in won.itertuples(index=False):
        print(f"  {r.scenario}: FY deals won target {r.target:,.0f} "
              f"(p10-p90 {r.p10:,.0f}-{r.p90:,.0f})")
    n = truth.leads.groupby("Lead Source").size()
    steady = float(sum(n[s] / 3 * p * 12 for s, p in truth.p_convert.items()))
    print(f"  truth: {steady:,.0f} conversions a year at the generated lead rate and conversion")
    print(f"  bookings rows in targets.csv: {int(t['metric'].eq('bookings').sum())}")


if __name__ == "__main__":
    main()
