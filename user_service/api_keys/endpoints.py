"""HTTP routes for a user's API keys (what trading bots authenticate with on /v2)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from user_service.api_keys import service
from user_service.api_keys.schemas import CreatedKey, CreateKeyRequest, KeyOut
from user_service.deps import ConnectionDep, CurrentUser, ResourcesDep

router = APIRouter(prefix="/api-keys", tags=["api keys"])

KeyId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key",
    description=(
        "Creates a key for the trading service's Alpaca-compatible `/v2` API: send "
        "`APCA-API-KEY-ID: <key_id>` and `APCA-API-SECRET-KEY: <secret_key>`. The secret is in "
        "this answer only and stored hashed: keep it now. A key trades one account (default "
        "yours). Example: `curl -X POST http://127.0.0.1:8001/api-keys -H 'Authorization: "
        "Bearer $TOKEN' -H 'Content-Type: application/json' -d '{\"label\": \"bot\"}'`"
    ),
    responses={
        401: {"description": "Missing or invalid token"},
        409: {"description": "The user already has the maximum number of keys"},
        422: {"description": "Invalid label, or an account that is not the user's"},
    },
)
async def create_key(
    body: CreateKeyRequest, user: CurrentUser, conn: ConnectionDep, resources: ResourcesDep
) -> CreatedKey:
    return await service.create(conn, resources.settings.api_key_pepper, user.id, body)


@router.get(
    "",
    summary="List your API keys",
    description="Every key of the user, oldest first, without secrets.",
    responses={401: {"description": "Missing or invalid token"}},
)
async def list_keys(user: CurrentUser, conn: ConnectionDep) -> list[KeyOut]:
    return await service.list_keys(conn, user.id)


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key",
    description="Deletes the key; the trading service refuses it from the next request on.",
    responses={
        401: {"description": "Missing or invalid token"},
        404: {"description": "No such key of this user"},
    },
)
async def revoke_key(key_id: KeyId, user: CurrentUser, conn: ConnectionDep) -> Response:
    await service.revoke(conn, user.id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
