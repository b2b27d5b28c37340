"""Settings every process reads. Each service subclasses `CommonSettings` with its own prefix."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# The embedded development stack's defaults; real deployments set the variables.
DEV_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:54329/stocksim"
DEV_REDIS_URL = "redis://127.0.0.1:63799/0"
DEV_KAFKA_BOOTSTRAP_SERVERS = "127.0.0.1:19092"


class CommonSettings(BaseSettings):
    """Connection settings shared by all services; names are unprefixed so one `.env` serves all."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: str = Field(default="development", validation_alias="STOCKSIM_ENV")
    data_dir: Path = Field(default=Path(".data"), validation_alias="STOCKSIM_DATA_DIR")
    database_url: str = Field(default=DEV_DATABASE_URL, validation_alias="DATABASE_URL")
    redis_url: str = Field(default=DEV_REDIS_URL, validation_alias="REDIS_URL")
    kafka_bootstrap_servers: str = Field(
        default=DEV_KAFKA_BOOTSTRAP_SERVERS, validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    # Partitions of `stock-prices` and `orders`; equal so one engine owns both halves of a symbol.
    kafka_partitions: int = Field(default=4, validation_alias="KAFKA_PARTITIONS", ge=1)
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    log_json: bool = Field(default=True, validation_alias="LOG_JSON")
    # The market clock (shared/market_clock.py), the same for every process: market seconds per
    # wall second (6.5: one 6.5-hour session per wall hour), and the wall instant market time
    # began (unset: the first start stores it in PostgreSQL, table `market_clock`).
    market_time_scale: float = Field(
        default=6.5, validation_alias="MARKET_TIME_SCALE", gt=0, le=1_000_000
    )
    market_epoch: datetime | None = Field(default=None, validation_alias="STOCKSIM_MARKET_EPOCH")
    # HMAC key of stored API-key secrets (shared/api_keys.py); the same in every service.
    api_key_pepper: str = Field(default="", validation_alias="API_KEY_PEPPER")

    @model_validator(mode="after")
    def _real_database_credentials_outside_development(self) -> CommonSettings:
        # The embedded default has no password; anywhere else that means an open database.
        if not self.is_development:
            if self.database_url == DEV_DATABASE_URL:
                raise ValueError("DATABASE_URL must be set outside development")
            try:
                password = make_url(self.database_url).password
            except ArgumentError:
                raise ValueError("DATABASE_URL is not a database URL") from None
            if not password:
                raise ValueError("DATABASE_URL must carry a password outside development")
        return self

    @model_validator(mode="after")
    def _market_epoch_has_a_zone(self) -> CommonSettings:
        if self.market_epoch is not None and self.market_epoch.tzinfo is None:
            raise ValueError("STOCKSIM_MARKET_EPOCH needs a UTC offset, e.g. 2026-01-05T14:30:00Z")
        return self

    @property
    def is_development(self) -> bool:
        return self.environment == "development"
