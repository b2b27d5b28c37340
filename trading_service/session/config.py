"""Settings of the browser session endpoints (prefix TRADING_)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class SessionSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADING_", env_file=".env", extra="ignore")

    # Sign-up and sign-in are forwarded here server-side: the page never talks to another origin.
    user_service_url: str = "http://127.0.0.1:8001"
    user_service_timeout_s: float = 10.0
