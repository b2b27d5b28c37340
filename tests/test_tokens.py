"""shared.tokens: every forged, stale or malformed token is refused with a clear reason."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.servers import free_port
from shared.errors import Unauthorized
from shared.tokens import (
    LEEWAY_S,
    Claims,
    RefreshingVerifier,
    TokenVerifier,
    load_jwks,
    read_bearer,
)
from user_service.keys import SigningKey

ISSUER = "stocksim-user-service"
AUDIENCE = "stocksim"
KEY = SigningKey.from_private_key(Ed25519PrivateKey.generate())
USER_ID = uuid.uuid4()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload: dict[str, Any] = {
        "sub": str(USER_ID),
        "iat": now,
        "exp": now + 600,
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def signed(payload: dict[str, Any], key: SigningKey = KEY, kid: str | None = KEY.kid) -> str:
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(payload, key.private_key, algorithm="EdDSA", headers=headers)


def hand_made(header: dict[str, Any], payload: dict[str, Any], sign: bytes | None = None) -> str:
    """A token built without pyjwt, so it can carry what pyjwt refuses to produce."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    signature = b"" if sign is None else hmac.new(sign, signing_input.encode(), "sha256").digest()
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture
def verifier() -> TokenVerifier:
    return TokenVerifier(KEY.jwks(), ISSUER, AUDIENCE)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthorized) as info:
        verifier.verify(token)
    assert info.value.status == 401
    return str(info.value.detail)


def test_valid_token_gives_claims(verifier: TokenVerifier) -> None:
    payload = claims()
    assert verifier.verify(signed(payload)) == Claims(
        sub=USER_ID, iat=payload["iat"], exp=payload["exp"]
    )


def test_alg_none_is_refused(verifier: TokenVerifier) -> None:
    token = hand_made({"alg": "none", "typ": "JWT", "kid": KEY.kid}, claims())
    assert "'none' is not accepted" in refused(verifier, token)


def test_hs256_signed_with_the_public_key_is_refused(verifier: TokenVerifier) -> None:
    # Key confusion: HMAC keyed with public material anyone can fetch from the JWKS.
    for secret in (KEY.public_jwk["x"].encode(), json.dumps(KEY.public_jwk).encode()):
        token = hand_made({"alg": "HS256", "typ": "JWT", "kid": KEY.kid}, claims(), sign=secret)
        assert "'HS256' is not accepted" in refused(verifier, token)


def test_tampered_payload_is_refused(verifier: TokenVerifier) -> None:
    header, _, signature = signed(claims()).split(".")
    forged = b64(json.dumps(claims(sub=str(uuid.uuid4()))).encode())
    assert refused(verifier, f"{header}.{forged}.{signature}") == "token signature is invalid"


def test_token_of_another_key_with_our_kid_is_refused(verifier: TokenVerifier) -> None:
    other = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    token = signed(claims(), key=other, kid=KEY.kid)
    assert refused(verifier, token) == "token signature is invalid"


@pytest.mark.parametrize("kid", [None, "someone-elses-key"])
def test_unknown_or_missing_kid_is_refused(verifier: TokenVerifier, kid: str | None) -> None:
    assert refused(verifier, signed(claims(), kid=kid)) == "token signed by an unknown key"


def test_expired_token_is_refused(verifier: TokenVerifier) -> None:
    now = int(time.time())
    token = signed(claims(iat=now - 7200, exp=now - 3600))
    assert refused(verifier, token) == "token expired"


@pytest.mark.parametrize("field", ["iat", "nbf"])
def test_token_from_the_future_is_refused(verifier: TokenVerifier, field: str) -> None:
    now = int(time.time())
    token = signed(claims(**{field: now + 3600, "exp": now + 7200}))
    assert refused(verifier, token) == "token not yet valid"


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "....", "eyJhbGciOiJFZERTQSJ9.x.y"])
def test_garbage_is_refused(verifier: TokenVerifier, garbage: str) -> None:
    assert refused(verifier, garbage) in {"malformed token", "token signed by an unknown key"}


def test_bad_signature_encoding_is_malformed(verifier: TokenVerifier) -> None:
    header, payload, _ = signed(claims()).split(".")
    assert refused(verifier, f"{header}.{payload}.!!!") == "malformed token"


@pytest.mark.parametrize("sub", ["not-a-uuid", "", 42])
def test_subject_must_be_a_uuid(verifier: TokenVerifier, sub: Any) -> None:
    assert refused(verifier, signed(claims(sub=sub))) == "token subject is not a user id"


@pytest.mark.parametrize("claim", ["sub", "iat", "exp", "iss", "aud"])
def test_every_claim_is_required(verifier: TokenVerifier, claim: str) -> None:
    payload = claims()
    del payload[claim]
    assert refused(verifier, signed(payload)) == f"token lacks the {claim!r} claim"


def test_wrong_issuer_is_refused(verifier: TokenVerifier) -> None:
    detail = refused(verifier, signed(claims(iss="somebody-else")))
    assert detail == "token issued by an unexpected issuer"


