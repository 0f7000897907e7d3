"""targetsim.report."""
