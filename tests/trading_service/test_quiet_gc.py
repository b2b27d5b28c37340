"""The served trading API quiets its process's garbage collector once started
(shared/collector.py); an app a test process embeds leaves the collector as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import httpx
import pytest

from shared.collector import THRESHOLDS
from trading_service.app import create_app
from trading_service.config import TradingSettings


@pytest.fixture
def collector_restored() -> Iterator[tuple[int, int, int]]:
    """The test process's collector settings, put back after the test."""
    before = gc.get_threshold()
    yield before
    gc.unfreeze()
    gc.set_threshold(*before)


async def test_the_served_app_quiets_the_collector_once_started(
    trading_settings: TradingSettings, topics: None, collector_restored: tuple[int, int, int]
) -> None:
    assert collector_restored != THRESHOLDS
    gc.unfreeze()
    app = create_app(trading_settings, quiet_gc=True)
    assert gc.get_threshold() == collector_restored  # building the app changes nothing
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == THRESHOLDS
        # What the started process holds (modules, the app, its clients) is out of the scans.
        assert gc.get_freeze_count() > 10_000


async def test_an_embedded_app_leaves_the_collector_alone(
    api: httpx.AsyncClient, collector_restored: tuple[int, int, int]
) -> None:
    # The tests' own app (tests/trading_fixtures.py), started and serving.
    assert (await api.get("/health")).status_code == 200
    assert gc.get_threshold() == collector_restored != THRESHOLDS
    assert gc.get_freeze_count() == 0
