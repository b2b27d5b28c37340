"""What `make run` reads: where the services listen and where the embedded servers keep data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import CommonSettings


class DevStackSettings(CommonSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = Field(default="127.0.0.1", validation_alias="STOCKSIM_HOST")
    user_port: int = Field(default=8001, validation_alias="USER_PORT", ge=1, le=65535)
    trading_port: int = Field(default=8002, validation_alias="TRADING_PORT", ge=1, le=65535)
    stock_port: int = Field(default=8003, validation_alias="STOCK_PORT", ge=1, le=65535)
    # The engine's probes and metrics; 0: any free port (tests).
    engine_port: int = Field(default=8004, validation_alias="ENGINE_HTTP_PORT", ge=0, le=65535)
    # Embedded servers' ports, used only for the servers that are not configured by URL.
    pg_port: int = Field(default=54329, validation_alias="STOCKSIM_PG_PORT", ge=1, le=65535)
    redis_port: int = Field(default=63799, validation_alias="STOCKSIM_REDIS_PORT", ge=1, le=65535)
    kafka_port: int = Field(default=19092, validation_alias="STOCKSIM_KAFKA_PORT", ge=1, le=65535)
    kafka_controller_port: int = Field(
        default=19093, validation_alias="STOCKSIM_KAFKA_CONTROLLER_PORT", ge=1, le=65535
    )
    # apache: durable, the production broker; tansu: memory only, no Java (see README).
    kafka_broker: Literal["apache", "tansu"] = Field(
        default="apache", validation_alias="STOCKSIM_KAFKA"
    )
    # How long each service may take to answer /health, and to stop after SIGTERM.
    start_timeout_s: float = Field(default=90.0, validation_alias="STOCKSIM_START_TIMEOUT_S", gt=0)
    stop_timeout_s: float = Field(default=15.0, validation_alias="STOCKSIM_STOP_TIMEOUT_S", gt=0)

    def configured_urls(self) -> dict[str, str]:
        """Server URLs given explicitly (environment or .env): those servers are not embedded."""
        given = {
            "DATABASE_URL": ("database_url", self.database_url),
            "REDIS_URL": ("redis_url", self.redis_url),
            "KAFKA_BOOTSTRAP_SERVERS": ("kafka_bootstrap_servers", self.kafka_bootstrap_servers),
        }
        return {
            env: value
            for env, (field, value) in given.items()
            if field in self.model_fields_set and value
        }
