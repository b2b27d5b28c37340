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

log = logging.getLogger(__name__)

SLOW_CONSUMER_CLOSE = 4008  # application close code: the client did not keep up


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


def error_message(error: str, detail: str) -> str:
    return encode({"type": "error", "error": error, "detail": detail})


class Connection:
    """Messages are queued without waiting; a full queue disconnects this client, nobody else.

    `batch` clients get every message waiting at write time in one frame (a JSON array), which
    cuts frames per second by the burst size (all symbols tick at once).
    """

    def __init__(self, websocket: WebSocket, queue_size: int, close_grace_s: float, batch: bool):
        self.websocket = websocket
        self.batch = batch
        self.channels: set[str] = set()
        self.account_id: uuid.UUID | None = None
        self.token_expiry: asyncio.TimerHandle | None = None
        self.closed = False
        # Channels whose snapshot is being built: their updates wait here until it is sent.
        self.pending: dict[str, list[tuple[str, int, str]]] = {}
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(queue_size)
        self._close_grace_s = close_grace_s
        self._close_code = 1000
        # Set by the hub: stops all deliveries to this client at once.
        self.on_drop: Callable[[Connection], None] | None = None
        self.writer = asyncio.create_task(self._write())

    def send(self, text: str) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._slow_consumer()

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
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(
            error_message(
                "slow_consumer",
                f"more than {self._queue.maxsize} messages waiting for this client; disconnected",
            )
        )
        self._queue.put_nowait(None)
        # A client that reads nothing at all never lets the writer finish: cut it after a grace.
        asyncio.get_running_loop().call_later(self._close_grace_s, self.writer.cancel)
        log.info("disconnecting slow WebSocket consumer")

    def close(self) -> None:
        """Stop after what is queued has been written."""
        if not self.closed:
            self.closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def _write(self) -> None:
        queue = self._queue
        try:
            stop = False
            while not stop:
                item = await queue.get()
                if item is None:
                    break
                if not self.batch:
                    await self.websocket.send_text(item)
                    continue
                items = [item]
                while not queue.empty():
                    more = queue.get_nowait()
                    if more is None:
                        stop = True
                        break
                    items.append(more)
                await self.websocket.send_text("[" + ",".join(items) + "]")
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
