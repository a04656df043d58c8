"""Live view over WebRTC: H.264 passthrough from the camera fan-out to browsers."""
