"""Recordings: continuous stream-copy segments, their index, retention, clips and export."""
