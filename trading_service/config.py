"""Settings of the trading API and of the matching engine."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import CommonSettings


class TradingSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="TRADING_", env_file=".env", extra="ignore")

    port: int = 8002
    # The public key only: this service can verify tokens, never mint them.
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwks_file: Path | None = None
    # A token with a key id the JWKS lacks fetches it again, at most once per this many seconds
    # (a token arriving sooner waits for the next fetch).
    jwks_refresh_min_s: float = Field(default=5.0, ge=0)
    jwt_issuer: str = "stocksim-user-service"
    jwt_audience: str = "stocksim"
    starting_cash: Decimal = Field(default=Decimal("100000.00"), gt=0)
    # Market buys reserve cash at last price x (1 + collar): the engine never fills above it.
    market_collar_bps: int = Field(default=500, ge=1, le=5000)
    # A market order needs a reference price younger than this.
    max_price_age_s: float = Field(default=30.0, gt=0)
    # How long /trade/buy and ?wait=true wait for the engine before answering with the order as is.
    order_wait_s: float = Field(default=5.0, ge=0, le=30)
    # Orders the engine has not accepted after this long are handed to Kafka again (outbox sweep).
    republish_after_s: float = Field(default=2.0, gt=0)
    db_pool_size: int = 20
    # Per account (trading_service/rate_limit.py): orders (place, replace) and cancels per second
    # with bursts up to *_burst; a rate of 0 lifts the limit.
    order_rate: float = Field(default=20.0, ge=0)
    order_burst: int = Field(default=100, ge=1)
    cancel_rate: float = Field(default=20.0, ge=0)
    cancel_burst: int = Field(default=100, ge=1)
    # Leagues (trading_service/leagues): how often ended leagues are finalized, and the interval
    # of their equity snapshots.
    league_check_s: float = Field(default=2.0, gt=0)
    league_snapshot_s: float = Field(default=60.0, ge=1)


class EngineSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="ENGINE_", env_file=".env", extra="ignore")

    group_id: str = "matching-engine"
    spread_bps: int = Field(default=10, ge=0, le=10_000)
    house_size: int | None = Field(default=None, ge=1)
    # Records per batch: a 5,000 ticks/s market needs big batches (each costs a transaction).
    max_batch: int = Field(default=5000, ge=1)
    # Kafka group session timeout: how fast a dead engine's symbols move to another one.
    session_timeout_ms: int = Field(default=6000, ge=1000)
    # /livez, /readyz, /health and /metrics (trading_service/engine/probe.py); 0: any free port.
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8004, ge=0, le=65535)
    # How long the broker may hold the consumer's fetch open when there is nothing to read: it
    # answers as soon as one record arrives, so a long wait costs no latency, only fewer fetches.
    fetch_max_wait_ms: int = Field(default=500, ge=1, le=30_000)
