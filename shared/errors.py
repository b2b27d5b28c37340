"""One domain error type carrying its HTTP status, rendered as {"error", "detail"} everywhere."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of every error a service raises on purpose; `status` is the HTTP status it maps to."""

    status: int = 400
    error: str = "bad_request"

    def __init__(self, detail: Any = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail if detail is not None else self.error.replace("_", " ")
        self.headers = headers


class NotFound(DomainError):
    status = 404
    error = "not_found"


class Conflict(DomainError):
    status = 409
    error = "conflict"


class Unauthorized(DomainError):
    status = 401
    error = "unauthorized"

    def __init__(self, detail: Any = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class UnprocessableEntity(DomainError):
    status = 422
    error = "validation_error"


class ServiceUnavailable(DomainError):
    status = 503
    error = "service_unavailable"


def error_body(error: str, detail: Any) -> dict[str, Any]:
    return {"error": error, "detail": detail}


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Drop pydantic's echo of the input: it may hold secrets or values JSON cannot carry.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in exc.errors()
    ]


async def _domain_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return JSONResponse(
        error_body(exc.error, exc.detail), status_code=exc.status, headers=exc.headers
    )


async def _validation_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(error_body("validation_error", _validation_detail(exc)), status_code=422)


async def _http_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    name = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        error_body(name, exc.detail), status_code=exc.status_code, headers=exc.headers
    )


# A database that is down, restarting or shutting down; not a query the database refused.
_DATABASE_GONE = (
    ConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up
)


def _unreachable(exc: Exception) -> str | None:
    """The dependency `exc` says is unreachable, or None when it is a failure of another kind."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return "Redis"
    if isinstance(exc, PoolTimeoutError | ConnectionError):
        return "the database"
    if isinstance(exc, DBAPIError) and (
        exc.connection_invalidated
        or isinstance(exc.orig, _DATABASE_GONE)
        or isinstance(getattr(exc.orig, "__cause__", None), _DATABASE_GONE)
    ):
        return "the database"
    return None


async def _internal_error_handler(_: Request, exc: Exception) -> JSONResponse:
    """Any other exception is a bug, answered in the JSON error shape like every other error
    (never Starlette's plain-text 500); the server logs its traceback."""
    return JSONResponse(
        error_body("internal_error", "an unexpected error occurred; it has been logged"),
        status_code=500,
    )


async def _dependency_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """503 when the database or Redis cannot be reached: a clear, retryable refusal, not a 500.

    The request's transaction rolled back, or (failing after its commit) a retry with the same
    client_order_id finds what it stored.
    """
    dependency = _unreachable(exc)
    if dependency is None:
        # A real bug; answered here, so nothing re-raises it to the server's log.
        log.error("unhandled %s", type(exc).__name__, exc_info=exc)
        return await _internal_error_handler(request, exc)
    log.warning("%s unreachable: %s", dependency, type(exc).__name__)
    return JSONResponse(
        error_body("service_unavailable", f"{dependency} is unreachable; try again shortly"),
        status_code=503,
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error_handler)
    for failure in (DBAPIError, PoolTimeoutError, ConnectionError, RedisConnectionError,
                    RedisTimeoutError):  # fmt: skip
        app.add_exception_handler(failure, _dependency_error_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(StarletteHTTPException, _http_error_handler)
    app.add_exception_handler(Exception, _internal_error_handler)
