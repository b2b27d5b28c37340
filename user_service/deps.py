"""The clients the lifespan builds, reached by endpoints through Annotated dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.errors import ServiceUnavailable
from shared.request_context import bind_account
from shared.revoked_tokens import RevokedTokens
from shared.tokens import TokenVerifier, read_bearer
from user_service.auth.service import TokenSigner, user_from_token
from user_service.config import UserSettings
from user_service.keys import KeyRing, SigningKey
from user_service.passwords import PasswordHasher
from user_service.throttle import Throttle
from user_service.users.repository import UserRecord


@dataclass(frozen=True)
class Resources:
    engine: AsyncEngine
    hasher: PasswordHasher
    signing_key: SigningKey
    keys: KeyRing  # every published key (signing_key is keys.active)
    signer: TokenSigner
    verifier: TokenVerifier
    settings: UserSettings
    redis: Redis
    throttle: Throttle
    revoked: RevokedTokens


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_connection(resources: ResourcesDep) -> AsyncIterator[AsyncConnection]:
    """One transaction per request, committed when the endpoint returns without an error."""
    conn = resources.engine.connect()
    try:
        await conn.start()
    except (OSError, DBAPIError):
        raise ServiceUnavailable("database unavailable") from None
    try:
        async with conn.begin():
            yield conn
    finally:
        await conn.close()


# scope="function": commit before the response is sent, so a 201 means the row is stored.
ConnectionDep = Annotated[AsyncConnection, Depends(get_connection, scope="function")]

# Declares the scheme on the OpenAPI page ("Authorize"); read_bearer does the parsing, with
# a precise error detail.
_bearer_scheme = HTTPBearer(auto_error=False, description="An access token from POST /login")


async def get_bearer_token(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)],
) -> str:
    return read_bearer(request.headers.get("Authorization"))


BearerToken = Annotated[str, Depends(get_bearer_token)]


async def get_current_user(
    conn: ConnectionDep, resources: ResourcesDep, token: BearerToken
) -> UserRecord:
    user = await user_from_token(conn, resources.verifier, resources.revoked, token)
    bind_account(user.id)
    return user


CurrentUser = Annotated[UserRecord, Depends(get_current_user)]
