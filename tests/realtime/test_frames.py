"""Frames encoded once for many clients: what each kind of client decodes from the same bytes."""

from __future__ import annotations

import json

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from trading_service.realtime.fanout import Block
from trading_service.realtime.frames import text_frame


def _read(data: bytes, extensions: list[PerMessageDeflate]) -> list[Frame]:
    """Parse server frames as a client does (unmasked, decoded through its extensions)."""
    reader = StreamReader()
    reader.feed_data(data)
    frames = []
    while reader.buffer:
        parser = Frame.parse(reader.read_exact, mask=False, max_size=None, extensions=extensions)
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
    return frames


def _client(bits: int, keeps_context: bool) -> PerMessageDeflate:
    """A client's side of permessage-deflate (its decoder is for the server's messages)."""
    return PerMessageDeflate(
        remote_no_context_takeover=not keeps_context,
        local_no_context_takeover=False,
        remote_max_window_bits=bits,
        local_max_window_bits=15,
    )


MESSAGES = [
    json.dumps({"type": "price", "symbol": f"SYM{i % 7}", "price": f"{100 + i}.25", "seq": i})
    for i in range(300)
]


@pytest.mark.parametrize("keeps_context", [True, False])
@pytest.mark.parametrize("bits", [9, 12, 15])
def test_compressed_frames_decode_in_a_row_whatever_the_client_keeps(
    bits: int, keeps_context: bool
) -> None:
    """Each message is compressed on its own: a client that keeps the server's context across
    messages (the default offer, what browsers do) decodes a stream of them as well as one that
    does not, including one message sent uncompressed in between."""
    client = _client(bits, keeps_context)
    data = b"".join(text_frame(m, bits) for m in MESSAGES[:100])
    data += text_frame(MESSAGES[100], None)
    data += text_frame(",".join(MESSAGES[101:]), bits)  # long: back-references across the window
    frames = _read(data, [client])
    assert [f.opcode for f in frames] == [Opcode.TEXT] * 102
    assert [bytes(f.data).decode() for f in frames] == [*MESSAGES[:101], ",".join(MESSAGES[101:])]
    assert all(len(text_frame(m, bits)) < len(text_frame(m, None)) for m in MESSAGES[:3])


def test_a_block_is_encoded_once_per_kind_of_client() -> None:
    block = Block([("SYM", i, m) for i, m in enumerate(MESSAGES[:20])])
    batch = block.encoded(True, 12)
    assert block.encoded(True, 12) is batch  # shared, not rebuilt per client
    (frame,) = _read(batch, [_client(12, True)])
    assert json.loads(bytes(frame.data)) == [json.loads(m) for m in MESSAGES[:20]]
    each = _read(block.encoded(False, None), [])
    assert [bytes(f.data).decode() for f in each] == MESSAGES[:20]
    assert not any(f.rsv1 for f in each)
