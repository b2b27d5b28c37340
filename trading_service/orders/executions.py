"""Lets a request wait for the engine: one Redis subscription per process, futures per order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Callable

from redis.asyncio import Redis

from trading_service.messages import EXECUTIONS_CHANNEL, Executions, MalformedMessage, OrderReport
from trading_service.order_status import TERMINAL

log = logging.getLogger(__name__)

# What a waiter waits for, given the engine's report on its order.
Outcome = Callable[[OrderReport], bool]


def processed(_: OrderReport) -> bool:
    """Any report: the engine has seen the order."""
    return True


def finished(report: OrderReport) -> bool:
    """The order is done (a cancel waits for this, not for an unrelated fill or replace)."""
    return report.status in TERMINAL


def replace_settled(seq: int) -> Outcome:
    """The engine applied or refused replace number `seq` of the order (or a later one)."""
    return lambda report: report.replace_seq >= seq or finished(report)


class ExecutionWaiter:
    """Resolves a waiting request when the engine reports what it waits for about that order."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._waiting: dict[uuid.UUID, list[tuple[Outcome, asyncio.Future[None]]]] = {}

    @contextlib.asynccontextmanager
    async def expect(
        self, order_id: uuid.UUID, outcome: Outcome = processed
    ) -> AsyncIterator[asyncio.Future[None]]:
        """Register before handing the order off, so a fast engine cannot be missed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (outcome, future)
        self._waiting.setdefault(order_id, []).append(entry)
        try:
            yield future
        finally:
            entries = self._waiting.get(order_id, [])
            if entry in entries:
                entries.remove(entry)
            if not entries:
                self._waiting.pop(order_id, None)

    async def run(self) -> None:
        """Forever: listen on the executions channel (reconnecting if Redis goes away)."""
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(EXECUTIONS_CHANNEL)
                async for message in pubsub.listen():
                    self._dispatch(message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("executions subscription lost; resubscribing", exc_info=True)
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, data: bytes) -> None:
        try:
            message = Executions.decode(data)
        except MalformedMessage:
            log.warning("skipping a malformed executions message", exc_info=True)
            return
        for report in message.orders:
            for outcome, future in self._waiting.get(report.id, []):
                if not future.done() and outcome(report):
                    future.set_result(None)
