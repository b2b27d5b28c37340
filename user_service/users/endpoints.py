"""HTTP routes for registering and reading one's own user."""

from __future__ import annotations

from fastapi import APIRouter, status

from user_service.deps import ConnectionDep, CurrentUser, ResourcesDep
from user_service.users import service
from user_service.users.schemas import RegisterRequest, UserOut

router = APIRouter(tags=["users"])


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Register a new user",
    description=(
        "Creates a user. Email and username are unique ignoring case; the email is stored "
        "lowercased. The password is stored only as an Argon2 hash and never returned."
    ),
    responses={
        409: {"description": "The email or the username is already registered"},
        422: {"description": "Invalid email, username (3-32 of A-Z a-z 0-9 _ . -) or password"},
    },
)
async def register(body: RegisterRequest, conn: ConnectionDep, resources: ResourcesDep) -> UserOut:
    user = await service.register(conn, resources.hasher, body)
    return UserOut.model_validate(user)


@router.get(
    "/me",
    summary="The authenticated user",
    description="Returns the user the bearer token was issued to.",
    responses={401: {"description": "Missing, malformed, expired or otherwise invalid token"}},
)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)
