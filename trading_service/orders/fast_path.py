"""The order entry routes' plain case answered without FastAPI's routing, dependency solving
and response validation, which on the order path cost more of the API's CPU than the order
itself: `POST /orders` (the acknowledgement; with `?wait=true`, the order once the engine has
processed it) and `POST /trade/buy` and `POST /trade/sell` (a market order, answered once the
engine has processed it). One table, `FastOrderEntry.taken`, says which requests are taken.

The answer is the one the FastAPI route gives, byte for byte: the same body model (turned into
an order as the route turns it), the same dependencies called as plain functions in the same
order (the token and the account, then the rate limit), the same `service.submit`, the same
exception handlers, the same JSON. Anything but the plain case goes to the FastAPI route
untouched, which then answers as it always did: any other query string, no bearer token (the
web page's cookie), an `X-Account-ID` header, a body that is not a JSON object of the right
content type, or one the model refuses (FastAPI's 422 with its `loc`s). Nothing has happened
yet when a request is handed over.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.limits import replayed
from trading_service.deps import order_entry
from trading_service.engine.core.model import Side
from trading_service.orders import service
from trading_service.orders.schemas import OrderOut, OrderRequest, TradeRequest
from trading_service.rate_limit import RateLimiter

_ORDER = TypeAdapter(OrderRequest)
_TRADE = TypeAdapter(TradeRequest)
_RESPONSE = TypeAdapter(OrderOut)

# The request's JSON object as its route's body model validates it, turned into the order the
# route places (raises ValidationError where the model refuses it).
BodyParser = Callable[[dict[str, Any]], OrderRequest]


def _order(data: dict[str, Any]) -> OrderRequest:
    return _ORDER.validate_python(data, from_attributes=True)


def _trade(side: Side) -> BodyParser:
    return lambda data: _TRADE.validate_python(data, from_attributes=True).market_order(side)


@dataclass(frozen=True, slots=True)
class Taken:
    """How the plain case of one request line is answered."""

    route: APIRoute  # what FastAPI would put in the scope: metrics label by its template
    body: BodyParser
    wait: bool  # for the engine, as `service.submit` takes it


class FastOrderEntry:
    """A middleware, innermost of the app's own (inside the request id, metrics and size
    limit): takes the order entry routes' plain case, passes everything else on."""

    def __init__(self, app: ASGIApp, api: FastAPI, routes: Mapping[str, APIRoute]) -> None:
        self.app = app
        self.api = api
        orders, buy, sell = routes["/orders"], routes["/trade/buy"], routes["/trade/sell"]
        # (path, query string) -> how it is answered; any other request goes to the app.
        self.taken: dict[tuple[str, bytes], Taken] = {
            ("/orders", b""): Taken(orders, _order, wait=False),
            ("/orders", b"wait=false"): Taken(orders, _order, wait=False),
            ("/orders", b"wait=true"): Taken(orders, _order, wait=True),
            ("/trade/buy", b""): Taken(buy, _trade(Side.BUY), wait=True),
            ("/trade/sell", b""): Taken(sell, _trade(Side.SELL), wait=True),
        }
        self._handlers: dict[Any, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        taken = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            taken = self.taken.get((scope["path"], scope.get("query_string", b"")))
        if taken is None:
            await self.app(scope, receive, send)
            return
        authorization = content_type = None
        for name, value in scope["headers"]:
            # The first of each, as Starlette's `request.headers.get`.
            if name == b"authorization":
                authorization = value if authorization is None else authorization
            elif name == b"content-type":
                content_type = value if content_type is None else content_type
            elif name == b"x-account-id":
                authorization = None  # another account: the route's dependencies choose it
                break
        body = await _read_body(receive)
        if body is None:
            return  # the client went away before sending its body (as BodySizeLimit does)
        credentials = _bearer(authorization)
        order = None
        if credentials is not None and _is_json(content_type):
            order = _parsed(body, taken.body)
        if order is None:
            await self.app(scope, replayed(body, receive), send)
            return
        scope["route"] = taken.route
        request = Request(scope, replayed(body, receive), send)
        try:
            entry = await order_entry(request, credentials, None)
            # `limit_order_entry`, with the order's price read in the same round trip.
            limiter: RateLimiter | None = getattr(request.app.state, "rate_limiter", None)
            price = None
            if limiter is not None:
                price = await limiter.check(entry.account.id, "order", price_of=order.symbol)
            out, created = await service.submit(
                entry.resources, entry.account.id, order, taken.wait, entry.account.personal, price
            )
            response = Response(
                _RESPONSE.dump_json(out, by_alias=True),
                status_code=201 if created else 200,
                media_type="application/json",
            )
        except Exception as exc:
            handler = self._handler_for(exc)
            if handler is None:
                raise  # the outermost error middleware answers it, as for the route
            response = await handler(request, exc)
        await response(scope, receive, send)

    def _handler_for(self, exc: Exception) -> Any:
        """The app's handler for `exc` as Starlette's ExceptionMiddleware looks it up (an HTTP
        exception by its status first, then by class); `Exception` itself is left to the
        outermost error middleware, as there."""
        if self._handlers is None:
            self._handlers = {
                key: handler
                for key, handler in self.api.exception_handlers.items()
                if key not in (500, Exception)
            }
        if isinstance(exc, StarletteHTTPException) and exc.status_code in self._handlers:
            return self._handlers[exc.status_code]
        for cls in type(exc).__mro__:
            if cls in self._handlers:
                return self._handlers[cls]
        return None


async def _read_body(receive: Receive) -> bytes | None:
    """The request's body (BodySizeLimit outside has already read and bounded it); None if the
    client went away before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _bearer(authorization: bytes | None) -> HTTPAuthorizationCredentials | None:
    """What `HTTPBearer(auto_error=False)` gives the route for this header."""
    if not authorization:
        return None
    scheme, _, token = authorization.decode("latin-1").partition(" ")
    token = token.strip()  # as fastapi.security.utils.get_authorization_scheme_param
    if not scheme or not token or scheme.lower() != "bearer":
        return None
    return HTTPAuthorizationCredentials(scheme=scheme, credentials=token)


def _is_json(content_type: bytes | None) -> bool:
    """Whether FastAPI would parse the body as JSON (the route's own test)."""
    if content_type is None:
        return False
    if content_type == b"application/json":
        return True
    message = email.message.Message()
    message["content-type"] = content_type.decode("latin-1")
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _parsed(body: bytes, parse: BodyParser) -> OrderRequest | None:
    """The body as the route's model validates it, or None for anything it would refuse."""
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    try:
        return parse(data)
    except ValidationError:
        return None
