"""signalight: the command line and the composition root (settings, process wiring, the all-in-one demo)."""
