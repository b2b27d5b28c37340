"""The matching engine's Prometheus figures: batches, orders' outcomes, fills, consumer lag.

The runner calls `observe_batch` once per applied batch; the lag is read from the runner's state
at each scrape, so it costs nothing between scrapes.
"""

from __future__ import annotations

from collections import Counter as Counter_
from collections.abc import Iterable, Iterator
from typing import Protocol

from aiokafka import TopicPartition
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.metrics import register_live
from trading_service.engine.accounting import Settlement
from trading_service.order_status import TERMINAL

BATCH_RECORDS = Histogram(
    "stocksim_engine_batch_records",
    "Kafka records (orders, cancels, prices) per applied batch.",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_APPLY = Histogram(
    "stocksim_engine_batch_apply_seconds",
    "Time to match a batch and commit it to PostgreSQL in one transaction.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
ORDERS_FINAL = Counter(
    "stocksim_orders_final_total",
    "Orders that reached a final status, by type, side and status.",
    ["type", "side", "status"],
)
FILLS = Counter("stocksim_fills_total", "Fills of users' orders, by side.", ["side"])
FILLED_SHARES = Counter("stocksim_filled_shares_total", "Shares filled, by side.", ["side"])
ORDER_HANDOFF = Histogram(
    "stocksim_engine_order_handoff_seconds",
    "Time from the API handing an order message to Kafka (the record's timestamp) to the "
    "engine's batch taking it: the hand-off's share of order-to-fill.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
ORDER_TO_FILL = Histogram(
    "stocksim_order_to_fill_seconds",
    "Time from the API storing an order to each of its fills.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0, 600.0),
)


def observe_batch(records: int, apply_s: float, settlement: Settlement) -> None:
    BATCH_RECORDS.observe(records)
    BATCH_APPLY.observe(apply_s)
    # Counted per label first: a labelled child's lookup costs more than the addition.
    final: Counter_[tuple[str, str, str]] = Counter_()
    created = {}
    for order in settlement.orders:
        created[order.id] = order.created_at
        if order.status in TERMINAL:
            final[(order.type, order.side, order.status)] += 1
    fills: Counter_[str] = Counter_()
    shares: Counter_[str] = Counter_()
    for fill in settlement.fills:
        fills[fill.side] += 1
        shares[fill.side] += fill.qty
        stored_at = created.get(fill.order_id)
        if stored_at is not None:
            ORDER_TO_FILL.observe(max(0.0, (fill.ts - stored_at).total_seconds()))
    for labels, n in final.items():
        ORDERS_FINAL.labels(*labels).inc(n)
    for side, n in fills.items():
        FILLS.labels(side).inc(n)
        FILLED_SHARES.labels(side).inc(shares[side])


def observe_handoff(batch_at: float, record_timestamps_ms: Iterable[int]) -> None:
    """`batch_at`: the batch's start (epoch seconds); the order messages' producer timestamps."""
    for ts in record_timestamps_ms:
        ORDER_HANDOFF.observe(max(0.0, batch_at - ts / 1000))


class _Consumer(Protocol):
    def highwater(self, partition: TopicPartition) -> int | None: ...


class _Positions(Protocol):
    @property
    def consumer(self) -> _Consumer: ...

    @property
    def expected(self) -> dict[TopicPartition, int]: ...


class ConsumerLag(Collector):
    """Records behind the log end per owned partition: the broker's high-water mark (as of the
    last fetch) minus the next offset the engine will apply.

    Registered once per process; each running engine adds its runner while it runs.
    """

    def __init__(self) -> None:
        self.runners: list[_Positions] = []

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "stocksim_engine_consumer_lag_records",
            "Records not yet applied, per topic and partition this engine owns.",
            labels=["topic", "partition"],
        )
        for runner in list(self.runners):
            for tp, next_offset in list(runner.expected.items()):
                try:
                    end = runner.consumer.highwater(tp)
                except (AssertionError, KeyError):
                    continue  # revoked since we listed it
                if end is not None:
                    lag.add_metric([tp.topic, str(tp.partition)], max(0, end - next_offset))
        yield lag


CONSUMER_LAG = ConsumerLag()
register_live(CONSUMER_LAG)
