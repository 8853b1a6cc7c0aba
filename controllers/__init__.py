"""The signalight domain, free of I/O: device kinds, topics, commands, telemetry schema, plans, alarms."""
