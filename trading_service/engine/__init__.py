"""The matching engine: a pure core (`core/`) and the Kafka + Postgres adapter around it."""
