"""HTTP routes for registering and reading one's own user."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from user_service.deps import ConnectionDep, CurrentUser, ResourcesDep
from user_service.throttle import client_address
from user_service.users import service
from user_service.users.schemas import DeleteUserRequest, RegisterRequest, UserOut

router = APIRouter(tags=["users"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Register a new user",
    description=(
        "Creates a user. Email and username are unique ignoring case; the email is stored "
        "lowercased. The password is stored only as an Argon2 hash and never returned. "
        "Sign-ups are limited per client address (429 with `Retry-After`), and a 409 takes as "
        "long as a 201, so registration cannot enumerate emails faster than the limit."
    ),
    responses={
        409: {"description": "The email or the username is already registered"},
        422: {"description": "Invalid email, username (3-32 of A-Z a-z 0-9 _ . -) or password"},
        429: {"description": "Too many sign-ups from this address; see `Retry-After`"},
    },
)
async def register(
    body: RegisterRequest, request: Request, conn: ConnectionDep, resources: ResourcesDep
) -> UserOut:
    client = client_address(request, resources.settings.trust_forwarded_for)
    user = await service.register(conn, resources.hasher, resources.throttle, body, client)
    return UserOut.model_validate(user)


@router.get(
    "/me",
    summary="The authenticated user",
    description="Returns the user the bearer token was issued to.",
    responses={401: {"description": "Missing, malformed, expired or otherwise invalid token"}},
)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.delete(
    "/me",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the authenticated user",
    description=(
        "Deletes the user the bearer token was issued to, after checking the password. Their "
        "tokens stop working here at once and at the trading service within seconds. Wrong "
        "passwords count against the login limits."
    ),
    responses={
        401: {"description": "Invalid token, or wrong password"},
        429: {"description": "Too many failed password checks; see `Retry-After`"},
    },
)
async def delete_me(
    body: DeleteUserRequest,
    request: Request,
    user: CurrentUser,
    conn: ConnectionDep,
    resources: ResourcesDep,
) -> Response:
    await service.delete(
        conn,
        resources.hasher,
        resources.throttle,
        resources.redis,
        user,
        body.password,
        client_address(request, resources.settings.trust_forwarded_for),
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
