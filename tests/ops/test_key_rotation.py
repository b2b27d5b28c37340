"""Key rotation under load: the user service switches its signing key (files only, no restart)
while clients keep trading; the trading service fetches the JWKS again when it meets the new
kid, tokens of the old key keep working, and not one request fails."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.stack import Stack
from shared.errors import Unauthorized
from shared.tokens import RefreshingVerifier, TokenVerifier
from tests.live_server import serve
from tests.trading_fixtures import AUDIENCE, ISSUER, SigningKey
from trading_service.app import create_app as create_trading_app
from trading_service.config import TradingSettings
from user_service.app import create_app as create_user_app
from user_service.config import UserSettings

PASSWORD = "rotate-me-please-1"


def write_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Atomically, as an operator's `mv` would: a reader never sees half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    os.replace(tmp, path)


@dataclass
class Services:
    users: httpx.AsyncClient
    trading: httpx.AsyncClient
    keys: Path


@pytest.fixture
async def services(
    stack: Stack, tmp_path: Path, trading_settings: TradingSettings
) -> AsyncIterator[Services]:
    keys = tmp_path / "keys"
    keys.mkdir()
    write_key(keys / "active.pem", Ed25519PrivateKey.generate())
    user_settings = UserSettings(
        data_dir=tmp_path,
        jwt_private_key_path=keys / "active.pem",
        jwt_extra_key_paths=[keys / "previous.pem"],  # absent until the rotation
        jwt_key_reload_s=0.2,
        register_max_per_ip=1_000_000,
        login_max_per_ip=1_000_000,
    )
    user_app = create_user_app(user_settings)
    async with serve(user_app) as host:
        trading_app = create_trading_app(
            trading_settings.model_copy(
                update={
                    "jwks_file": None,
                    "jwks_url": f"http://{host}/.well-known/jwks.json",
                    "jwks_refresh_min_s": 1.0,
                }
            )
        )
        async with (
            trading_app.router.lifespan_context(trading_app),
            httpx.AsyncClient(base_url=f"http://{host}", timeout=30) as users,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=trading_app),
                base_url="http://trading",
                timeout=30,
            ) as trading,
        ):
            yield Services(users, trading, keys)


async def login(users: httpx.AsyncClient, email: str) -> str:
    response = await users.post("/login", json={"email": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def kid(token: str) -> str:
    value: str = jwt.get_unverified_header(token)["kid"]
    return value


async def test_rotating_the_signing_key_under_load_loses_no_request(services: Services) -> None:
    name = f"rot_{uuid.uuid4().hex[:10]}"
    email = f"{name}@example.com"
    registered = await services.users.post(
        "/register", json={"username": name, "email": email, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    first = await login(services.users, email)
    old_kid = kid(first)
    answers: Counter[int] = Counter()
    failures: list[str] = []
    kids_used: Counter[str] = Counter()
    stop = asyncio.Event()

    async def trader() -> None:
        token = first
        round_ = 0
        while not stop.is_set():
            round_ += 1
            if round_ % 4 == 0:
                token = await login(services.users, email)  # new tokens: the active key's
            for used in (token, first):  # the first token too: it must outlive the rotation
                response = await services.trading.get(
                    "/portfolio", headers={"Authorization": f"Bearer {used}"}
                )
                answers[response.status_code] += 1
                kids_used[kid(used)] += 1
                if response.status_code != 200:
                    failures.append(f"{kid(used)}: {response.status_code} {response.text}")

    load = [asyncio.create_task(trader()) for _ in range(4)]
    try:
        await asyncio.sleep(1.0)
        # The rotation, as README "Rotating the signing key" describes it.
        (services.keys / "previous.pem").write_bytes((services.keys / "active.pem").read_bytes())
        new_key = Ed25519PrivateKey.generate()
        write_key(services.keys / "active.pem", new_key)
        async with asyncio.timeout(30):
            while kid(await login(services.users, email)) == old_kid:
                await asyncio.sleep(0.1)
        new_kid = kid(await login(services.users, email))
        await asyncio.sleep(2.0)  # keep trading with both keys' tokens
    finally:
        stop.set()
        await asyncio.gather(*load)

    assert not failures, failures[:5]
    assert kids_used[new_kid] > 0 and kids_used[old_kid] > 0, kids_used
    assert answers[200] == sum(answers.values()) > 0
    jwks = (await services.users.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid, old_kid]

    # After the old tokens' lifetime the previous key is removed: its tokens stop working.
    (services.keys / "previous.pem").unlink()
    async with asyncio.timeout(30):
        while len((await services.users.get("/.well-known/jwks.json")).json()["keys"]) != 1:
            await asyncio.sleep(0.1)
    fresh = await login(services.users, email)
    assert (
        await services.trading.get("/portfolio", headers={"Authorization": f"Bearer {fresh}"})
    ).status_code == 200


async def test_unknown_key_ids_fetch_the_jwks_at_most_once_per_interval(
    signing_key: SigningKey,
) -> None:
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(signing_key.private.public_key(), as_dict=True)
    jwks = {"keys": [jwk | {"kid": signing_key.kid, "alg": "EdDSA", "use": "sig"}]}
    fetches = 0

    async def fetch() -> dict[str, object]:
        nonlocal fetches
        fetches += 1
        return jwks

    verifier = RefreshingVerifier(
        TokenVerifier(jwks, ISSUER, AUDIENCE), fetch, ISSUER, AUDIENCE, min_interval_s=0.5
    )
    forged = SigningKey(Ed25519PrivateKey.generate(), "forged-kid").token(uuid.uuid4())
    results = await asyncio.gather(
        *(verifier.verify_fetching(forged) for _ in range(50)), return_exceptions=True
    )
    assert all(isinstance(r, Unauthorized) for r in results)
    assert fetches == 1
    # Known keys never fetch.
    verifier.verify(signing_key.token(uuid.uuid4()))
    await verifier.verify_fetching(signing_key.token(uuid.uuid4()))
    assert fetches == 1
