"""A whole system of real processes (loadgen.system) that the fault drills may break."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loadgen.system import System


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    # Its own servers and services on free ports: breaking them touches no other test.
    running = System(fsync=False)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
