"""uvicorn's sans-io WebSocket protocol, plus a way for the app to write frames it encoded itself.

Sending through ASGI costs a message dict, the middlewares' wrappers, and websockets' framing and
compression for every client and frame: with a thousand clients of a channel, most of the
process's time. This protocol (the one `--ws auto` picks, uvicorn.protocols.websockets.
websockets_sansio_impl) adds the ASGI extension `SINK_EXTENSION` to each WebSocket scope: a
`FrameSink` through which the app writes whole frames, encoded once for all the clients of a
channel (`frames.py`), straight to the socket. Everything else (handshake, reading, ping/pong,
close, backpressure) stays uvicorn's. An app served without it sends through ASGI as before.

Selected with `--ws trading_service.realtime.ws_protocol:StreamProtocol` (shared/serving.py).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import PerMessageDeflate

SINK_EXTENSION = "stocksim.websocket.sink"


class StreamProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Kept from asyncio's own callbacks (pause/resume writing, connection lost).
        self.socket_writable = asyncio.Event()
        self.socket_writable.set()
        self.socket_lost = False

    def pause_writing(self) -> None:
        super().pause_writing()
        self.socket_writable.clear()

    def resume_writing(self) -> None:
        super().resume_writing()
        self.socket_writable.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.socket_lost = True
        self.socket_writable.set()  # nobody waits for a socket that is gone
        super().connection_lost(exc)

    async def run_asgi(self) -> None:
        self.scope["extensions"][SINK_EXTENSION] = {"sink": SocketSink(self)}
        await super().run_asgi()


class SocketSink:
    """The `FrameSink` of one connection (for use once the app has accepted the handshake)."""

    def __init__(self, protocol: StreamProtocol) -> None:
        self._protocol = protocol
        # Negotiated with the handshake, which uvicorn answers before it runs the app.
        self.deflate_bits = next(
            (
                e.local_max_window_bits
                for e in protocol.conn.extensions
                if isinstance(e, PerMessageDeflate)
            ),
            None,
        )

    def write(self, frame: bytes) -> bool:
        protocol = self._protocol
        if protocol.socket_lost or protocol.transport.is_closing():
            return False
        protocol.transport.write(frame)
        return True

    def writable(self) -> bool:
        return self._protocol.socket_writable.is_set()

    async def drained(self) -> None:
        await self._protocol.socket_writable.wait()
