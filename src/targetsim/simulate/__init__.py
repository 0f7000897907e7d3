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
