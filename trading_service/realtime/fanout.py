"""Messages gathered per channel between two flushes, handed whole to every subscriber.

Handing each message to each connection costs clients x messages calls (1,000 clients x 200
ticks/s is 200,000 a second). Instead a message is appended to its channel's pending list
once, and one flush gives every subscriber of that channel the same `Block` (at most one flush
per window: after a quiet window a message goes out at once, else when the window is over): its
texts are joined once, and the frame of a batch client that got only this block (a client of
`prices` alone: the common case) is built once and shared by all of them, down to the frame's
bytes when the client's socket takes frames the app encoded (`frames.py`).
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

from trading_service.realtime.frames import text_frame

if TYPE_CHECKING:
    from trading_service.realtime.connection import Connection

# (symbol, seq, text): symbol and seq are the tick's for prices (a snapshot skips what it
# already holds), "" and 0 for other channels.
Item = tuple[str, int, str]


class Block:
    """One channel's messages of one flush, in order; shared by all its subscribers."""

    __slots__ = ("_encoded", "_frame", "_joined", "items")

    def __init__(self, items: list[Item]) -> None:
        self.items = items
        self._joined: str | None = None
        self._frame: str | None = None
        # (batch, deflate window) -> the wire bytes: a few entries at most
        self._encoded: dict[tuple[bool, int | None], bytes] = {}

    def __len__(self) -> int:
        return len(self.items)

    def texts(self) -> list[str]:
        return [text for _, _, text in self.items]

    def joined(self) -> str:
        """The messages separated by commas: a slice of a JSON array."""
        if self._joined is None:
            self._joined = ",".join(self.texts())
        return self._joined

    def frame(self) -> str:
        """The messages as one JSON array."""
        if self._frame is None:
            self._frame = "[" + self.joined() + "]"
        return self._frame

    def encoded(self, batch: bool, deflate_bits: int | None) -> bytes:
        """As written to a socket: the array in one frame (`batch`) or a frame per message."""
        key = (batch, deflate_bits)
        data = self._encoded.get(key)
        if data is None:
            if batch:
                data = text_frame(self.frame(), deflate_bits)
            else:
                data = b"".join(text_frame(t, deflate_bits) for t in self.texts())
            self._encoded[key] = data
        return data


class Fanout:
    """Collects messages per channel key and hands them out: at once when the last flush is a
    window old (after the messages that arrived together), else when it is."""

    def __init__(self, subscribers: dict[str, set[Connection]], window_s: float) -> None:
        self._subscribers = subscribers  # the hub's, kept up to date by it
        self._window_s = window_s
        self._pending: dict[str, list[Item]] = {}
        self._timer: asyncio.Handle | None = None
        self._last_flush = -math.inf  # loop time

    def add(self, key: str, text: str, symbol: str = "", seq: int = 0) -> None:
        """Queue a message of `key`; dropped at once when nobody is subscribed to it."""
        items = self._pending.get(key)
        if items is None:
            if not self._subscribers.get(key):
                return
            items = self._pending[key] = []
            if self._timer is None:
                loop = asyncio.get_running_loop()
                wait = self._last_flush + self._window_s - loop.time()
                # call_soon runs after the hub has read what arrived with this message: a
                # market's round of ticks, published together, still goes out in one flush.
                self._timer = (
                    loop.call_later(wait, self.flush) if wait > 0 else loop.call_soon(self.flush)
                )
        items.append((symbol, seq, text))

    def pending(self, key: str) -> bool:
        return key in self._pending

    def flush(self) -> None:
        """Hand every pending block to its channel's subscribers."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_flush = asyncio.get_running_loop().time()
        pending, self._pending = self._pending, {}
        for key, items in pending.items():
            block = Block(items)
            for conn in tuple(self._subscribers.get(key, ())):
                conn.add(key, block)
