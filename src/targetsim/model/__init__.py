"""targetsim.model."""
