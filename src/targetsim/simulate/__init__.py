"""targetsim.simulate."""
