"""No default secret outside development; passwords and their hashes never leave the service."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.config import DEV_DATABASE_URL
from stock_service.config import StockSettings
from tests.hostile.conftest import fresh_address, new_user, user_service, user_settings
from trading_service.config import EngineSettings, TradingSettings
from user_service.config import UserSettings
from user_service.tables import users

REAL_URL = "postgresql+asyncpg://stocksim:s3cret@db.internal:5432/stocksim"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("STOCKSIM_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", REAL_URL)
    monkeypatch.setenv("USER_JWT_PRIVATE_KEY_PATH", str(tmp_path / "key.pem"))
    return monkeypatch


SETTINGS = [UserSettings, TradingSettings, EngineSettings, StockSettings]


@pytest.mark.parametrize("settings_class", SETTINGS, ids=[s.__name__ for s in SETTINGS])
@pytest.mark.parametrize(
    ("database_url", "refusal"),
    [
        (None, "DATABASE_URL must be set"),
        (DEV_DATABASE_URL, "DATABASE_URL must be set"),
        ("postgresql+asyncpg://stocksim@db.internal:5432/stocksim", "must carry a password"),
        ("postgresql+asyncpg://stocksim:@db.internal:5432/stocksim", "must carry a password"),
        ("not a url", "not a database URL"),
    ],
    ids=["unset", "dev default", "no password", "empty password", "garbage"],
)
def test_production_refuses_a_database_without_a_password(
    production: pytest.MonkeyPatch,
    settings_class: type[UserSettings],
    database_url: str | None,
    refusal: str,
) -> None:
    if database_url is None:
        production.delenv("DATABASE_URL")
    else:
        production.setenv("DATABASE_URL", database_url)
    with pytest.raises(ValidationError, match=refusal):
        settings_class()


def test_production_refuses_a_generated_signing_key(production: pytest.MonkeyPatch) -> None:
    production.delenv("USER_JWT_PRIVATE_KEY_PATH")
    with pytest.raises(ValidationError, match="USER_JWT_PRIVATE_KEY_PATH"):
        UserSettings()


def test_production_starts_with_real_secrets(production: pytest.MonkeyPatch) -> None:
    for settings_class in SETTINGS:
        assert settings_class().database_url == REAL_URL
    assert UserSettings().jwt_private_key_path is not None


def test_development_keeps_its_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOCKSIM_ENV", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("USER_JWT_PRIVATE_KEY_PATH", raising=False)
    assert UserSettings().database_url == DEV_DATABASE_URL


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        # The whole record, `extra` fields included, as a JSON formatter would see it.
        self.lines.append(f"{self.format(record)} {record.__dict__!r}")


@pytest.fixture
def all_logs() -> Iterator[_Everything]:
    handler = _Everything()
    root = logging.getLogger()
    level = root.level
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


async def test_passwords_and_hashes_never_appear_in_logs_or_responses(
    db: AsyncEngine, all_logs: _Everything
) -> None:
    password = "Sup3r-secret-passphrase!"
    user = new_user(password=password)
    responses: list[httpx.Response] = []
    async with user_service(user_settings(), fresh_address()) as (_, client):
        # After start-up: the lifespan installs its own root handler.
        logging.getLogger().addHandler(all_logs)
        logging.getLogger().setLevel(logging.DEBUG)
        responses.append(await client.post("/register", json=user))
        responses.append(await client.post("/register", json=user))  # 409
        responses.append(await client.post("/register", json=new_user(password="x" * 129)))
        responses.append(await client.post("/register", json=new_user(password=password[:5])))
        login = {"email": user["email"], "password": password}
        responses.append(await client.post("/login", json=login))
        responses.append(await client.post("/login", json=login | {"password": password + "x"}))
        responses.append(await client.post("/login", json=login | {"email": "x" * 400}))
        token = responses[4].json()["access_token"]
        responses.append(await client.get("/me", headers={"Authorization": f"Bearer {token}"}))
        async with db.connect() as conn:
            password_hash = (
                await conn.execute(
                    select(users.c.password_hash).where(users.c.email == user["email"])
                )
            ).scalar_one()
        responses.append(
            await client.request(
                "DELETE",
                "/me",
                json={"password": password},
                headers={"Authorization": f"Bearer {token}"},
            )
        )
    assert [r.status_code for r in responses] == [201, 409, 422, 422, 200, 401, 422, 200, 204]
    secrets = [password, password[:5], "x" * 129, password_hash, password_hash.split("$")[-1]]
    assert all_logs.lines, "the capture saw no log record at all"
    for secret in secrets:
        for response in responses:
            assert secret not in response.text
            assert all(secret not in value for value in response.headers.values())
        for line in all_logs.lines:
            assert secret not in line
