"""The plan-preview twin: an intersection (or a corridor) and its plans as a SUMO simulation, pure parts only."""
