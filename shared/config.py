"""Settings every process reads. Each service subclasses `CommonSettings` with its own prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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

    @property
    def is_development(self) -> bool:
        return self.environment == "development"
