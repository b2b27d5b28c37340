"""The I/O clients built in the lifespan, and the dependencies that hand them to endpoints."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated

import asyncpg  # type: ignore[import-untyped]
from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.deleted_users import DeletedUsers
from shared.errors import Unauthorized
from shared.request_context import bind_account
from shared.revoked_tokens import RevokedTokens
from shared.tokens import Claims, RefreshingVerifier
from trading_service.accounts import repository
from trading_service.accounts.service import Account, NoSuchAccount, account_for
from trading_service.config import TradingSettings
from trading_service.orders.executions import ExecutionWaiter
from trading_service.orders.group_commit import OrderGroups
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
    order_groups: OrderGroups
    # asyncpg, for the few fixed reads on the order path (trading_service/orders/service.py).
    pg: asyncpg.Pool
    # Accounts this process has already made sure exist (saves an INSERT per request).
    known_accounts: set[uuid.UUID] = field(default_factory=set)


async def get_resources(request: Request) -> Resources:
    # async: FastAPI runs a plain `def` dependency in its thread pool, a hand-off per request.
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


_bearer = HTTPBearer(
    auto_error=False, description="The access_token from the user service's /login"
)


async def current_user(
    request: Request,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Claims:
    """The caller's verified token; their personal account is created on first use.

    The token comes from the Authorization header, or else from the web page's session cookie
    (trading_service/session/cookies.py), which needs the CSRF header on state changes.
    """
    return await _authenticate(request, resources, credentials)


# Where a request keeps what `_authenticate` and `_choose_account` found (its ASGI scope): the
# orders router's rate limit and the endpoint ask for the same account, checked once.
_CLAIMS = "stocksim.claims"
_ACCOUNT = "stocksim.account"


async def _authenticate(
    request: Request, resources: Resources, credentials: HTTPAuthorizationCredentials | None
) -> Claims:
    found: Claims | None = request.scope.get(_CLAIMS)
    if found is not None:
        return found
    if credentials is not None:
        token = credentials.credentials
    elif (cookie := session_token(request)) is not None:
        require_csrf_header(request)
        token = cookie
    else:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <access_token>'")
    claims = await resources.verifier.verify_fetching(token)
    await resources.revoked_tokens.check(claims)  # logged out
    user_id = claims.sub
    bind_account(user_id)
    await resources.deleted_users.check(user_id)
    if user_id not in resources.known_accounts:
        async with resources.db.begin() as conn:
            await repository.ensure_personal(conn, user_id, resources.settings.starting_cash)
        resources.known_accounts.add(user_id)
    request.scope[_CLAIMS] = claims
    return claims


CurrentUser = Annotated[Claims, Depends(current_user)]

_X_ACCOUNT_ID = Header(
    description="The account to act on (GET /accounts lists yours); default: the "
    "personal account, whose id is your user id. Another user's account is 404."
)


async def active_account(
    claims: CurrentUser,
    resources: ResourcesDep,
    request: Request,
    x_account_id: Annotated[str | None, _X_ACCOUNT_ID] = None,
) -> Account:
    """The one place a request's account is chosen (orders, portfolio, fills, lists)."""
    return await _choose_account(request, resources, claims, x_account_id)


async def _choose_account(
    request: Request, resources: Resources, claims: Claims, x_account_id: str | None
) -> Account:
    found: Account | None = request.scope.get(_ACCOUNT)
    if found is not None:
        return found
    account_id: uuid.UUID | None = None
    if x_account_id is not None and x_account_id.strip():
        try:
            account_id = uuid.UUID(x_account_id.strip())
        except ValueError:
            raise NoSuchAccount() from None
    if account_id is None or account_id == claims.sub:
        # The personal account: it exists (current_user made sure) and is never frozen, so the
        # seed's hot path pays no extra query.
        account = Account(claims.sub, claims.sub, None, False)
    else:
        async with resources.db.connect() as conn:
            account = await account_for(conn, claims.sub, account_id)
    request.scope[_ACCOUNT] = account
    return account


@dataclass(frozen=True, slots=True)
class Entry:
    """What order entry needs of a request: its account and the process's clients."""

    account: Account
    resources: Resources


async def order_entry(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    x_account_id: Annotated[str | None, _X_ACCOUNT_ID] = None,
) -> Entry:
    """`active_account` and the resources as one dependency: FastAPI's dependency solving was
    ~15% of the API's CPU on the order path with them as a tree of five."""
    resources: Resources = request.app.state.resources
    claims = await _authenticate(request, resources, credentials)
    return Entry(await _choose_account(request, resources, claims, x_account_id), resources)


OrderEntry = Annotated[Entry, Depends(order_entry)]

ActiveAccount = Annotated[Account, Depends(active_account)]


async def current_account(account: ActiveAccount) -> uuid.UUID:
    """The id of the request's account (see `active_account`)."""
    return account.id


CurrentAccount = Annotated[uuid.UUID, Depends(current_account)]
