"""targetsim.track."""
