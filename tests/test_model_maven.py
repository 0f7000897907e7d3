"""The Maven CRM data (segment = product) fits without divergences, with sensible figures.

Maven's quirk 2 (SOURCE.md): most open Engaging deals are far older than any closed
cycle. A model without a stall branch would read them as slow future wins; ours must put
that mass into ``stall_rate`` and keep the eventual win rate below the naive
won / (won + lost) of about 63 %.
"""

from __future__ import annotations

import numpy as np
import pytest

from targetsim.data import load_funnel
from targetsim.model import fit_funnel


@pytest.fixture(scope="module")
def maven_fit(maven_dir):
    funnel = load_funnel(maven_dir, fmt="maven", segment_col="product")
    return funnel, fit_funnel(funnel, random_seed=0, progress=False)


@pytest.mark.slow
def test_maven_fits_without_divergences(maven_fit):
    funnel, fit = maven_fit
    assert len(funnel.segments) == 7
    assert fit.diagnostics.divergences == 0, fit.diagnostics.problems
    # The whole gate at the shipped defaults: R-hat, bulk and tail ESS too.
    assert fit.diagnostics.converged, fit.diagnostics.problems


@pytest.mark.slow
def test_maven_figures_are_sensible(maven_fit):
    funnel, fit = maven_fit
    s = fit.summary().set_index(["segment", "parameter"])
    d = funnel.deals
    for seg in funnel.segments:
        dd = d.loc[d["segment"] == seg]
        won, lost = (dd["outcome"] == "won").sum(), (dd["outcome"] == "lost").sum()
        naive = won / (won + lost)
        win = s.loc[(seg, "win_rate")]
        # Stale open deals are stalls, not future wins: eventual win rate below naive.
        assert win["q95"] < naive
        assert s.loc[(seg, "stall_rate"), "q05"] > 0.05
        # Won cycles in the data run 1 to 138 days (created -> won).
        assert 1 < s.loc[(seg, "cycle_days_median"), "q50"] < 138
        amounts = dd.loc[dd["outcome"] == "won", "amount"]
        assert s.loc[(seg, "deal_size_median"), "q50"] == pytest.approx(
            np.median(amounts), rel=0.35
        )
