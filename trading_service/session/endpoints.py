"""HTTP for the browser session: sign up, sign in, who am I, sign out (same origin as the page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status

from shared.errors import Unauthorized
from trading_service.deps import ResourcesDep
from trading_service.session.cookies import (
    clear_session_cookie,
    require_csrf_header,
    session_token,
    set_session_cookie,
)
from trading_service.session.schemas import LoginIn, RegisterIn, SessionOut
from trading_service.session.service import UserService, UserServiceRefused


def get_user_service(request: Request) -> UserService:
    service: UserService = request.app.state.user_service
    return service


UserServiceDep = Annotated[UserService, Depends(get_user_service)]

router = APIRouter(
    prefix="/session", tags=["browser session"], dependencies=[Depends(require_csrf_header)]
)

_CSRF_NOTE = (
    " Sets the access token in an HttpOnly, SameSite=Strict cookie for the web page; POSTs "
    "need the `X-Requested-With` header. API clients use the user service and Bearer tokens."
)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    summary="Sign up and sign in (browser)",
    description="Creates the user at the user service, then signs in." + _CSRF_NOTE,
)
async def register(
    body: RegisterIn, request: Request, response: Response, users: UserServiceDep
) -> SessionOut:
    await users.register(body, _address(request))
    return await _sign_in(
        LoginIn(email=body.email, password=body.password), request, response, users
    )


@router.post(
    "/login",
    summary="Sign in (browser)",
    description="Checks the password at the user service." + _CSRF_NOTE,
)
async def login(
    body: LoginIn, request: Request, response: Response, users: UserServiceDep
) -> SessionOut:
    return await _sign_in(body, request, response, users)


@router.get(
    "",
    summary="The signed-in user (browser)",
    description="Who the session cookie belongs to, or null when there is no valid session "
    "(a 200 either way: the page asks this on every load, and a 401 would read as a failure).",
)
async def whoami(request: Request, response: Response, users: UserServiceDep) -> SessionOut | None:
    token = session_token(request)
    if token is None:
        return None
    try:
        return await users.whoami(token, _address(request))
    except UserServiceRefused as exc:
        if exc.status != 401:
            raise
        clear_session_cookie(request, response)  # expired or revoked: forget it
        return None


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Sign out (browser)",
    description="Revokes the session's access token for the rest of its life (here, over the "
    "WebSocket and at the user service, within 2 seconds everywhere) and clears the cookie.",
    responses={503: {"description": "The revocation list (Redis) is unreachable; try again"}},
)
async def logout(request: Request, resources: ResourcesDep) -> Response:
    token = session_token(request)
    if token is not None:
        try:
            claims = resources.verifier.verify(token)
        except Unauthorized:
            claims = None  # expired, forged or from another key: nothing left to revoke
        if claims is not None:
            await resources.revoked_tokens.revoke(claims)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(request, response)
    return response


async def _sign_in(
    body: LoginIn, request: Request, response: Response, users: UserServiceDep
) -> SessionOut:
    access = await users.login(body, _address(request))
    who = await users.whoami(access.token, _address(request))
    set_session_cookie(request, response, access.token, access.expires_in)
    return who.model_copy(update={"expires_in": access.expires_in})
