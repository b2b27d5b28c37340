"""The trading service accepts only the user service's tokens, verified with its public key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.trading_fixtures import SigningKey


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _hs256_with_public_key(key: SigningKey, claims: dict) -> str:
    public_pem = key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.kid})}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _bad_tokens(key: SigningKey) -> dict[str, str]:
    sub = uuid.uuid4()
    now = int(time.time())
    good = key.token(sub)
    header, _payload, signature = good.split(".")
    other_key = SigningKey(Ed25519PrivateKey.generate(), key.kid)
    claims = {
        "sub": str(sub),
        "iat": now,
        "exp": now + 600,
        "iss": "stocksim-user-service",
        "aud": "stocksim",
    }
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "HS256 keyed with the public key (key confusion)": _hs256_with_public_key(key, claims),
        "signed with another key": other_key.token(sub),
        "wrong audience": key.token(sub, aud="someone-else"),
        "wrong issuer": key.token(sub, iss="evil"),
        "expired": key.token(sub, iat=now - 7200, exp=now - 3600),
        "not yet valid": key.token(sub, nbf=now + 3600),
        "tampered payload": f"{header}.{_b64({**claims, 'sub': str(uuid.uuid4())})}.{signature}",
        "sub is not a user id": key.token("admin"),
        "garbage": "not-a-token",
    }


@pytest.mark.parametrize("case", list(_bad_tokens(SigningKey(Ed25519PrivateKey.generate(), "k"))))
async def test_bad_tokens_get_401(
    api: httpx.AsyncClient, signing_key: SigningKey, case: str
) -> None:
    token = _bad_tokens(signing_key)[case]
    response = await api.get("/portfolio", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, (case, response.text)
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_missing_token_gets_401(api: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}):
        response = await api.post(
            "/trade/buy", json={"stock_symbol": "AAPL", "quantity": 1}, headers=headers
        )
        assert response.status_code == 401, headers
        assert response.json()["error"] == "unauthorized"


async def test_public_endpoints_need_no_token(api: httpx.AsyncClient) -> None:
    assert (await api.get("/prices")).status_code == 200
    assert (await api.get("/health")).json() == {"status": "ok"}
