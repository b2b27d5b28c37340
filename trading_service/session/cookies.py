"""The browser session: the access token in an HttpOnly cookie, plus the CSRF rule for it.

The token never reaches JavaScript (OWASP: no tokens in localStorage). SameSite=Strict keeps
other sites' pages from sending it; in addition, a state-changing request authenticated by the
cookie must carry `X-Requested-With`, a header a cross-origin page cannot add without a CORS
preflight, which this service never grants.
"""

from __future__ import annotations

from fastapi import Request, Response

from shared.errors import DomainError

SESSION_COOKIE = "stocksim_session"
CSRF_HEADER = "X-Requested-With"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRejected(DomainError):
    status = 403
    error = "csrf_rejected"


def session_token(request: Request) -> str | None:
    return request.cookies.get(SESSION_COOKIE) or None


def require_csrf_header(request: Request) -> None:
    """Raises CsrfRejected for a cookie-authenticated state change without the custom header."""
    if request.method not in SAFE_METHODS and not request.headers.get(CSRF_HEADER):
        raise CsrfRejected(
            f"requests authenticated by the session cookie must send the {CSRF_HEADER} header"
        )


def set_session_cookie(request: Request, response: Response, token: str, max_age_s: int) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=max_age_s,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def clear_session_cookie(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
