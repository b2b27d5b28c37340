"""Verifying the user service's access tokens with its public keys (JWKS); only it signs."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt

from shared.errors import Unauthorized

log = logging.getLogger(__name__)

ALGORITHM = "EdDSA"
REQUIRED_CLAIMS = ["sub", "iat", "exp", "iss", "aud"]
# Tolerated clock skew between the signing and the verifying host.
LEEWAY_S = 10


# Bounds the memory of verified tokens per process; past it the memory starts over.
MAX_REMEMBERED_TOKENS = 100_000

# Longer ids are refused: a jti is a key in the revocation list (shared/revoked_tokens.py).
MAX_JTI_LENGTH = 64


@dataclass(frozen=True)
class Claims:
    sub: uuid.UUID
    iat: int
    exp: int
    # The token's own id, so logging out can revoke exactly this token; older tokens have none.
    jti: str | None = None
    # "admin" or "user"; a token from before roles existed is a user's.
    role: str = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UnknownKey(Unauthorized):
    """The token's kid is not in the JWKS: maybe a key the issuer started using since."""


class TokenVerifier:
    """Accepts only EdDSA tokens signed by a key of the JWKS, for our issuer and audience."""

    def __init__(self, jwks: dict[str, Any], issuer: str, audience: str) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keys: dict[str, jwt.PyJWK] = {}
        for jwk in jwks.get("keys", []):
            # Only Ed25519 keys with an id: a kid-less or foreign key can never be selected safely.
            if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or not jwk.get("kid"):
                continue
            if jwk.get("alg", ALGORITHM) != ALGORITHM or jwk.get("use", "sig") != "sig":
                continue
            self._keys[jwk["kid"]] = jwt.PyJWK(jwk, algorithm=ALGORITHM)
        if not self._keys:
            raise ValueError("the JWKS holds no Ed25519 signing key with a kid")

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("malformed token") from None
        alg = header.get("alg")
        if alg != ALGORITHM:
            raise Unauthorized(f"token algorithm {alg!r} is not accepted (only {ALGORITHM})")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise UnknownKey("token signed by an unknown key")
        try:
            payload = jwt.decode(
                token,
                self._keys[kid],
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": REQUIRED_CLAIMS},
                leeway=LEEWAY_S,
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired") from None
        except jwt.ImmatureSignatureError:
            raise Unauthorized("token not yet valid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise Unauthorized(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidIssuerError:
            raise Unauthorized("token issued by an unexpected issuer") from None
        except jwt.InvalidAudienceError:
            raise Unauthorized("token meant for another audience") from None
        except jwt.exceptions.InvalidSubjectError:
            raise Unauthorized("token subject is not a user id") from None
        except jwt.InvalidSignatureError:
            raise Unauthorized("token signature is invalid") from None
        except jwt.DecodeError:
            raise Unauthorized("malformed token") from None
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        try:
            sub = uuid.UUID(payload["sub"])
        except (ValueError, TypeError, AttributeError):
            raise Unauthorized("token subject is not a user id") from None
        jti = payload.get("jti")
        if jti is not None and (not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH):
            raise Unauthorized("token id (jti) is malformed") from None
        role = "admin" if payload.get("role") == "admin" else "user"
        return Claims(sub=sub, iat=int(payload["iat"]), exp=int(payload["exp"]), jti=jti, role=role)


class RefreshingVerifier:
    """A TokenVerifier that fetches the JWKS again when a token names a key it does not know.

    The issuer can switch to a new key at any time: the first token signed with it triggers one
    fetch, and every token is then verified with the keys fetched. Fetches are bounded: at most
    one per `min_interval_s` (forged kids cannot make this process hammer the issuer); a token
    that comes sooner waits for the next allowed fetch instead of being refused, and concurrent
    requests with the new kid share that one fetch.

    A token it has verified is remembered until it expires (its `exp` plus the leeway, exactly
    when verification would start refusing it), so a client sending the same token again costs
    a dict lookup instead of an Ed25519 verification. Only what verification says is cached:
    revocation (shared/revoked_tokens.py) and deleted users (shared/deleted_users.py) are
    checked by the callers on every request, as before. New keys forget every remembered token.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        fetch: Callable[[], Awaitable[dict[str, Any]]],
        issuer: str,
        audience: str,
        min_interval_s: float,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.current = verifier
        self._fetch = fetch
        self._issuer = issuer
        self._audience = audience
        self._min_interval_s = min_interval_s
        self._fetched_at = time.monotonic()
        self._lock = asyncio.Lock()
        self._wall_clock = wall_clock
        self._verified: dict[str, Claims] = {}
        self._verified_by: TokenVerifier = verifier

    def verify(self, token: str) -> Claims:
        """With the keys known now (no fetch)."""
        return self._remembered(token) or self._verify_and_remember(self.current, token)

    async def verify_fetching(self, token: str) -> Claims:
        """Like `verify`, but a kid it does not know makes it fetch the JWKS again (bounded)."""
        if (claims := self._remembered(token)) is not None:
            return claims
        verifier = self.current
        try:
            return self._verify_and_remember(verifier, token)
        except UnknownKey:
            if not await self._refresh(verifier):
                raise
        return self._verify_and_remember(self.current, token)

    def _remembered(self, token: str) -> Claims | None:
        claims = self._verified.get(token)
        if claims is None or self._verified_by is not self.current:
            return None
        if self._wall_clock() >= claims.exp + LEEWAY_S:
            # Expired: verification refuses it now, with its own message.
            del self._verified[token]
            return None
        return claims

    def _verify_and_remember(self, verifier: TokenVerifier, token: str) -> Claims:
        claims = verifier.verify(token)
        if self._verified_by is not verifier or len(self._verified) >= MAX_REMEMBERED_TOKENS:
            # Other keys, or full: start over (the live tokens come back on their next use).
            self._verified = {}
            self._verified_by = verifier
        self._verified[token] = claims
        return claims

    async def _refresh(self, seen: TokenVerifier) -> bool:
        """Whether newer keys are there now (fetched by us or by a request we waited for)."""
        async with self._lock:
            if self.current is not seen:
                return True
            await asyncio.sleep(self._min_interval_s - (time.monotonic() - self._fetched_at))
            self._fetched_at = time.monotonic()
            try:
                jwks = await self._fetch()
                self.current = TokenVerifier(jwks, self._issuer, self._audience)
            except Exception as exc:
                log.warning("could not fetch the JWKS again", extra={"error": repr(exc)})
                return False
            log.info("JWKS fetched again for an unknown key id", extra={"kids": len(jwks["keys"])})
            return True


def read_bearer(authorization_header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    if not authorization_header:
        raise Unauthorized("missing Authorization header")
    scheme, _, token = authorization_header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token


async def load_jwks(
    url: str | None = None, path: Path | None = None, timeout_s: float = 30
) -> dict[str, Any]:
    """The JWKS from `path` when that file exists, else from `url`, retrying until `timeout_s`.

    Retries because the user service may start after its consumers and write or serve it later.
    """
    if url is None and path is None:
        raise ValueError("load_jwks needs a url or a path")
    deadline = time.monotonic() + timeout_s
    delay = 0.1
    last_error = "nothing tried yet"
    async with httpx.AsyncClient(timeout=min(5.0, timeout_s)) as client:
        while True:
            try:
                if path is not None and await asyncio.to_thread(path.exists):
                    return _checked(json.loads(await asyncio.to_thread(path.read_text)))
                if url is not None:
                    response = await client.get(url)
                    response.raise_for_status()
                    return _checked(response.json())
                last_error = f"{path} does not exist"
            except (OSError, httpx.HTTPError, ValueError) as exc:
                last_error = str(exc) or type(exc).__name__
            if time.monotonic() + delay > deadline:
                raise TimeoutError(f"no JWKS after {timeout_s} s: {last_error}")
            log.info("waiting for the JWKS", extra={"url": url, "path": str(path)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


def _checked(jwks: Any) -> dict[str, Any]:
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("not a JWKS: expected an object with a 'keys' list")
    return jwks
