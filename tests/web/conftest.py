"""A real user service on a free port, and a trading API whose sign-in goes to it.

The browser session endpoints call the user service over HTTP, so it runs on uvicorn here; the
trading API trusts that service's signing key (its JWKS), as under `make run`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from devstack.stack import Stack
from tests.live_server import serve
from trading_service.app import create_app
from trading_service.config import TradingSettings
from trading_service.session.config import SessionSettings
from user_service.app import create_app as create_user_app
from user_service.config import UserSettings

BROWSER = {"X-Requested-With": "stocksim-web"}


@pytest.fixture(scope="session")
async def user_service(stack: Stack) -> AsyncIterator[str]:
    settings = UserSettings(register_max_per_ip=1_000_000, login_max_per_ip=1_000_000)
    async with serve(create_user_app(settings)) as host:
        yield f"http://{host}"


@pytest.fixture(scope="session")
def web_settings(stack: Stack, user_service: str) -> TradingSettings:
    return TradingSettings(jwks_url=f"{user_service}/.well-known/jwks.json", log_json=False)


@pytest.fixture(scope="session")
async def web_app(
    web_settings: TradingSettings, user_service: str, topics: None
) -> AsyncIterator[FastAPI]:
    app = create_app(web_settings, session=SessionSettings(user_service_url=user_service))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def browser(web_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Like a browser tab: keeps the cookies it is given (each test starts signed out)."""
    transport = httpx.ASGITransport(app=web_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
