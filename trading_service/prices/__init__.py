"""Latest reference prices: Kafka `stock-prices` → Redis, read by the API."""
