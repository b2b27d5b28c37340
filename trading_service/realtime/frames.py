"""Server-to-client WebSocket text frames as bytes: encoded once, written to many sockets.

A frame from the server is not masked, so the same message makes the same bytes for every
client that negotiated the same compression: a channel's batch is encoded (and compressed)
once per flush instead of once per client.
"""

from __future__ import annotations

from typing import Protocol

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode


class FrameSink(Protocol):
    """One client's socket, for frames the app has encoded itself (see `ws_protocol.py`)."""

    @property
    def deflate_bits(self) -> int | None:
        """The window of the server's permessage-deflate messages, None when uncompressed."""

    def write(self, frame: bytes) -> bool:
        """Hands whole frames to the socket; False (nothing written) once it is closing."""

    def writable(self) -> bool:
        """False while the socket's send buffer is above its high-water mark."""

    async def drained(self) -> None:
        """Returns once the socket is writable again, or closed."""


# Each message is compressed with a fresh compressor. That is valid whether or not the client
# let the server keep its context (RFC 7692 7.1.1: using the window is allowed, never
# required), and it is what makes one compressed message right for every client.
_deflaters: dict[int, PerMessageDeflate] = {}


def _deflater(bits: int) -> PerMessageDeflate:
    deflater = _deflaters.get(bits)
    if deflater is None:
        deflater = _deflaters[bits] = PerMessageDeflate(
            remote_no_context_takeover=True,  # only encodes: no decoder kept
            local_no_context_takeover=True,
            remote_max_window_bits=15,
            local_max_window_bits=bits,
            compress_settings={"memLevel": 5},  # as uvicorn's own
        )
    return deflater


def text_frame(text: str, deflate_bits: int | None) -> bytes:
    """One text message as a server frame, compressed with a window of `deflate_bits` or not."""
    frame = Frame(Opcode.TEXT, text.encode())
    if deflate_bits is None:
        return frame.serialize(mask=False)
    return frame.serialize(mask=False, extensions=[_deflater(deflate_bits)])
