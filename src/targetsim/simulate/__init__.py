"""targetsim.simulate: project next year's pipeline per posterior draw and scenario.

The result of :func:`simulate` is an :class:`xarray.Dataset` (saved as ``projection.nc``) with
dims ``draw, scenario, segment, month`` (and ``owner`` when the fit has owners):

* ``bookings`` (float): won value closed in the month; ``deals_won``, ``deals_lost``,
  ``new_opportunities``, ``went_cold`` (int) — same dims;
* ``open_count``, ``open_value``: open deals and their total (unweighted) contract value at
  the *start* of each month (for pipeline coverage); ``open_count_final`` and
  ``initial_open`` (draw, scenario, segment): open at the end of the horizon and at its start;
* ``owner_bookings``, ``owner_deals_won`` (draw, scenario, owner, month), only with owners;
* ``capacity`` (draw, scenario, segment, month): slots at the month start (``inf`` = no limit);
* coords ``month`` (month starts), ``scenario``, ``segment``, ``owner``; attrs ``as_of``,
  ``horizon_start``, ``months``, ``seed``, ``engine``, ``n_draws``, ``scenarios_json``,
  ``targetsim_version``.

Semantics in short (details in the submodules):

* **Horizon** — by default the first day of the month after ``as_of``, 12 calendar months;
  time runs in days from ``as_of``. The days before the horizon also elapse: deals may close
  there (not booked) and new opportunities arrive at the fitted rate.
* **Open pipeline** — each open deal of age ``a`` wins, is lost or stalls with probabilities
  ``∝ p_win·S_won(a), p_lost·S_lost(a), p_stall``; its remaining time is the log-normal
  truncated at ``a``; a missing amount is drawn from the deal-size distribution.
* **New opportunities** — NegativeBinomial per calendar month (trend, seasonality) ×
  ``lead_volume``, uniform within the month; owner drawn from ``owner_share``.
* **Scenarios** — ``win_rate`` multiplies win probabilities (capped at 1, lost and stall
  renormalised), ``deal_size`` values, ``cycle_length`` durations inside the horizon; they
  apply to new deals and to the open pipeline alike; ``segments:`` overrides ``market``.
* **Stalled deals** never close: they stay in ``open_count`` / ``open_value`` for ever (the
  model's reading of deals that go quiet), but free a rep's slot after the 95th percentile
  of won cycles.
* **Capacity** (``des`` engine) — slots = Σ reps' ramp × ``max_open_deals_per_rep``; hires
  ramp linearly, attrition is a Poisson process per rep; deals without a slot wait FIFO and
  go cold after ``patience_days`` (default 30; ``went_cold``); the open pipeline holds its
  slots first.
* **Engines** — ``fast`` (vectorised, no capacity) is the default unless a scenario has
  ``capacity``; ``des`` (SimPy) is the reference and equals ``fast`` exactly on the same
  seed when capacity never binds. Both take their deals from the same sampler, which
  processes blocks of draws in loops compiled with Numba (:mod:`.kernels`; compiled on
  first use after an install, cached on disk); ``fast`` counts them in the same pass.

Flow conservation holds per draw, scenario and segment:
``initial_open + Σ new_opportunities = Σ deals_won + Σ deals_lost + Σ went_cold +
open_count_final``. Semantics: :mod:`.timeline` (calendar, time dilation), :mod:`.sampling`
(open pipeline conditional on age, arrivals, multipliers), :mod:`.capacity` (slots, queue,
going cold), :mod:`.fast` and :mod:`.des` (the two engines).
"""

from targetsim.simulate.engine import simulate
from targetsim.simulate.projection import load_projection, save_projection
from targetsim.simulate.scenario import Scenario, bundled_scenarios, load_scenario

__all__ = [
    "Scenario",
    "bundled_scenarios",
    "load_projection",
    "load_scenario",
    "save_projection",
    "simulate",
]
