"""POST /login and GET /me: tokens for the right password only, verifiable with the JWKS."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt
import pytest
from passlib.context import CryptContext
from sqlalchemy import select, update

from shared.tokens import TokenVerifier
from tests.user_service.conftest import login, register
from user_service.config import UserSettings
from user_service.deps import Resources
from user_service.tables import users


async def test_login_returns_a_bearer_token_the_jwks_verifies(
    client: httpx.AsyncClient, settings: UserSettings
) -> None:
    user = await register(client)
    response = await client.post(
        "/login", json={"email": user["email"], "password": user["password"]}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.jwt_lifetime_s == 3600
    jwks = (await client.get("/.well-known/jwks.json")).json()
    header = jwt.get_unverified_header(body["access_token"])
    assert header["alg"] == "EdDSA"
    assert header["kid"] == jwks["keys"][0]["kid"]
    claims = TokenVerifier(jwks, settings.jwt_issuer, settings.jwt_audience).verify(
        body["access_token"]
    )
    assert claims.sub == uuid.UUID(user["id"])
    assert claims.exp - claims.iat == 3600


async def test_login_email_ignores_case(client: httpx.AsyncClient) -> None:
    user = await register(client)
    assert await login(client, user["email"].upper())


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    user = await register(client)
    wrong_password = await client.post(
        "/login", json={"email": user["email"], "password": "not the password"}
    )
    unknown_email = await client.post(
        "/login", json={"email": f"nobody-{uuid.uuid4().hex}@example.com", "password": "whatever1"}
    )

    assert wrong_password.status_code == unknown_email.status_code == 401
    assert wrong_password.json() == unknown_email.json()
    assert wrong_password.json() == {
        "error": "unauthorized",
        "detail": "Incorrect email, user name or password",
    }
    assert wrong_password.headers["WWW-Authenticate"] == "Bearer"
    assert unknown_email.headers["WWW-Authenticate"] == "Bearer"


async def test_login_upgrades_an_outdated_hash(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    user = await register(client)
    weak = CryptContext(schemes=["argon2"], argon2__rounds=1, argon2__memory_cost=1024)
    async with resources.engine.begin() as conn:
        await conn.execute(
            update(users)
            .where(users.c.id == uuid.UUID(user["id"]))
            .values(password_hash=weak.hash(user["password"]))
        )

    assert await login(client, user["email"])

    async with resources.engine.connect() as conn:
        new_hash = await conn.scalar(
            select(users.c.password_hash).where(users.c.id == uuid.UUID(user["id"]))
        )
    assert new_hash is not None and "m=1024" not in new_hash
    assert not resources.hasher.needs_update(new_hash)
    assert await login(client, user["email"])


@pytest.mark.parametrize("body", [{"email": "x@example.com"}, {"password": "p" * 200}, {}])
async def test_malformed_login_is_422(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    response = await client.post("/login", json=body)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"


async def test_me_with_a_valid_token(client: httpx.AsyncClient) -> None:
    user = await register(client)
    token = await login(client, user["email"])
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json() == {k: user[k] for k in ("id", "username", "email", "created_at")}


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt"])
async def test_me_without_a_usable_token_is_401(
    client: httpx.AsyncClient, header: str | None
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await client.get("/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"


async def test_me_with_a_tampered_token_is_401(client: httpx.AsyncClient) -> None:
    victim = await register(client)
    attacker = await register(client)
    token = await login(client, attacker["email"])
    header, _, signature = token.split(".")
    # Same signature, payload rewritten to name the victim.
    claims = jwt.decode(token, options={"verify_signature": False}) | {"sub": victim["id"]}
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    response = await client.get(
        "/me", headers={"Authorization": f"Bearer {header}.{payload}.{signature}"}
    )
    assert response.status_code == 401
    assert response.json()["detail"] == "token signature is invalid"


async def test_me_with_an_expired_token_is_401(
    client: httpx.AsyncClient, resources: Resources, settings: UserSettings
) -> None:
    user = await register(client)
    now = int(time.time())
    token = jwt.encode(
        {
            "sub": user["id"],
            "iat": now - 7200,
            "exp": now - 3600,
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
        },
        resources.signing_key.private_key,
        algorithm="EdDSA",
        headers={"kid": resources.signing_key.kid},
    )
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "token expired"


async def test_me_for_a_user_that_does_not_exist_is_401(
    client: httpx.AsyncClient, resources: Resources
) -> None:
    token = resources.signer.sign(uuid.uuid4()).token
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["detail"] == "the token's user no longer exists"
