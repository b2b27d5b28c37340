"""The stock service: publishes one seeded random walk per symbol to `stock-prices`, serves them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from shared.apidocs import install_api_docs
from shared.clock_api import router as clock_router
from shared.db import create_db_engine
from shared.errors import install_error_handlers
from shared.limits import BodySizeLimit
from shared.logging import configure_logging
from shared.market_epoch import load_market_clock
from shared.metrics import install_metrics
from shared.probes import KafkaCheck, probe_router
from stock_service.config import StockSettings
from stock_service.market.endpoints import router
from stock_service.market.feed import PriceFeed
from stock_service.market.history_store import keep_writing_history
from stock_service.market.publisher import PricePublisher
from stock_service.market.seed import market_seed
from stock_service.market.service import Market
from stock_service.market.state import load_state
from stock_service.market.universe import load_universe
from stock_service.monitoring import FEEDS


def create_app(settings: StockSettings | None = None) -> FastAPI:
    settings = settings or StockSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("stock_service", settings.log_level, settings.log_json)
        # PostgreSQL holds the market clock's epoch and receives the market's history.
        db = create_db_engine(settings.database_url, pool_size=2)
        clock = app.state.clock = await load_market_clock(db, settings)
        market = Market(
            load_universe(settings.symbols, settings.symbols_file),
            seed=market_seed(settings.seed, settings.seed_path),
            clock=clock,
            step_s=settings.step_s,
            now=datetime.now(UTC),
            saved=load_state(settings.state_path),
        )
        # The past ends where the walks stand before their first tick (a fresh walk: its
        # listing's price), so the first live tick continues from the last historic close.
        anchors = [(quote.listing, quote.price) for quote in market.quotes()]
        publisher = PricePublisher(
            settings.kafka_bootstrap_servers,
            settings.kafka_partitions,
            reconnect_backoff=settings.reconnect_backoff,
            request_timeout=settings.publish_timeout,
        )
        feed = PriceFeed(
            market,
            publisher,
            state_path=settings.state_path,
            save_every_ticks=settings.save_every_ticks,
            publish_timeout=settings.publish_timeout,
            health_grace=settings.health_grace,
        )
        app.state.feed = feed
        FEEDS.feeds.append(feed.health)
        ticking = asyncio.create_task(feed.run(), name="price-feed")
        history = asyncio.create_task(
            keep_writing_history(
                db,
                clock,
                anchors,
                seed=market.seed,  # the walks' own seed, however it was obtained
                days=settings.history_days,
                minute_days=settings.history_minute_days,
            ),
            name="market-history",
        )
        app.state.history = history
        try:
            yield
        finally:
            for task in (ticking, history):
                task.cancel()
            for task in (ticking, history):
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await feed.close()
            await db.dispose()
            await kafka_check.close()
            FEEDS.feeds.remove(feed.health)

    app = FastAPI(
        title="stocksim stock service",
        summary="Reference prices: one seeded geometric Brownian motion per listed symbol.",
        version="0.1.0",
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a CDN; /docs is shared/apidocs.py.
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit)
    install_metrics(app, "stock")
    # The feed only needs the broker; it has no database.
    kafka_check = KafkaCheck(settings.kafka_bootstrap_servers)
    app.include_router(probe_router(lambda: {"kafka": kafka_check}))
    app.include_router(router)
    app.include_router(clock_router)
    return app


app = create_app()
