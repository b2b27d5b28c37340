"""The trading API: order entry, portfolio, prices. `uvicorn trading_service.app:app`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import Depends, FastAPI
from redis.asyncio import BlockingConnectionPool, Redis
from sqlalchemy import text

from shared.apidocs import install_api_docs
from shared.background import stop_tasks
from shared.clock_api import router as clock_router
from shared.collector import quiet_garbage_collector
from shared.db import close_pg_pool, create_db_engine, create_pg_pool
from shared.deleted_users import DeletedUsers
from shared.errors import ServiceUnavailable, install_error_handlers
from shared.limits import BodySizeLimit
from shared.logging import configure_logging
from shared.market_epoch import load_market_clock
from shared.metrics import install_metrics
from shared.probes import Check, KafkaCheck, postgres_check, probe_router, redis_check
from shared.revoked_tokens import RevokedTokens
from shared.tokens import RefreshingVerifier, TokenVerifier, load_jwks
from trading_service.accounts.endpoints import router as accounts_router
from trading_service.alpaca.endpoints import router as alpaca_router
from trading_service.alpaca.feed import AlpacaFeed
from trading_service.alpaca.marketdata import router as alpaca_market_data_router
from trading_service.alpaca.stream_endpoints import router as alpaca_streams_router
from trading_service.candles.aggregator import CandleAggregator
from trading_service.candles.endpoints import router as candles_router
from trading_service.config import TradingSettings
from trading_service.deps import Resources, ResourcesDep
from trading_service.executions_feed import ExecutionsFeed
from trading_service.frontend.static import install_frontend
from trading_service.leaderboard.endpoints import router as leaderboard_router
from trading_service.leagues.endpoints import router as leagues_router
from trading_service.leagues.keeper import run_league_keeper
from trading_service.market.endpoints import router as market_router
from trading_service.marketwatch.endpoints import router as marketwatch_router
from trading_service.monitoring import sample_storage
from trading_service.orders.closing import run_deleted_accounts_sweep
from trading_service.orders.endpoints import ORDER_ENTRY_ROUTES
from trading_service.orders.endpoints import router as orders_router
from trading_service.orders.executions import ExecutionWaiter
from trading_service.orders.fast_path import FastOrderEntry
from trading_service.orders.group_commit import ORDER_FLUSHERS, OrderGroups
from trading_service.orders.handoff import OrderHandoff, build_producer, run_outbox_sweep
from trading_service.orders.service import ORDER_READ_CONNECTIONS
from trading_service.portfolio.endpoints import router as portfolio_router
from trading_service.prices.cache import PriceCache
from trading_service.prices.consumer import run_price_consumer
from trading_service.prices.endpoints import router as prices_router
from trading_service.rate_limit import RATE_LIMIT_RESPONSE, RateLimiter, limit_order_entry
from trading_service.realtime.config import RealtimeSettings
from trading_service.realtime.endpoints import router as realtime_router
from trading_service.realtime.hub import Hub
from trading_service.session.api_keys import router as session_keys_router
from trading_service.session.config import SessionSettings
from trading_service.session.endpoints import router as session_router
from trading_service.session.service import UserService

# How long start-up waits for the hub's Redis subscription before serving without it.
HUB_SUBSCRIBE_WAIT_S = 5.0

DESCRIPTION = """
Order entry, portfolio and market data of the stocksim paper-trading exchange.

Authenticate with the `access_token` from the user service's `POST /login`
(`Authorization: Bearer ...`). Money and prices are decimal strings in responses and may be
sent as strings or numbers. Every error is `{"error": ..., "detail": ...}`.

