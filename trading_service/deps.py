"""The I/O clients built in the lifespan, and the dependencies that hand them to endpoints."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.deleted_users import DeletedUsers
from shared.errors import Unauthorized
from shared.request_context import bind_account
from shared.revoked_tokens import RevokedTokens
from shared.tokens import RefreshingVerifier
from trading_service.config import TradingSettings
from trading_service.orders import repository
from trading_service.orders.executions import ExecutionWaiter
from trading_service.orders.handoff import OrderHandoff
from trading_service.prices.cache import PriceCache
from trading_service.session.cookies import require_csrf_header, session_token


@dataclass
class Resources:
    settings: TradingSettings
    db: AsyncEngine
    redis: Redis
    prices: PriceCache
    handoff: OrderHandoff
    executions: ExecutionWaiter
    verifier: RefreshingVerifier
    deleted_users: DeletedUsers
    revoked_tokens: RevokedTokens
    # Accounts this process has already made sure exist (saves an INSERT per request).
    known_accounts: set[uuid.UUID] = field(default_factory=set)


def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


_bearer = HTTPBearer(
    auto_error=False, description="The access_token from the user service's /login"
)


async def current_account(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> uuid.UUID:
    """The caller's account id (= user id), created with the starting cash on first use.

    The token comes from the Authorization header, or else from the web page's session cookie
    (trading_service/session/cookies.py), which needs the CSRF header on state changes.
    """
    if credentials is not None:
        token = credentials.credentials
    elif (cookie := session_token(request)) is not None:
        require_csrf_header(request)
        token = cookie
    else:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <access_token>'")
    claims = await resources.verifier.verify_fetching(token)
    await resources.revoked_tokens.check(claims)  # logged out
    account_id = claims.sub
    bind_account(account_id)
    await resources.deleted_users.check(account_id)
    if account_id not in resources.known_accounts:
        async with resources.db.begin() as conn:
            await repository.ensure_account(conn, account_id, resources.settings.starting_cash)
        resources.known_accounts.add(account_id)
    return account_id


CurrentAccount = Annotated[uuid.UUID, Depends(current_account)]
