"""The /v2 routes' authentication: Alpaca's key headers, checked on every request."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from trading_service.alpaca.auth import Principal, authenticate_key
from trading_service.alpaca.errors import Forbidden
from trading_service.deps import ResourcesDep
from trading_service.rate_limit import RateLimiter

_key_id = APIKeyHeader(
    name="APCA-API-KEY-ID", auto_error=False, description="key_id from POST /api-keys"
)
_secret = APIKeyHeader(
    name="APCA-API-SECRET-KEY", auto_error=False, description="secret_key from POST /api-keys"
)


async def key_principal(
    resources: ResourcesDep,
    key_id: Annotated[str | None, Security(_key_id)],
    secret: Annotated[str | None, Security(_secret)],
) -> Principal:
    if not key_id or not secret:
        raise Forbidden("send the APCA-API-KEY-ID and APCA-API-SECRET-KEY headers")
    principal = await authenticate_key(resources, key_id, secret)
    if principal is None:
        # One answer for unknown, revoked and wrong: nothing to learn about which keys exist.
        raise Forbidden("request is not authorized: unknown or revoked API key, or wrong secret")
    return principal


KeyPrincipal = Annotated[Principal, Depends(key_principal)]


async def limit_order_entry(request: Request, principal: KeyPrincipal) -> None:
    """The per-account limits of order entry (trading_service/rate_limit.py) on the key's
    account: orders and replaces count as orders, DELETEs as cancels; reads are free. A refusal
    is 429 with Retry-After, in Alpaca's shape (errors.AlpacaRoute)."""
    limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
    if limiter is None or request.method not in ("POST", "PATCH", "DELETE"):
        return
    await limiter.check(principal.account_id, "cancel" if request.method == "DELETE" else "order")