def test_wrong_audience_is_refused(verifier: TokenVerifier) -> None:
    detail = refused(verifier, signed(claims(aud="another-app")))
    assert detail == "token meant for another audience"


def test_jwks_without_an_ed25519_key_is_a_configuration_error() -> None:
    rsa_only = {"keys": [{"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}]}
    with pytest.raises(ValueError, match="no Ed25519"):
        TokenVerifier(rsa_only, ISSUER, AUDIENCE)


def test_foreign_keys_in_the_jwks_are_skipped() -> None:
    jwks = {"keys": [{"kty": "RSA", "kid": "r1", "n": "AQAB", "e": "AQAB"}, KEY.public_jwk]}
    assert TokenVerifier(jwks, ISSUER, AUDIENCE).verify(signed(claims())).sub == USER_ID


@pytest.mark.parametrize(
    "header", ["bearer abc.def.ghi", "Bearer abc.def.ghi", " Bearer  abc.def.ghi "]
)
def test_read_bearer_takes_the_token(header: str) -> None:
    assert read_bearer(header) == "abc.def.ghi"


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwdw==", "a b c"])
def test_read_bearer_refuses_missing_or_malformed(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        read_bearer(header)


async def test_load_jwks_reads_the_file(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(KEY.jwks()))
    # The URL is never asked when the file is there.
    assert await load_jwks(url="http://127.0.0.1:1/jwks", path=path, timeout_s=1) == KEY.jwks()


async def jwks_server(port: int, body: bytes) -> asyncio.Server:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", port)


async def test_load_jwks_waits_for_a_late_url(tmp_path: Path) -> None:
    port = free_port()

    async def start_late() -> asyncio.Server:
        await asyncio.sleep(0.5)
        return await jwks_server(port, json.dumps(KEY.jwks()).encode())

    starting = asyncio.create_task(start_late())
    jwks = await load_jwks(
        url=f"http://127.0.0.1:{port}/.well-known/jwks.json",
        path=tmp_path / "absent.json",
        timeout_s=10,
    )
    server = await starting
    server.close()
    await server.wait_closed()
    assert jwks == KEY.jwks()


async def test_load_jwks_gives_up_after_the_timeout(tmp_path: Path) -> None:
    with pytest.raises(TimeoutError, match="does not exist"):
        await load_jwks(path=tmp_path / "absent.json", timeout_s=0.3)
    with pytest.raises(TimeoutError, match="no JWKS"):
        await load_jwks(url=f"http://127.0.0.1:{free_port()}/jwks", timeout_s=0.3)


async def test_load_jwks_refuses_what_is_not_a_jwks(tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"kty": "OKP"}))
    with pytest.raises(TimeoutError, match="not a JWKS"):
        await load_jwks(path=path, timeout_s=0.3)


def test_hmac_helper_matches_pyjwt() -> None:
    # Guards the hand-made HS256 token above: it must be a correctly signed HS256 token.
    secret = hashlib.sha256(b"k").digest()
    token = hand_made({"alg": "HS256", "typ": "JWT"}, {"a": 1}, sign=secret)
    assert jwt.decode(token, secret, algorithms=["HS256"]) == {"a": 1}


class CountingVerifier(TokenVerifier):
    """Counts the signature verifications actually done."""

    def __init__(self) -> None:
        super().__init__(KEY.jwks(), ISSUER, AUDIENCE)
        self.verified = 0

    def verify(self, token: str) -> Claims:
        self.verified += 1
        return super().verify(token)


async def no_fetch() -> dict[str, Any]:
    raise AssertionError("no JWKS fetch expected")


def refreshing(inner: TokenVerifier) -> RefreshingVerifier:
    return RefreshingVerifier(inner, no_fetch, ISSUER, AUDIENCE, min_interval_s=60)


async def test_a_verified_token_is_remembered_not_verified_again() -> None:
    inner = CountingVerifier()
    verifier = refreshing(inner)
    token = signed(claims())
    first = await verifier.verify_fetching(token)
    assert await verifier.verify_fetching(token) == first
    assert verifier.verify(token) == first
    assert inner.verified == 1
    # A forged twin (same claims, other signature) is a different token: verified, refused.
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(Unauthorized):
        await verifier.verify_fetching(forged)
    assert inner.verified == 2


async def test_a_remembered_token_is_refused_once_it_expires() -> None:
    inner = CountingVerifier()
    verifier = refreshing(inner)
    # Valid for one more second: past exp, within the leeway.
    token = signed(claims(exp=int(time.time()) - LEEWAY_S + 1))
    await verifier.verify_fetching(token)
    await asyncio.sleep(1.5)
    with pytest.raises(Unauthorized) as info:
        await verifier.verify_fetching(token)
    assert info.value.detail == "token expired"


async def test_new_keys_forget_the_remembered_tokens() -> None:
    verifier = refreshing(CountingVerifier())
    token = signed(claims())
    await verifier.verify_fetching(token)
    other = SigningKey.from_private_key(Ed25519PrivateKey.generate())
    verifier.current = TokenVerifier(other.jwks(), ISSUER, AUDIENCE)  # the old key is gone
    with pytest.raises(Unauthorized):
        verifier.verify(token)
