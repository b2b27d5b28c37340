"""HTTP routes for logging in and publishing the token-verification keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from user_service.auth import service
from user_service.auth.schemas import AccessTokenOut, LoginRequest
from user_service.deps import ConnectionDep, ResourcesDep

router = APIRouter(tags=["auth"])


@router.post(
    "/login",
    summary="Log in and get an access token",
    description=(
        "Checks the email and password and returns a JWT signed with EdDSA (Ed25519). "
        "Send it as `Authorization: Bearer <token>`; other services verify it with the keys "
        "at `/.well-known/jwks.json`."
    ),
    responses={401: {"description": "Incorrect email or password (one answer for both)"}},
)
async def login(body: LoginRequest, conn: ConnectionDep, resources: ResourcesDep) -> AccessTokenOut:
    token = await service.login(
        conn, resources.hasher, resources.signer, email=body.email, password=body.password
    )
    return AccessTokenOut(access_token=token.token, expires_in=token.expires_in)


@router.get(
    "/.well-known/jwks.json",
    summary="Public keys that verify access tokens",
    description="A JSON Web Key Set (RFC 7517) of Ed25519 keys; tokens name theirs by `kid`.",
)
async def jwks(resources: ResourcesDep) -> dict[str, Any]:
    return resources.signing_key.jwks()
