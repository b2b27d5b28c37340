"""A whole system of real processes (loadgen.system), so each process's own /metrics and
/readyz are scraped over HTTP and its servers can be stopped without touching other tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from loadgen.system import System


@pytest.fixture(scope="module")
async def system() -> AsyncIterator[System]:
    running = System(fsync=False)
    try:
        await running.start()
        yield running
    finally:
        await running.stop()
