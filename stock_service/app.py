"""The stock service: publishes one seeded random walk per symbol to `stock-prices`, serves them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from shared.apidocs import install_api_docs
from shared.errors import install_error_handlers
from shared.limits import BodySizeLimit
from shared.logging import configure_logging
from stock_service.config import StockSettings
from stock_service.market.endpoints import router
from stock_service.market.feed import PriceFeed
from stock_service.market.publisher import PricePublisher
from stock_service.market.seed import market_seed
from stock_service.market.service import Market
from stock_service.market.state import load_state
from stock_service.market.universe import load_universe


def create_app(settings: StockSettings | None = None) -> FastAPI:
    settings = settings or StockSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("stock_service", settings.log_level, settings.log_json)
        market = Market(
            load_universe(settings.symbols, settings.symbols_file),
            seed=market_seed(settings.seed, settings.seed_path),
            dt=settings.dt,
            now=datetime.now(UTC),
            saved=load_state(settings.state_path),
        )
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
            tick_interval=settings.tick_interval,
            save_every_ticks=settings.save_every_ticks,
            publish_timeout=settings.publish_timeout,
            health_grace=settings.health_grace,
        )
        app.state.feed = feed
        ticking = asyncio.create_task(feed.run(), name="price-feed")
        try:
            yield
        finally:
            ticking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticking
            await feed.close()

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
    app.include_router(router)
    return app


app = create_app()
