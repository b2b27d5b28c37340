"""Lets a request wait for the engine: one Redis subscription per process, futures per order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from trading_service.messages import EXECUTIONS_CHANNEL

log = logging.getLogger(__name__)


class ExecutionWaiter:
    """Resolves a waiting request when the engine reports it processed that order."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._waiting: dict[uuid.UUID, list[asyncio.Future[None]]] = {}

    @contextlib.asynccontextmanager
    async def expect(self, order_id: uuid.UUID) -> AsyncIterator[asyncio.Future[None]]:
        """Register before handing the order off, so a fast engine cannot be missed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(order_id, []).append(future)
        try:
            yield future
        finally:
            futures = self._waiting.get(order_id, [])
            if future in futures:
                futures.remove(future)
            if not futures:
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
            order_ids = [uuid.UUID(o["id"]) for o in json.loads(data)["orders"]]
        except (ValueError, KeyError, TypeError):
            return
        for order_id in order_ids:
            for future in self._waiting.get(order_id, []):
                if not future.done():
                    future.set_result(None)