Bots written for Alpaca use the `/v2` routes (Alpaca's Trading API v2, docs/alpaca.md) with
the headers `APCA-API-KEY-ID` and `APCA-API-SECRET-KEY` of a key from the user service's
`POST /api-keys`; their errors are Alpaca's `{"code": ..., "message": ...}`.
"""


def create_app(
    settings: TradingSettings | None = None,
    realtime: RealtimeSettings | None = None,
    session: SessionSettings | None = None,
    quiet_gc: bool = False,
) -> FastAPI:
    """The trading API. `quiet_gc`: once started, quiet the process's garbage collector
    (shared/collector.py): for the app uvicorn serves, whose process is the API's alone."""
    settings = settings or TradingSettings()
    realtime = realtime or RealtimeSettings()
    session = session or SessionSettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging("trading_service", settings.log_level, settings.log_json)
        jwks = await load_jwks(settings.jwks_url, settings.jwks_file)
        db = create_db_engine(settings.database_url, settings.db_pool_size, "stocksim-trading")
        # Order entry's group commit (trading_service/orders/group_commit.py): one connection
        # per flusher.
        order_pool = await create_pg_pool(
            settings.database_url, ORDER_FLUSHERS, "stocksim-trading-orders"
        )
        order_groups = OrderGroups(order_pool)
        reads_pool = await create_pg_pool(
            settings.database_url, ORDER_READ_CONNECTIONS, "stocksim-trading-reads"
        )
        # Requests wait (bounded) for a free Redis connection: the default pool refused the
        # 101st request in flight at once (MaxConnectionsError: the soak's 503s).
        redis = Redis.from_pool(
            BlockingConnectionPool.from_url(settings.redis_url, max_connections=100, timeout=5)
        )
        producer = build_producer(settings.kafka_bootstrap_servers)
        await producer.start()
        prices = PriceCache(redis)
        handoff = OrderHandoff(producer)
        executions = ExecutionWaiter()
        # The web page's sign-up/sign-in go through here (trading_service/session).
        user_service_client = httpx.AsyncClient(
            base_url=session.user_service_url, timeout=session.user_service_timeout_s
        )
        app.state.user_service = UserService(user_service_client)
        app.state.resources = Resources(
            settings=settings,
            db=db,
            redis=redis,
            prices=prices,
            handoff=handoff,
            executions=executions,
            verifier=RefreshingVerifier(
                TokenVerifier(jwks, settings.jwt_issuer, settings.jwt_audience),
                lambda: load_jwks(settings.jwks_url, settings.jwks_file, timeout_s=5),
                settings.jwt_issuer,
                settings.jwt_audience,
                settings.jwks_refresh_min_s,
            ),
            deleted_users=DeletedUsers(redis),
            revoked_tokens=RevokedTokens(redis),
            order_groups=order_groups,
            pg=reads_pool,
        )
        # The WebSocket stream and the candles (trading_service/realtime, trading_service/candles)
        # One market clock for bars, "today" and GET /clock (shared/market_clock.py).
        clock = app.state.clock = await load_market_clock(db, settings)
        candles = app.state.candles = CandleAggregator(db, realtime.candle_flush_s, clock)
        hub = app.state.hub = Hub(
            realtime,
            redis,
            db,
            prices,
            app.state.resources.verifier,
            candles,
            settings.starting_cash,
            app.state.resources.deleted_users,
            app.state.resources.revoked_tokens,
        )
        # The Alpaca streams (/stream, /v2/iex, /v2/sip) ride on the hub's one subscription.
        alpaca_feed = app.state.alpaca_feed = AlpacaFeed(db, clock, candles)
        hub.taps.append(alpaca_feed.tap)
        # So do the engine's reports, decoded once: the hub first (Alpaca's bars read the
        # candles it updates), then Alpaca's trade updates, then the waiting requests.
        executions_feed = ExecutionsFeed()
        hub.taps.append(executions_feed.tap)
        executions_feed.listen(hub.on_executions)
        executions_feed.listen(alpaca_feed.on_executions)
        executions_feed.listen(executions.on_executions)
        tasks = [
            asyncio.create_task(alpaca_feed.run_trade_updates()),
            asyncio.create_task(hub.run_redis()),
            asyncio.create_task(hub.run_account_refresh()),
            asyncio.create_task(hub.run_heartbeats()),
            asyncio.create_task(candles.run()),
            asyncio.create_task(run_price_consumer(settings.kafka_bootstrap_servers, prices)),
            asyncio.create_task(run_outbox_sweep(db, handoff, settings.republish_after_s)),
            asyncio.create_task(
                run_league_keeper(
                    db, prices, handoff, settings.league_check_s, settings.league_snapshot_s
                )
            ),
            asyncio.create_task(hub.run_deleted_accounts()),
            asyncio.create_task(run_deleted_accounts_sweep(db, redis, handoff, every_s=1.0)),
            asyncio.create_task(sample_storage(db, prices)),
            *(asyncio.create_task(order_groups.run()) for _ in range(ORDER_FLUSHERS)),
        ]
        # Bounded: with Redis away at start the app still starts (and answers 503 where it
        # needs Redis); the hub subscribes when Redis is back.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(hub.subscribed.wait(), HUB_SUBSCRIBE_WAIT_S)
        app.state.kafka_check = KafkaCheck(settings.kafka_bootstrap_servers)
        app.state.rate_limiter = RateLimiter(
            redis,
            {
                "order": (settings.order_rate, settings.order_burst),
                "cancel": (settings.cancel_rate, settings.cancel_burst),
            },
        )
        if quiet_gc:
            quiet_garbage_collector()  # after start-up: what it built is frozen with the rest
        try:
            yield
        finally:
            await stop_tasks(tasks)
            with contextlib.suppress(Exception):
                await candles.flush()  # the forming bars' last ticks
            await producer.stop()
            await app.state.kafka_check.close()
            await user_service_client.aclose()
            await redis.aclose()
            await close_pg_pool(order_pool)
            await close_pg_pool(reads_pool)
            await db.dispose()

    app = FastAPI(
        title="stocksim trading service",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI and ReDoc from a CDN; /docs is shared/apidocs.py.
        docs_url=None,
        redoc_url=None,
    )
    install_api_docs(app)
    install_error_handlers(app)
    # Innermost of the app's own middlewares: inside the request id, metrics and size limit.
    app.add_middleware(FastOrderEntry, api=app, routes=ORDER_ENTRY_ROUTES)
    app.add_middleware(BodySizeLimit)
    install_metrics(app, "trading")

    def readiness_checks() -> dict[str, Check]:
        resources: Resources = app.state.resources
        return {
            "postgres": postgres_check(resources.db),
            "redis": redis_check(resources.redis),
            "kafka": app.state.kafka_check,
        }

    app.include_router(probe_router(readiness_checks))
    app.include_router(
        orders_router, dependencies=[Depends(limit_order_entry)], responses=RATE_LIMIT_RESPONSE
    )
    app.include_router(portfolio_router)
    app.include_router(prices_router)
    app.include_router(market_router)
    app.include_router(candles_router)
    app.include_router(realtime_router)
    app.include_router(session_router)
    app.include_router(session_keys_router)  # the web page's Keys screen
    app.include_router(leaderboard_router)
    app.include_router(accounts_router)
    app.include_router(leagues_router)
    app.include_router(marketwatch_router)
    app.include_router(clock_router)
    app.include_router(alpaca_market_data_router)  # /v2/stocks (trading_service/alpaca)
    app.include_router(alpaca_streams_router)  # /stream, /v2/iex, /v2/sip
    app.include_router(alpaca_router)  # Alpaca's /v2 (trading_service/alpaca)
    install_frontend(app)  # the web page at /, when built (web/)

    @app.get("/health", tags=["health"], summary="PostgreSQL and Redis reachable")
    async def health(resources: ResourcesDep) -> dict[str, str]:
        try:
            async with resources.db.connect() as conn:
                await conn.execute(text("SELECT 1"))
            await resources.redis.ping()
        except Exception as exc:
            raise ServiceUnavailable(f"dependency unavailable: {type(exc).__name__}") from exc
        return {"status": "ok"}

    return app


# What uvicorn serves (`trading_service.app:app`): a process of its own.
app = create_app(quiet_gc=True)
