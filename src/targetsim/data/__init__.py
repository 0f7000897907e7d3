"""targetsim.data."""
