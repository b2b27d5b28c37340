"""The feed when Kafka is slower than the ticks: seq order kept, the newest tick always sent."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

from shared.market_clock import MarketClock
from stock_service.market.feed import PriceFeed
from stock_service.market.publisher import PricePublisher
from stock_service.market.service import Market, Quote
from stock_service.market.state import load_state
from stock_service.market.universe import Listing
from tests.stock_service.conftest import wait_until


class SlowBroker:
    """Holds each publish until released, recording the seqs it was given."""

    def __init__(self) -> None:
        self.sent: list[int] = []
        self.release = asyncio.Event()
        self.closed = False

    async def publish(self, quotes: Sequence[Quote]) -> None:
        await self.release.wait()
        self.sent.append(quotes[0].seq)

    async def close(self) -> None:
        self.closed = True


async def test_a_slow_broker_gets_the_newest_tick_in_order(tmp_path: Path) -> None:
    market = Market(
        [Listing("AAPL", "Apple Inc.", Decimal("190.00"), 0.1, 0.25)],
        seed=42,
        # A walk step every 0.01 wall seconds.
        clock=MarketClock(datetime.now(UTC), 180.0),
        step_s=1.8,
        now=datetime.now(UTC),
    )
    broker = SlowBroker()
    feed = PriceFeed(
        market,
        cast(PricePublisher, broker),
        state_path=tmp_path / "state.json",
        save_every_ticks=5,
        publish_timeout=30.0,
        health_grace=30.0,
    )
    ticking = asyncio.create_task(feed.run())

    async def ticked() -> bool:
        return feed.health.ticks >= 10

    await wait_until(ticked, what="ten ticks while the broker is stuck")
    ticking.cancel()
    await asyncio.gather(ticking, return_exceptions=True)
    broker.release.set()
    await feed.close()

    last = market.quote("AAPL").seq
    # The first tick was in flight; of the ones after it only the newest was kept waiting and
    # sent. (A tick after a stall steps the walk more than once: seq counts steps, not ticks.)
    assert len(broker.sent) == 2 and broker.sent[0] < broker.sent[1] == last
    assert feed.health.skipped_ticks == feed.health.ticks - 2
    assert feed.health.published_ticks == 2
    assert broker.closed
    saved = load_state(tmp_path / "state.json")
    assert saved is not None and saved.clean and saved.walks["AAPL"].seq == last
