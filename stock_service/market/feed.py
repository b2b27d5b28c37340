"""The ticking loop: advance the market, hand each tick to Kafka, persist the walk state."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from stock_service.market.publisher import PricePublisher
from stock_service.market.service import Market, Quote
from stock_service.market.state import save_state

log = logging.getLogger(__name__)

# Wake a hair after the grid boundary, so the tick never lands just before it.
_AFTER_BOUNDARY_S = 0.001


@dataclass
class FeedHealth:
    """What /health reports. Times are the event loop's clock (monotonic seconds)."""

    grace: float  # seconds publishing may fail before the service reports itself unavailable
    # None while publishing works; a feed that never published counts as failing since start.
    failing_since: float | None
    ticks: int = 0
    published_ticks: int = 0
    skipped_ticks: int = 0  # never sent: a newer tick replaced it while Kafka was busy
    last_publish_ok: bool | None = None
    last_published_at: datetime | None = None
    last_error: str | None = None

    def failing_for(self, now: float) -> float:
        return 0.0 if self.failing_since is None else now - self.failing_since


class PriceFeed:
    """Ticks on the market clock's grid (see `Market`) whether or not Kafka is reachable.

    At most one tick is in flight to Kafka and one waits behind it: when the broker is slower
    than the ticks, only the newest waiting tick is sent (consumers keep the newest seq anyway),
    so a broker outage never stalls the prices this service serves.
    """

    def __init__(
        self,
        market: Market,
        publisher: PricePublisher,
        *,
        state_path: Path,
        save_every_ticks: int,
        publish_timeout: float,
        health_grace: float,
    ) -> None:
        self.market = market
        self._tick_wall_s = market.step_s / market.clock.time_scale
        self._publisher = publisher
        self._state_path = state_path
        self._save_every = save_every_ticks
        self._saved_seq = 0  # seq of the first listing at the last save
        self._handed_seq = market.quotes()[0].seq  # ... and in the last tick handed to Kafka
        self._publish_timeout = publish_timeout
        self._delivery: asyncio.Task[None] | None = None
        self._waiting: Sequence[Quote] | None = None  # a tick that came while one was in flight
        self.health = FeedHealth(
            grace=health_grace, failing_since=asyncio.get_running_loop().time()
        )

    async def run(self) -> None:
        # Mark the state unclean before the first publish: a crash from here on skips ahead.
        await self._persist(clean=False)
        while True:
            # Ticks come when the market clock enters the next cell of the walk's grid (every
            # `tick_interval` wall seconds); after a stall the next tick covers the lost time.
            delay = (self.market.next_tick_at() - datetime.now(UTC)).total_seconds()
            # Never longer than one tick: a wall clock set back must not put the feed to sleep.
            await asyncio.sleep(min(max(delay, 0), self._tick_wall_s) + _AFTER_BOUNDARY_S)
            quotes = self.market.tick(datetime.now(UTC))
            if not quotes:
                continue
            self.health.ticks += 1
            if quotes[0].seq > self._saved_seq + self._save_every:
                # Beyond what the last save reserved (a tick after a stall takes many steps):
                # save first, so that no seq past the saved one + reserve is ever published.
                await self._persist(clean=False)
            self._hand_off(quotes)

    async def close(self) -> None:
        """After `run` is cancelled: let the last tick reach Kafka, then save the exact state."""
        latest = self.market.quotes()
        if latest[0].seq != self._handed_seq:
            # Cancelled while saving ahead of a tick: save and send that tick now.
            await self._persist(clean=False)
            self._hand_off(latest)
        if self._delivery is not None:
            _, pending = await asyncio.wait([self._delivery], timeout=self._publish_timeout)
            for task in pending:
                task.cancel()
        await self._persist(clean=True)
        await self._publisher.close()

    def _hand_off(self, quotes: Sequence[Quote]) -> None:
        self._handed_seq = quotes[0].seq
        if self._delivery is not None and not self._delivery.done():
            if self._waiting is not None:
                self.health.skipped_ticks += 1
            self._waiting = quotes  # only the newest waiting tick is worth sending
            return
        self._delivery = asyncio.create_task(self._deliver(quotes))

    async def _deliver(self, quotes: Sequence[Quote] | None) -> None:
        while quotes is not None:
            await self._publish(quotes)
            quotes, self._waiting = self._waiting, None

    async def _publish(self, quotes: Sequence[Quote]) -> None:
        health = self.health
        try:
            async with asyncio.timeout(self._publish_timeout):
                await self._publisher.publish(quotes)
        except Exception as exc:  # the feed must outlive any broker failure
            if health.last_publish_ok is not False:
                log.warning("publishing prices failed; still ticking", extra={"error": repr(exc)})
            health.last_publish_ok = False
            health.last_error = repr(exc)
            if health.failing_since is None:
                health.failing_since = asyncio.get_running_loop().time()
            return
        if health.last_publish_ok is False:
            log.info("publishing prices again")
        health.last_publish_ok = True
        health.last_error = None
        health.failing_since = None
        health.published_ticks += 1
        health.last_published_at = quotes[0].ts if quotes else datetime.now(UTC)

    async def _persist(self, *, clean: bool) -> None:
        # `reserve` covers the walk steps that may be published before the next save.
        snapshot = self.market.snapshot(clean=clean, reserve=self._save_every)
        self._saved_seq = self.market.quotes()[0].seq  # every listed walk steps together
        try:
            await asyncio.to_thread(save_state, self._state_path, snapshot)
        except OSError:
            log.exception("could not save the walk state", extra={"path": str(self._state_path)})
