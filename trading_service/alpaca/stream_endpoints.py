"""Alpaca's WebSocket streams: trade updates at /stream, market data at /v2/iex and /v2/sip.

Both authenticate with an API key (trading_service/alpaca/auth.py) and are fed by AlpacaFeed
from the hub's one Redis subscription. Protocols as alpaca-py speaks them (docs/alpaca.md).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket

from shared.errors import DomainError
from trading_service.alpaca.auth import authenticate_key
from trading_service.alpaca.datastream import DataClient, ProtocolError
from trading_service.alpaca.feed import AlpacaFeed
from trading_service.alpaca.outbox import Outbox
from trading_service.deps import Resources

router = APIRouter(tags=["alpaca streams"])

MAX_FRAME = 64 * 1024  # client frames are small control messages
AUTH_TIMEOUT_S = 10.0  # Alpaca closes a connection that does not authenticate in time
# A listening key is checked again this often: a revoked key (or a deleted user) stops getting
# trade updates within these seconds, as REST refuses it from the next request on.
KEY_RECHECK_S = 5.0
TIMED_OUT = object()  # _receive: no frame within the timeout


def _feed(websocket: WebSocket) -> AlpacaFeed:
    feed: AlpacaFeed = websocket.app.state.alpaca_feed
    return feed


def _resources(websocket: WebSocket) -> Resources:
    resources: Resources = websocket.app.state.resources
    return resources


async def _receive(websocket: WebSocket, outbox: Outbox, timeout_s: float | None) -> Any:
    """The next frame (str or bytes); None when the client or the writer ended; TIMED_OUT."""
    received = asyncio.ensure_future(websocket.receive())
    done, _ = await asyncio.wait(
        {received, outbox.writer}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    if received not in done:
        received.cancel()
        return TIMED_OUT if not done else None
    message = received.result()
    if message["type"] == "websocket.disconnect":
        return None
    return message.get("bytes") if message.get("bytes") is not None else message.get("text")


async def _key_account(websocket: WebSocket, key: Any, secret: Any) -> uuid.UUID | None:
    if not isinstance(key, str) or not isinstance(secret, str):
        return None
    try:
        principal = await authenticate_key(_resources(websocket), key, secret)
    except DomainError:
        return None  # a deleted user's key, or the check could not be made
    return None if principal is None else principal.account_id


# --- trade updates -----------------------------------------------------------------------------


def _trading(stream: str, data: dict[str, Any]) -> str:
    return json.dumps({"stream": stream, "data": data})


@router.websocket("/stream", name="alpaca_trade_updates")
async def trade_updates(websocket: WebSocket) -> None:
    """Alpaca's TradingStream: authenticate, listen to trade_updates, get your orders' events."""
    await websocket.accept()
    feed = _feed(websocket)
    outbox = Outbox(websocket)
    session = TradingSession()
    try:
        while not outbox.closed:
            raw = await _receive(
                websocket, outbox, KEY_RECHECK_S if session.account_id else AUTH_TIMEOUT_S
            )
            if raw is TIMED_OUT and session.account_id is not None:
                if await _key_account(websocket, session.key_id, session.secret) is not None:
                    continue
                reply, close = _unauthorized(), True
            elif raw is None or raw is TIMED_OUT:
                break
            else:
                outbox.binary = isinstance(raw, bytes)
                reply, close = await _trading_message(websocket, feed, outbox, raw, session)
            outbox.send(reply.encode() if outbox.binary else reply)
            if close:
                break
    finally:
        if session.account_id is not None:
            feed.unlisten(session.account_id, outbox)
        await outbox.finish()


@dataclass
class TradingSession:
    """The key a /stream connection authenticated with, checked again while it listens."""

    account_id: uuid.UUID | None = None
    key_id: str = ""
    secret: str = ""


def _unauthorized() -> str:
    return _trading("authorization", {"status": "unauthorized", "action": "authenticate"})


async def _trading_message(
    websocket: WebSocket,
    feed: AlpacaFeed,
    outbox: Outbox,
    raw: str | bytes,
    session: TradingSession,
) -> tuple[str, bool]:
    """(reply, whether to close after it); a successful authenticate updates `session`."""
    try:
        if len(raw) > MAX_FRAME:
            raise ValueError
        message = json.loads(raw)
        action, data = message["action"], message.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: deep nesting
        return _trading("error", {"error_message": "invalid syntax"}), False
    if action in ("authenticate", "auth"):
        key_id, secret = data.get("key_id"), data.get("secret_key")
        account = await _key_account(websocket, key_id, secret)
        if account is None:
            return _unauthorized(), True
        if session.account_id is not None and session.account_id != account:
            feed.unlisten(session.account_id, outbox)  # another key's account: nothing carries
        session.account_id, session.key_id, session.secret = account, str(key_id), str(secret)
        authorized = {"status": "authorized", "action": "authenticate"}
        return _trading("authorization", authorized), False
    if action == "listen":
        if session.account_id is None:
            return _trading("error", {"error_message": "not authenticated"}), False
        streams = data.get("streams")
        if not isinstance(streams, list):
            return _trading("error", {"error_message": "streams must be a list"}), False
        if "trade_updates" in streams:
            feed.listen(session.account_id, outbox)
        else:
            feed.unlisten(session.account_id, outbox)
        listening = ["trade_updates"] if "trade_updates" in streams else []
        return _trading("listening", {"streams": listening}), False
    return _trading("error", {"error_message": "unknown action"}), False


# --- market data -------------------------------------------------------------------------------


async def _market_data(websocket: WebSocket) -> None:
    await websocket.accept()
    feed = _feed(websocket)
    outbox = Outbox(websocket)
    wants_msgpack = "msgpack" in websocket.headers.get("content-type", "")
    client = DataClient(outbox, wants_msgpack)
    client.send({"T": "success", "msg": "connected"})
    feed.data_clients.add(client)
    try:
        while not outbox.closed:
            raw = await _receive(
                websocket, outbox, None if client.authenticated else AUTH_TIMEOUT_S
            )
            if raw is None or raw is TIMED_OUT:
                if raw is TIMED_OUT:
                    client.send({"T": "error", "code": 404, "msg": "auth timeout"})
                break
            try:
                if len(raw) > MAX_FRAME:
                    raise ProtocolError(400, "invalid syntax: frame too large")
                await _data_message(websocket, client, client.decode(raw))
            except ProtocolError as exc:
                client.send({"T": "error", "code": exc.code, "msg": exc.message})
                if exc.code == 402:
                    break  # Alpaca closes after a failed auth
    finally:
        feed.data_clients.discard(client)
        await outbox.finish()


async def _data_message(websocket: WebSocket, client: DataClient, message: dict[str, Any]) -> None:
    action = message.get("action")
    if action == "auth":
        if client.authenticated:
            raise ProtocolError(403, "already authenticated")
        if await _key_account(websocket, message.get("key"), message.get("secret")) is None:
            raise ProtocolError(402, "auth failed")
        client.authenticated = True
        client.send({"T": "success", "msg": "authenticated"})
    elif action in ("subscribe", "unsubscribe"):
        if not client.authenticated:
            raise ProtocolError(401, "not authenticated")
        client.change(message, subscribe=action == "subscribe")
    else:
        raise ProtocolError(400, "invalid syntax: unknown action")


@router.websocket("/v2/iex", name="alpaca_market_data_iex")
async def market_data_iex(websocket: WebSocket) -> None:
    """Alpaca's StockDataStream (feed iex): trades, quotes and minute bars."""
    await _market_data(websocket)


@router.websocket("/v2/sip", name="alpaca_market_data_sip")
async def market_data_sip(websocket: WebSocket) -> None:
    """The same data as /v2/iex: this exchange has one venue."""
    await _market_data(websocket)
