"""The Alpaca-compatible face of the exchange: API keys and the /v2 REST routes."""
