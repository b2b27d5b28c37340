"""One client: its channels, its bounded send queue and the task that writes it out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from shared.tokens import Claims
from trading_service.monitoring import WS_SLOW_CONSUMERS

log = logging.getLogger(__name__)

SLOW_CONSUMER_CLOSE = 4008  # application close code: the client did not keep up
# The user already has TRADING_WS_MAX_PER_USER connections open on this process.
TOO_MANY_CONNECTIONS_CLOSE = 4029


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def error_message(error: str, detail: str) -> str:
    return encode({"type": "error", "error": error, "detail": detail})


class Connection:
    """Messages are buffered without waiting; a full buffer disconnects this client, nobody else.

    `batch` clients get every message that came within `batch_window_s` of the first one in one
    frame (a JSON array): frames per second stay bounded however many symbols tick, which is
    what lets one process serve thousands of `prices` subscribers.
    """

    def __init__(
        self,
        websocket: WebSocket,
        queue_size: int,
        close_grace_s: float,
        batch: bool,
        batch_window_s: float = 0.0,
    ) -> None:
        self.websocket = websocket
        self.batch = batch
        self.channels: set[str] = set()
        self.account_id: uuid.UUID | None = None
        self.user_id: uuid.UUID | None = None  # the token's; account_id may be a league's
        self.claims: Claims | None = None  # the token's: a logout revokes it
        self.token_expiry: asyncio.TimerHandle | None = None
        self.closed = False
        # Channels whose snapshot is being built: their updates wait here until it is sent.
        self.pending: dict[str, list[tuple[str, int, str]]] = {}
        # Set by the hub: stops all deliveries to this client at once.
        self.on_drop: Callable[[Connection], None] | None = None
        # A plain list, not an asyncio.Queue: appending is the hot path (clients x ticks).
        self._buffer: list[str] = []
        self._max = queue_size
        self._wakeup = asyncio.Event()
        self._ending = False  # write what is buffered, then close
        self._batch_window_s = batch_window_s if batch else 0.0
        self._close_grace_s = close_grace_s
        self._close_code = 1000
        self.writer = asyncio.create_task(self._write())

    def send(self, text: str) -> None:
        if self.closed:
            return
        buffer = self._buffer
        if len(buffer) >= self._max:
            self._slow_consumer()
            return
        buffer.append(text)
        if len(buffer) == 1:
            self._wakeup.set()

    def deliver(self, key: str, text: str, symbol: str = "", seq: int = 0) -> None:
        """An update on `key`: held back while that channel's snapshot is still being built."""
        held = self.pending.get(key)
        if held is not None:
            held.append((symbol, seq, text))
        else:
            self.send(text)

    def _slow_consumer(self) -> None:
        self.closed = True
        self._close_code = SLOW_CONSUMER_CLOSE
        if self.on_drop is not None:
            self.on_drop(self)
        self._buffer = [
            error_message(
                "slow_consumer",
                f"more than {self._max} messages waiting for this client; disconnected",
            )
        ]
        self._ending = True
        self._wakeup.set()
        # A client that reads nothing at all never lets the writer finish: cut it after a grace.
        asyncio.get_running_loop().call_later(self._close_grace_s, self.writer.cancel)
        WS_SLOW_CONSUMERS.inc()
        log.info("disconnecting slow WebSocket consumer")

    def close(self, code: int = 1000) -> None:
        """Stop after what is buffered has been written."""
        if not self.closed:
            self._close_code = code
            self.closed = True
            self._ending = True
            self._wakeup.set()

    async def _write(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                if self._batch_window_s and not self._ending:
                    await asyncio.sleep(self._batch_window_s)  # let the burst gather
                self._wakeup.clear()
                items, self._buffer = self._buffer, []
                if self.batch and items:
                    await self.websocket.send_text("[" + ",".join(items) + "]")
                else:
                    for item in items:
                        await self.websocket.send_text(item)
                if self._ending and not self._buffer:
                    break
        except Exception:
            pass  # the peer went away; the reader loop notices it too
        finally:
            self.closed = True
            # Bounded: a peer that reads nothing would hold the close frame back forever.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self._close_grace_s):
                    await self.websocket.close(self._close_code)

    async def wait_closed(self) -> None:
        self.close()
        with contextlib.suppress(asyncio.CancelledError):
            await self.writer
