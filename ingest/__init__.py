"""Ingest: camera sources and per-camera readers with reconnect."""
