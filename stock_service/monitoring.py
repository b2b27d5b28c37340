"""The stock service's Prometheus figures, read from the price feeds' own counts at each scrape.

One collector for the process, registered once; each running app adds its feed while it runs
(tests run several apps in one process).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.metrics import register_live
from stock_service.market.feed import FeedHealth


class FeedCollector(Collector):
    def __init__(self) -> None:
        self.feeds: list[FeedHealth] = []

    def collect(self) -> Iterator[Metric]:
        feeds = list(self.feeds)
        ticks = CounterMetricFamily(
            "stocksim_price_ticks", "Ticks of the random walks, by outcome.", labels=["outcome"]
        )
        ticks.add_metric(["published"], sum(f.published_ticks for f in feeds))
        ticks.add_metric(["skipped"], sum(f.skipped_ticks for f in feeds))
        yield ticks
        yield GaugeMetricFamily(
            "stocksim_price_publishing_ok",
            "1 while the last publish to Kafka succeeded, else 0.",
            value=1 if feeds and all(f.last_publish_ok for f in feeds) else 0,
        )
        published = [f.last_published_at for f in feeds if f.last_published_at is not None]
        if published:
            age = (datetime.now(UTC) - max(published)).total_seconds()
            yield GaugeMetricFamily(
                "stocksim_price_last_published_age_seconds",
                "Seconds since prices last reached Kafka.",
                value=max(0.0, age),
            )


FEEDS = FeedCollector()
register_live(FEEDS)
