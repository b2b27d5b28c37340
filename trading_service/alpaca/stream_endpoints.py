"""Alpaca's WebSocket streams: trade updates at /stream, market data at /v2/iex and /v2/sip.

Both authenticate with an API key (trading_service/alpaca/auth.py) and are fed by AlpacaFeed
from the hub's one Redis subscription. Protocols as alpaca-py speaks them (docs/alpaca.md).
"""

from __future__ import annotations

import asyncio
import json
import uuid
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


def _feed(websocket: WebSocket) -> AlpacaFeed:
    feed: AlpacaFeed = websocket.app.state.alpaca_feed
    return feed


def _resources(websocket: WebSocket) -> Resources:
    resources: Resources = websocket.app.state.resources
    return resources


async def _receive(websocket: WebSocket, outbox: Outbox, timeout_s: float | None) -> Any:
    """The next frame (str or bytes), or None when the client or the writer ended."""
    received = asyncio.ensure_future(websocket.receive())
    done, _ = await asyncio.wait(
        {received, outbox.writer}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
    )
    if received not in done:
        received.cancel()
        return None
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
    account_id: uuid.UUID | None = None
    try:
        while not outbox.closed:
            raw = await _receive(websocket, outbox, None if account_id else AUTH_TIMEOUT_S)
            if raw is None:
                break
            outbox.binary = isinstance(raw, bytes)
            reply, account_id, close = await _trading_message(
                websocket, feed, outbox, raw, account_id
            )
            outbox.send(reply.encode() if outbox.binary else reply)
            if close:
                break
    finally:
        if account_id is not None:
            feed.unlisten(account_id, outbox)
        await outbox.finish()


async def _trading_message(
    websocket: WebSocket,
    feed: AlpacaFeed,
    outbox: Outbox,
    raw: str | bytes,
    account_id: uuid.UUID | None,
) -> tuple[str, uuid.UUID | None, bool]:
    """(reply, the authenticated account, whether to close after the reply)."""
    try:
        if len(raw) > MAX_FRAME:
            raise ValueError
        message = json.loads(raw)
        action, data = message["action"], message.get("data") or {}
        if not isinstance(data, dict):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        return _trading("error", {"error_message": "invalid syntax"}), account_id, False
    if action in ("authenticate", "auth"):
        account = await _key_account(websocket, data.get("key_id"), data.get("secret_key"))
        if account is None:
            status = {"status": "unauthorized", "action": "authenticate"}
            return _trading("authorization", status), account_id, True
        if account_id is not None and account_id != account:
            feed.unlisten(account_id, outbox)  # another key's account: nothing carries over
        return (
            _trading("authorization", {"status": "authorized", "action": "authenticate"}),
            account,
            False,
        )
    if action == "listen":
        if account_id is None:
            return _trading("error", {"error_message": "not authenticated"}), None, False
        streams = data.get("streams")
        if not isinstance(streams, list):
            return _trading("error", {"error_message": "streams must be a list"}), account_id, False
        if "trade_updates" in streams:
            feed.listen(account_id, outbox)
        else:
            feed.unlisten(account_id, outbox)
        listening = ["trade_updates"] if "trade_updates" in streams else []
        return _trading("listening", {"streams": listening}), account_id, False
    return _trading("error", {"error_message": "unknown action"}), account_id, False


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
            if raw is None:
                if not client.authenticated and not outbox.closed:
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
