"""The web page's Keys screen: the user service's /api-keys on behalf of the signed-in browser.

The browser holds its access token only in the HttpOnly session cookie, so it cannot call the
user service itself; these routes pass the cookie's token on as a Bearer token.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import Unauthorized
from trading_service.session.cookies import require_csrf_header, session_token
from trading_service.session.endpoints import UserServiceDep
from trading_service.session.service import UserService

router = APIRouter(
    prefix="/session/api-keys",
    tags=["browser session"],
    dependencies=[Depends(require_csrf_header)],
)


class NewKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")


def _token(request: Request) -> str:
    token = session_token(request)
    if token is None:
        raise Unauthorized("not signed in")
    return token


async def _forward(
    users: UserService, request: Request, method: str, path: str, json: Any = None
) -> Any:
    # The user service's own refusals (401, 404, 409, 422) pass through unchanged.
    response = await users.forward(
        method, path, request.client.host if request.client else "unknown", _token(request), json
    )
    return response


@router.get("", summary="Your API keys (browser)", description="As GET /api-keys.")
async def list_keys(request: Request, users: UserServiceDep) -> list[dict[str, Any]]:
    keys: list[dict[str, Any]] = await _forward(users, request, "GET", "/api-keys")
    return keys


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (browser)",
    description="As POST /api-keys: the secret is in this answer only.",
)
async def create_key(body: NewKeyIn, request: Request, users: UserServiceDep) -> dict[str, Any]:
    created: dict[str, Any] = await _forward(users, request, "POST", "/api-keys", body.model_dump())
    return created


@router.delete(
    "/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key (browser)",
    description="As DELETE /api-keys/{key_id}.",
)
async def revoke_key(
    key_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")],
    request: Request,
    users: UserServiceDep,
) -> Response:
    await _forward(users, request, "DELETE", f"/api-keys/{key_id}")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
