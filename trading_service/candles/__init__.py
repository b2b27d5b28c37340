"""OHLCV bars from the reference-price ticks and the trade volume, kept in Postgres."""
