"""Embedded development servers and the `make run` supervisor (no Docker needed)."""
