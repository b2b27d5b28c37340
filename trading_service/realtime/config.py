"""Settings of the WebSocket stream and the candle aggregator (prefix TRADING_WS_)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RealtimeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADING_WS_", env_file=".env", extra="ignore")

    heartbeat_s: float = Field(default=15.0, gt=0)
    # Messages waiting for one client; past this it is a slow consumer and is disconnected.
    send_queue: int = Field(default=2000, ge=1)
    # How long a slow consumer gets to take its "slow consumer" error before the socket is cut.
    close_grace_s: float = Field(default=2.0, gt=0)
    # Updates are handed to every subscriber at most once per this window (a ?batch=true client
    # gets them in one frame): at once when the last hand-out is this old, else when it is. It
    # bounds the frames per second of a batch client, and adds at most this much latency.
    batch_window_s: float = Field(default=0.02, ge=0, le=1)
    max_channels: int = Field(default=500, ge=1)
    # Open connections per user and process: one more is refused with close code 4029.
    max_per_user: int = Field(default=10, ge=1)
    # Orders and portfolio are read from Postgres at most this often per account (bursts coalesce).
    account_refresh_s: float = Field(default=0.05, ge=0)
    # Forming candles are upserted into Postgres this often.
    candle_flush_s: float = Field(default=1.0, gt=0)
