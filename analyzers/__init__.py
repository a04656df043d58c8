"""Analyzers: person detection and the supervision rules built on it."""
