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
from trading_service.realtime.fanout import Block, Item
from trading_service.realtime.frames import FrameSink, text_frame

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

    What waits is written out in one go when the writer gets its turn: `batch` clients get all
    of it in one frame (a JSON array), so frames per second stay bounded however many symbols
    tick, which is what lets one process serve thousands of `prices` subscribers; the others
    get one frame per message, as documented.

    With a `sink` (the server lets the app write frames itself, ws_protocol.py) every frame goes
    out through it, encoded here or shared with the channel's other clients (a `Block` encodes
    once); while the socket takes more, a message is written at once, without waking the
    writer. Never mix: a frame sent through ASGI as well could follow a compressed one that
    its compressor did not see.
    """

    def __init__(
        self,
        websocket: WebSocket,
        queue_size: int,
        close_grace_s: float,
        batch: bool,
        sink: FrameSink | None = None,
    ) -> None:
        self.websocket = websocket
        self.batch = batch
        self.sink = sink
        self.channels: set[str] = set()
        self.account_id: uuid.UUID | None = None
        self.user_id: uuid.UUID | None = None  # the token's; account_id may be a league's
        self.claims: Claims | None = None  # the token's: a logout revokes it
        self.token_expiry: asyncio.TimerHandle | None = None
        self.closed = False
        # Channels whose snapshot is being built: their updates wait here until it is sent.
        self.pending: dict[str, list[Item]] = {}
        # Set by the hub: stops all deliveries to this client at once.
        self.on_drop: Callable[[Connection], None] | None = None
        # Messages of this client alone (str) and the channels' shared blocks, in order; a plain
        # list, not an asyncio.Queue: appending is the hot path.
        self._buffer: list[str | Block] = []
        self._waiting = 0  # messages in _buffer
        self._max = queue_size
        self._wakeup = asyncio.Event()
        self._ending = False  # write what is buffered, then close
        self._close_grace_s = close_grace_s
        self._close_code = 1000
        self.writer = asyncio.create_task(self._write())

    def send(self, text: str) -> None:
        """One message for this client alone (answers, snapshots, errors, heartbeats)."""
        self._queue(text, 1)

    def add(self, key: str, block: Block) -> None:
        """A flush's messages of channel `key`: held back while its snapshot is being built."""
        held = self.pending.get(key)
        if held is not None:
            held.extend(block.items)
        else:
            self._queue(block, len(block))

    def _queue(self, item: str | Block, messages: int) -> None:
        if self.closed:
            return
        if not self._buffer and self.sink is not None and self.sink.writable():
            self._write_to_sink([item])  # nothing waits before it: no need for the writer
            return
        # What the writer has not taken yet: a client that takes nothing for that long is slow;
        # one big burst to a client that keeps up is not.
        if self._waiting >= self._max:
            self._slow_consumer()
            return
        self._buffer.append(item)
        self._waiting += messages
        if len(self._buffer) == 1:
            self._wakeup.set()

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
        self._waiting = 1
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

    def _frames(self, items: list[str | Block]) -> list[str]:
        if not self.batch:
            return [t for i in items for t in ([i] if isinstance(i, str) else i.texts())]
        if len(items) == 1 and isinstance(items[0], Block):
            return [items[0].frame()]  # built once for every client of that channel alone
        return ["[" + ",".join(i if isinstance(i, str) else i.joined() for i in items) + "]"]

    def _encoded(self, items: list[str | Block], deflate_bits: int | None) -> bytes:
        if len(items) == 1 and isinstance(items[0], Block):
            return items[0].encoded(self.batch, deflate_bits)  # shared by the channel's clients
        return b"".join(text_frame(frame, deflate_bits) for frame in self._frames(items))

    def _write_to_sink(self, items: list[str | Block]) -> None:
        assert self.sink is not None
        if not self.sink.write(self._encoded(items, self.sink.deflate_bits)):
            # The peer went away (the reader loop notices it too): end as a failed send does.
            self.closed = True
            self._ending = True
            self._wakeup.set()

    async def _write(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                if self.sink is not None:
                    await self.sink.drained()  # what waits stays counted until then
                items, self._buffer, self._waiting = self._buffer, [], 0
                if items and self.sink is not None:
                    self._write_to_sink(items)
                elif items:
                    for frame in self._frames(items):
                        await self.websocket.send_text(frame)
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
