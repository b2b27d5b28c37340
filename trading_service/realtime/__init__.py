"""The WebSocket stream: one Redis subscription per process fanned out to connections."""
