"""Property-based fuzzing of all three services from their own OpenAPI schemas (schemathesis).

For every operation, schema-valid and schema-invalid requests (bodies, paths, queries) go to the
running app on the real servers. Promised: never a 5xx; every response matches the schema the
service publishes (status body shape and content type); a request that breaks the schema is
refused with a 4xx. A request that may change something (POST, PUT, PATCH, DELETE) is sent twice
at once, as a client retrying after a timeout would: both answers are held to the same checks.
Bounded example counts keep this to about a minute.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
)

from stock_service.app import create_app as create_stock_app
from stock_service.config import StockSettings
from tests.hostile.conftest import (
    SigningKey,
    fresh_address,
    new_trader,
    new_user,
    user_service,
    user_settings,
)
from tests.stock_service.conftest import make_settings, running
from trading_service.app import create_app as create_trading_app
from trading_service.config import TradingSettings
from user_service.app import create_app as create_user_app
from user_service.config import UserSettings

# Per operation and mode; CI runs the default, `STOCKSIM_FUZZ_EXAMPLES=500` digs deeper.
EXAMPLES_PER_OPERATION = int(os.environ.get("STOCKSIM_FUZZ_EXAMPLES", "20"))
FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# Sent twice concurrently: racing duplicates must not find a 5xx (e.g. a unique violation).
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _cases(spec: dict[str, Any]) -> list[Any]:
    """(operation, mode) for every operation; negative only where there is an input to break."""
    schema = schemathesis.openapi.from_dict(spec)
    cases = []
    for result in schema.get_all_operations():
        op = result.ok()
        definition = spec["paths"][op.path][op.method.lower()]
        for mode in MODES if _can_be_broken(definition) else MODES[:1]:
            cases.append(pytest.param(op, mode, id=f"{op.method.upper()} {op.path} {mode.value}"))
    return cases


def _can_be_broken(definition: dict[str, Any]) -> bool:
    """Whether some input has a constraint a request could violate (else negative is empty)."""
    if "requestBody" in definition or "security" in definition:
        return True
    for parameter in definition.get("parameters", []):
        schema = {k: v for k, v in parameter.get("schema", {}).items() if k not in _NOTES}
        if parameter["in"] != "path" and parameter.get("required"):
            return True
        if schema not in ({}, {"type": "string"}):
            return True
    return False


_NOTES = {"title", "description", "examples", "example", "default"}


# The schemas come from the apps themselves; building an app has no side effect.
USER_CASES = _cases(create_user_app(UserSettings()).openapi())
TRADING_CASES = _cases(create_trading_app(TradingSettings()).openapi())
STOCK_CASES = _cases(create_stock_app(StockSettings()).openapi())


async def _send_and_check(
    client: httpx.AsyncClient, case: Any, mode: GenerationMode, headers: dict[str, str]
) -> None:
    kwargs = case.as_transport_kwargs(base_url=str(client.base_url))
    header_info = case.meta.components.get(ParameterLocation.HEADER) if case.meta else None
    if header_info is not None and header_info.mode is GenerationMode.NEGATIVE:
        headers = {}  # the case breaks its headers on purpose (e.g. drops Authorization)
    sent_headers = {**kwargs.get("headers", {}), **headers}
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif kwargs.get("data") is not None:
        body["content"] = kwargs["data"]
    copies = 2 if kwargs["method"].upper() in STATE_CHANGING else 1
    responses = await asyncio.gather(
        *(
            client.request(
                kwargs["method"],
                kwargs["url"],
                params=kwargs.get("params"),
                headers=sent_headers,
                **body,
            )
            for _ in range(copies)
        )
    )
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    if mode is GenerationMode.NEGATIVE:
        checks.append(negative_data_rejection)
    for response in responses:
        case.validate_response(response, checks=checks, headers=sent_headers)


@pytest.fixture(scope="module")
async def users_client() -> AsyncIterator[httpx.AsyncClient]:
    # Lifted: fuzzed DELETE /me passwords would otherwise lock the fuzz user's own logins out.
    limits = user_settings(
        register_max_per_ip=1_000_000,
        login_max_per_ip=1_000_000,
        login_max_per_email_per_ip=1_000_000,
        login_max_per_email=1_000_000,
    )
    async with user_service(limits, fresh_address()) as (_, client):
        yield client


@pytest.fixture(scope="module")
async def fuzz_user(users_client: httpx.AsyncClient) -> dict[str, Any]:
    user = new_user()
    assert (await users_client.post("/register", json=user)).status_code == 201
    return user


async def _login(users_client: httpx.AsyncClient, user: dict[str, Any]) -> dict[str, str]:
    login = await users_client.post(
        "/login", json={"email": user["email"], "password": user["password"]}
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.fixture(scope="module")
async def user_token(users_client: httpx.AsyncClient, fuzz_user: dict[str, Any]) -> dict[str, str]:
    return await _login(users_client, fuzz_user)


@pytest.fixture(scope="module")
async def api_key(users_client: httpx.AsyncClient, user_token: dict[str, str]) -> dict[str, str]:
    """Alpaca's key headers for the /v2 routes (trading_service/alpaca)."""
    created = await users_client.post("/api-keys", json={"label": "fuzz"}, headers=user_token)
    assert created.status_code == 201, created.text
    key = created.json()
    return {"APCA-API-KEY-ID": key["key_id"], "APCA-API-SECRET-KEY": key["secret_key"]}


@pytest.fixture(scope="module")
async def stock_client(data_dir: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with running(make_settings(data_dir / "fuzz-stock", ["FUZZA", "FUZZB"])) as (_, client):
        yield client


@pytest.mark.parametrize(("operation", "mode"), USER_CASES)
@FUZZ
@given(data=st.data())
async def test_user_service(
    users_client: httpx.AsyncClient,
    fuzz_user: dict[str, Any],
    user_token: dict[str, str],
    operation: Any,
    mode: GenerationMode,
    data: st.DataObject,
) -> None:
    case = data.draw(operation.as_strategy(generation_mode=mode))
    # A logout revokes its token: give it one of its own, so the shared one stays valid.
    token = await _login(users_client, fuzz_user) if operation.path == "/logout" else user_token
    await _send_and_check(users_client, case, mode, token)


@pytest.mark.parametrize(("operation", "mode"), TRADING_CASES)
@FUZZ
@given(data=st.data())
async def test_trading_service(
    trading: httpx.AsyncClient,
    hostile_key: SigningKey,
    api_key: dict[str, str],
    operation: Any,
    mode: GenerationMode,
    data: st.DataObject,
) -> None:
    case = data.draw(operation.as_strategy(generation_mode=mode))
    # /v2 authenticates with the key headers, the rest with the token.
    credentials = api_key if operation.path.startswith("/v2/") else new_trader(hostile_key).headers
    await _send_and_check(trading, case, mode, credentials)


@pytest.mark.parametrize(("operation", "mode"), STOCK_CASES)
@FUZZ
@given(data=st.data())
async def test_stock_service(
    stock_client: httpx.AsyncClient,
    operation: Any,
    mode: GenerationMode,
    data: st.DataObject,
) -> None:
    case = data.draw(operation.as_strategy(generation_mode=mode))
    await _send_and_check(stock_client, case, mode, {})
