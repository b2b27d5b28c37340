"""One streaming client's bounded send buffer and the task that writes it out."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.websockets import WebSocket

SLOW_CONSUMER_CLOSE = 4008  # the client did not keep up: it alone is disconnected


class Outbox:
    """Frames are queued without waiting; a full queue closes this client, nobody else's."""

    def __init__(self, websocket: WebSocket, size: int = 2_000) -> None:
        self.websocket = websocket
        self.binary = False  # the client's frames were binary: answer in binary frames
        self.closed = False
        self._close_code = 1000
        self._queue: asyncio.Queue[str | bytes | None] = asyncio.Queue(size)
        self.writer = asyncio.create_task(self._write())

    def send(self, frame: str | bytes) -> None:
        if self.closed:
            return
        try:
            self._queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.close(SLOW_CONSUMER_CLOSE)

    def close(self, code: int = 1000) -> None:
        """Stop taking frames: what is queued is still written, unless the client is too slow."""
        if self.closed:
            return
        self.closed = True
        self._close_code = code
        if code == SLOW_CONSUMER_CLOSE:
            self.writer.cancel()  # the reader sees the writer end and finishes the connection
        else:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)

    async def _write(self) -> None:
        with contextlib.suppress(Exception):  # a socket gone away: the reader sees it too
            while (frame := await self._queue.get()) is not None:
                if isinstance(frame, bytes):
                    await self.websocket.send_bytes(frame)
                else:
                    await self.websocket.send_text(frame)

    async def finish(self) -> None:
        """Flush (bounded) and close the socket."""
        self.close()
        with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
            await asyncio.wait_for(self.writer, 2.0)
        with contextlib.suppress(Exception):
            await self.websocket.close(self._close_code)
