"""The stock service's settings: `STOCK_`-prefixed, on top of the shared connection settings."""

from __future__ import annotations

import math
from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.config import CommonSettings
from stock_service.market.random_walk import trading_years


class StockSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="STOCK_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8003, ge=1, le=65535)
    # Same seed, same price paths: set it only for reproducible runs, since anyone who knows it
    # can compute every future price. Unset, the system keeps a secret seed of its own.
    seed: int | None = Field(default=None, description="Same seed, same (predictable) paths.")
    tick_interval: float = Field(default=1.0, gt=0, le=3600, description="Seconds between ticks.")
    # The market's past, written once into `candles` (stock_service/market/history.py): trading
    # days of daily bars before the epoch, and how many of the latest of them get minute bars.
    history_days: int = Field(default=400, ge=0, le=5000)
    history_minute_days: int = Field(default=10, ge=0, le=60)
    symbols: str | None = Field(
        default=None, description='Universe override, e.g. "AAPL:190.00,MSFT:420.00".'
    )
    symbols_file: Path | None = Field(default=None, description="JSON list of listings.")
    state_save_interval: float = Field(default=5.0, gt=0, le=3600)
    publish_timeout: float = Field(default=5.0, gt=0)
    reconnect_backoff: float = Field(default=2.0, ge=0)
    # How long publishing may fail before /health answers 503.
    health_grace: float = Field(default=10.0, gt=0)

    @property
    def state_path(self) -> Path:
        return self.data_dir / "stock_service" / "state.json"

    @property
    def step_s(self) -> float:
        """One tick in market seconds: the walk's time step on the market clock."""
        return self.tick_interval * self.market_time_scale

    @property
    def seed_path(self) -> Path:
        """The secret seed used when STOCK_SEED is unset (stock_service/market/seed.py)."""
        return self.data_dir / "stock_service" / "seed"

    @property
    def dt(self) -> float:
        """One tick in trading years."""
        return trading_years(self.step_s)

    @property
    def save_every_ticks(self) -> int:
        return max(1, math.ceil(self.state_save_interval / self.tick_interval))
