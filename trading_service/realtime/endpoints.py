"""The WebSocket endpoint: reads client messages, hands them to the hub."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, WebSocket

from shared.errors import DomainError
from trading_service.realtime.connection import Connection, error_message
from trading_service.realtime.hub import Hub
from trading_service.realtime.protocol import parse_message
from trading_service.realtime.ws_protocol import SINK_EXTENSION
from trading_service.session.cookies import SESSION_COOKIE

router = APIRouter(tags=["real time"])


def get_hub(websocket: WebSocket) -> Hub:
    hub: Hub = websocket.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(get_hub)]


@router.websocket("/ws", name="stream")
async def stream(
    websocket: WebSocket,
    hub: HubDep,
    batch: Annotated[bool, Query(description="Pack waiting messages into one JSON array")] = False,
) -> None:
    """Prices, quotes, trades, books, candles, and your orders and portfolio (docs/realtime.md)."""
    await websocket.accept()
    settings = hub.settings
    # The server's way to write frames the app encoded (ws_protocol.py), if it offers one.
    sink = websocket.scope.get("extensions", {}).get(SINK_EXTENSION, {}).get("sink")
    conn = Connection(websocket, settings.send_queue, settings.close_grace_s, batch, sink)
    hub.register(conn)
    try:
        token = websocket.cookies.get(SESSION_COOKIE)
        if token and _same_origin(websocket):
            # The web page cannot read its HttpOnly session cookie: authenticate with it here.
            await _authenticate(hub, conn, token, websocket.query_params.get("account_id"))
        while not conn.closed:
            received = asyncio.ensure_future(websocket.receive())
            # The writer may end the connection first (slow consumer): stop reading then too.
            await asyncio.wait({received, conn.writer}, return_when=asyncio.FIRST_COMPLETED)
            if not received.done():
                received.cancel()
                break
            message = received.result()
            if message["type"] == "websocket.disconnect":
                break
            await _handle(hub, conn, message.get("text") or message.get("bytes"))
    finally:
        hub.unregister(conn)
        with contextlib.suppress(Exception):
            await conn.wait_closed()


async def _handle(hub: Hub, conn: Connection, raw: str | bytes | None) -> None:
    """A bad message is answered with an error; the connection stays open."""
    try:
        message = parse_message(raw)
        if message.action == "auth":
            await hub.authenticate(conn, message.token, message.account_id)
        elif message.action == "subscribe":
            await hub.subscribe(conn, message.channels)
        else:
            hub.unsubscribe(conn, message.channels)
    except DomainError as exc:
        conn.send(error_message(exc.error, str(exc.detail)))


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers send cookies on cross-site WebSocket handshakes too: only trust our own pages."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


async def _authenticate(hub: Hub, conn: Connection, token: str, account: str | None) -> None:
    """`account`: the `?account_id=` of the handshake, the web page's choice of account."""
    try:
        account_id = uuid.UUID(account) if account else None
    except ValueError:
        conn.send(error_message("not_found", "no such account"))
        return
    try:
        await hub.authenticate(conn, token, account_id)
    except DomainError as exc:
        conn.send(error_message(exc.error, str(exc.detail)))
