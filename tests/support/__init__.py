"""Test helpers: synthetic clips and a local RTSP test server."""
