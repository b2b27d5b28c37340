"""The fan-out's window: a bound on frames per second, not a delay added to every message."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from trading_service.realtime.fanout import Block, Fanout


class _Subscriber:
    def __init__(self) -> None:
        self.blocks: list[list[str]] = []

    def add(self, key: str, block: Block) -> None:
        self.blocks.append(block.texts())


async def test_after_a_quiet_window_messages_go_out_at_once_then_wait_for_the_window() -> None:
    subscriber = _Subscriber()
    fanout = Fanout(cast(Any, {"prices": {subscriber}}), window_s=3600)
    fanout.add("prices", "a")
    fanout.add("prices", "b")
    assert subscriber.blocks == []  # not before the hub has read what arrived together
    await asyncio.sleep(0)
    assert subscriber.blocks == [["a", "b"]]  # not an hour later

    fanout.add("prices", "c")
    fanout.add("nobody", "x")  # no subscriber: dropped
    for _ in range(5):
        await asyncio.sleep(0)
    assert subscriber.blocks == [["a", "b"]]  # within the window of the last flush: held
    assert fanout.pending("prices") and not fanout.pending("nobody")
    fanout.flush()  # what the timer does when the window is over
    assert subscriber.blocks == [["a", "b"], ["c"]]
