"""HTTP routes for logging in and publishing the token-verification keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response, status

from shared.errors import error_body
from user_service.auth import service
from user_service.auth.schemas import AccessTokenOut, LoginRequest
from user_service.deps import BearerToken, ConnectionDep, ResourcesDep
from user_service.throttle import client_address

router = APIRouter(tags=["auth"])


@router.post(
    "/login",
    summary="Log in and get an access token",
    description=(
        "Checks the email (or user name) and password and returns a JWT signed with EdDSA "
        '(Ed25519). Send `{"email": ..., "password": ...}` or `{"username": ..., '
        '"password": ...}`; `email` also accepts a user name. Passwords set before the '
        "password policy keep working. "
        "Send it as `Authorization: Bearer <token>`; other services verify it with the keys "
        "at `/.well-known/jwks.json`. Failed attempts are limited per account and per client "
        "address (429 with `Retry-After`)."
    ),
    responses={
        401: {"description": "Incorrect email, user name or password (one answer for all)"},
        429: {
            "description": "Too many failed logins for this account or from this address",
            "headers": {"Retry-After": {"description": "Seconds until the next attempt counts"}},
            "content": {
                "application/json": {
                    "example": error_body(
                        "too_many_requests",
                        "too many failed logins for this account; try again in 42 s",
                    )
                }
            },
        },
    },
)
async def login(
    body: LoginRequest, request: Request, conn: ConnectionDep, resources: ResourcesDep
) -> AccessTokenOut:
    token = await service.login(
        conn,
        resources.hasher,
        resources.signer,
        resources.throttle,
        identifier=body.identifier,
        password=body.password,
        client=client_address(request, resources.settings.trust_forwarded_for),
    )
    return AccessTokenOut(access_token=token.token, expires_in=token.expires_in)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Log out: revoke this access token",
    description=(
        "Revokes the bearer token for the rest of its life: from then on it gets 401 here at "
        "once and at the trading service (HTTP and WebSocket) within 2 seconds. The user's "
        "other tokens stay valid.\n\n"
        "`curl -X POST -H 'Authorization: Bearer $TOKEN' http://127.0.0.1:8001/logout`"
    ),
    responses={
        401: {"description": "Missing, malformed, expired or already revoked token"},
        503: {"description": "The revocation list (Redis) is unreachable; nothing changed"},
    },
)
async def logout(token: BearerToken, resources: ResourcesDep) -> Response:
    await service.logout(resources.verifier, resources.revoked, token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify access tokens",
    description="A JSON Web Key Set (RFC 7517) of Ed25519 keys; tokens name theirs by `kid`.",
)
async def jwks(resources: ResourcesDep) -> dict[str, Any]:
    return resources.keys.jwks()
