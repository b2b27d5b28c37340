"""How our Kafka consumers fetch: the next fetch waits until what was fetched is consumed.

aiokafka's fetcher holds one fetch in flight per broker. When a partition's fetched records wait
unconsumed for over 100 ms (its `prefetch_backoff`, not a constructor option), it sends the
next fetch without that partition, and that fetch long-polls the quiet partitions for up to
`fetch_max_wait_ms`. The partition's later records cannot be fetched until the long poll ends.
For the engine, which takes every partition's records in each `getmany`, this meant one batch
that took over 100 ms (a slow commit) made the next orders of its symbol wait about
`fetch_max_wait_ms` (500 ms): the order path's p99 of 400–500 ms (bench.order_path, every
waiting path). Fetching only after the records are consumed costs these consumers nothing: they
consume every partition in each call, and the fetcher sends the next fetch as soon as they do.
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer

# Longer than any batch takes: in effect, no fetch while fetched records wait to be consumed.
# (A finite number: the fetcher waits on it with asyncio.wait's timeout.)
_UNTIL_CONSUMED_S = 3600.0


def fetch_after_consumed(consumer: AIOKafkaConsumer) -> None:
    """Make a started consumer fetch again only once its fetched records have been consumed.

    Relies on aiokafka's private `Fetcher._prefetch_backoff` (aiokafka is pinned); fails loudly
    if it is missing rather than leaving the stall in place unnoticed."""
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_prefetch_backoff"):
        raise RuntimeError(
            "aiokafka's fetcher has no _prefetch_backoff (changed aiokafka?); see shared/fetching"
        )
    fetcher._prefetch_backoff = _UNTIL_CONSUMED_S
