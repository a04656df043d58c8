"""Relay to the provincial video centre: stream push, GB/T 28181 cascade, alarm upload."""
