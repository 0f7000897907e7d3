"""targetsim.calibrate."""
