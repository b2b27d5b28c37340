"""Logging in (password check, token signing) and resolving a bearer token to its user."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import jwt
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import Unauthorized
from shared.revoked_tokens import RevokedTokens
from shared.tokens import ALGORITHM, TokenVerifier
from user_service.keys import SigningKey
from user_service.passwords import PasswordHasher
from user_service.throttle import Throttle
from user_service.users.repository import UserRecord, UserRepository

log = logging.getLogger(__name__)

# One answer for an unknown email and a wrong password, so the response tells nothing apart.
BAD_CREDENTIALS = "Incorrect email, user name or password"


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


@dataclass(frozen=True)
class TokenSigner:
    key: SigningKey
    issuer: str
    audience: str
    lifetime_s: int

    def sign(self, user_id: uuid.UUID) -> AccessToken:
        now = int(time.time())
        claims = {
            "sub": str(user_id),
            "iat": now,
            "exp": now + self.lifetime_s,
            "iss": self.issuer,
            "aud": self.audience,
            # Names this token alone, so logging out revokes it and no other.
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode(
            claims, self.key.private_key, algorithm=ALGORITHM, headers={"kid": self.key.kid}
        )
        return AccessToken(token=token, expires_in=self.lifetime_s)


async def login(
    conn: AsyncConnection,
    hasher: PasswordHasher,
    signer: TokenSigner,
    throttle: Throttle,
    identifier: str,
    password: str,
    client: str,
) -> AccessToken:
    """A token for the user with this email or user name and password, else 401."""
    repository = UserRepository(conn)
    user = await find_user(repository, identifier)
    # Failed logins count per account whichever name was typed: alternating email and user
    # name must not double the guesses an account allows.
    attempt = await throttle.login(user.email if user else identifier, client)
    user = await _verified(repository, hasher, user, password)
    await throttle.refund(attempt)
    return signer.sign(user.id)


async def find_user(repository: UserRepository, identifier: str) -> UserRecord | None:
    # User names cannot contain '@' (users/schemas.py) and every email does.
    if "@" in identifier:
        return await repository.get_by_email(identifier)
    return await repository.get_by_username(identifier)


async def logout(verifier: TokenVerifier, revoked: RevokedTokens, token: str) -> None:
    """Revoke this token for the rest of its life; the user's other tokens stay valid."""
    claims = verifier.verify(token)
    await revoked.check(claims)  # a token already logged out is as invalid as any other
    await revoked.revoke(claims)


async def check_password(
    conn: AsyncConnection, hasher: PasswordHasher, email: str, password: str
) -> UserRecord:
    """The user with this email and password, else 401 (the same for an unknown email)."""
    repository = UserRepository(conn)
    return await _verified(repository, hasher, await repository.get_by_email(email), password)


async def _verified(
    repository: UserRepository, hasher: PasswordHasher, user: UserRecord | None, password: str
) -> UserRecord:
    if user is None:
        await hasher.spend_verify_time(password)
        raise Unauthorized(BAD_CREDENTIALS)
    if not await hasher.verify(password, user.password_hash):
        raise Unauthorized(BAD_CREDENTIALS)
    if hasher.needs_update(user.password_hash):
        await repository.set_password_hash(user.id, await hasher.hash(password))
        log.info("password rehashed", extra={"user_id": str(user.id)})
    return user


async def user_from_token(
    conn: AsyncConnection, verifier: TokenVerifier, revoked: RevokedTokens, token: str
) -> UserRecord:
    claims = verifier.verify(token)
    await revoked.check(claims)
    user = await UserRepository(conn).get(claims.sub)
    if user is None:
        raise Unauthorized("the token's user no longer exists")
    return user
