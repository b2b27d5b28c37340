"""Errors on /v2 as Alpaca writes them: `{"code": <int>, "message": ...}` with its statuses.

The domain raises the same errors as on the rest of the API (shared/errors.py); the /v2 routes
use `AlpacaRoute`, which renders them in Alpaca's shape and maps the statuses Alpaca uses
differently (not enough buying power or shares is 403 there, an order no longer open 422).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from shared.errors import DomainError, UnprocessableEntity

log = logging.getLogger(__name__)

# Alpaca's status for errors whose status differs here; the rest keep theirs.
_STATUS = {
    "unauthorized": 403,
    "insufficient_funds": 403,
    "insufficient_shares": 403,
    "order_not_open": 422,
}


class Forbidden(DomainError):
    status = 403
    error = "forbidden"


class NotSupported(UnprocessableEntity):
    """Something Alpaca offers and this exchange does not (fractions, shorting, brackets...)."""

    error = "not_supported"


def alpaca_body(status: int, message: str) -> dict[str, Any]:
    # Alpaca's codes are the status followed by 10000 (40310000: forbidden).
    return {"code": status * 100_000 + 10_000, "message": message}


def alpaca_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(alpaca_body(status, message), status_code=status, headers=headers)


def _message(detail: Any) -> str:
    return detail if isinstance(detail, str) else str(detail)


def _validation_message(exc: RequestValidationError) -> str:
    # Never echo the input: it may hold anything (see shared/errors.py).
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
        parts.append(f"{where}: {err.get('msg', 'invalid')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


class AlpacaRoute(APIRoute):
    """A route whose domain and validation errors come out as Alpaca's `{"code","message"}`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def alpaca_handler(request: Request) -> Response:
            try:
                return await handle(request)
            except DomainError as exc:
                status = _STATUS.get(exc.error, exc.status)
                headers = {k: v for k, v in (exc.headers or {}).items() if k != "WWW-Authenticate"}
                return alpaca_error(status, _message(exc.detail), headers or None)
            except RequestValidationError as exc:
                return alpaca_error(422, _validation_message(exc))

        return alpaca_handler


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
    "required": ["code", "message"],
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the given error statuses, in Alpaca's error shape (always 403 for
    the key and 422 for the input: FastAPI's own 422 shape is not what /v2 answers)."""
    text = {
        403: "Bad or revoked API key, or not enough buying power or shares",
        404: "No such order, position or asset of this account",
        422: "Invalid request, or a feature this exchange does not offer",
        429: "Too many requests; see Retry-After",
        503: "No fresh price, or a dependency unreachable; retry",
    }
    return {
        s: {
            "description": text.get(s, "Error"),
            "content": {"application/json": {"schema": ERROR_SCHEMA}},
        }
        for s in sorted({403, 422, *statuses})
    }
