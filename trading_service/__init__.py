"""Order entry, portfolio and prices API, and the matching engine."""
