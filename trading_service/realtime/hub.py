"""The in-process hub: ONE Redis subscription per process, dispatched to connections by channel.

Sources (all published by other parts of the system, so any replica serves any client):
`prices` (price cache), `book:SYMBOL` (engine; quotes are derived from it) and `executions`
(engine; trades, and each user's fills and order changes). Orders and portfolios are read from
Postgres after a change, once per account per `account_refresh_s` however many changes came.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.background import raise_if_cancelled
from shared.deleted_users import DELETED_USERS_KEY, DeletedUsers
from shared.errors import DomainError, Unauthorized
from shared.revoked_tokens import RevokedTokens, token_id
from shared.tokens import LEEWAY_S, RefreshingVerifier
from trading_service.accounts.service import account_for
from trading_service.candles.aggregator import Bar, CandleAggregator
from trading_service.messages import EXECUTIONS_CHANNEL, Executions
from trading_service.monitoring import WS_CONNECTIONS, WS_REFUSED
from trading_service.orders import repository as orders_repository
from trading_service.orders.service import render_orders
from trading_service.portfolio.service import portfolio
from trading_service.prices.cache import PRICES_CHANNEL, PriceCache
from trading_service.realtime import messages
from trading_service.realtime.channels import PRIVATE, route_key
from trading_service.realtime.config import RealtimeSettings
from trading_service.realtime.connection import (
    TOO_MANY_CONNECTIONS_CLOSE,
    Connection,
    error_message,
)
from trading_service.realtime.fanout import Fanout
from trading_service.realtime.snapshots import SnapshotReader

log = logging.getLogger(__name__)


class Hub:
    def __init__(
        self,
        settings: RealtimeSettings,
        redis: Redis,
        db: AsyncEngine,
        prices: PriceCache,
        verifier: RefreshingVerifier,
        candles: CandleAggregator,
        starting_cash: Decimal,
        deleted_users: DeletedUsers,
        revoked_tokens: RevokedTokens,
    ) -> None:
        self.settings = settings
        self.deleted_users = deleted_users
        self.revoked_tokens = revoked_tokens
        self.redis = redis
        self.db = db
        self.prices = prices
        self.verifier = verifier
        self.candles = candles
        self.starting_cash = starting_cash
        self.snapshots = SnapshotReader(db, redis, prices, candles)
        self.connections: set[Connection] = set()
        self.subscribers: dict[str, set[Connection]] = defaultdict(set)
        self.fanout = Fanout(self.subscribers, settings.batch_window_s)
        # Messages sent per channel key; a jump tells a client it missed something.
        self.seq: dict[str, int] = defaultdict(int)
        self._last_quote: dict[str, tuple[Any, ...]] = {}
        self._changed_orders: dict[uuid.UUID, set[uuid.UUID]] = defaultdict(set)
        self._changed = asyncio.Event()
        # Other consumers of this one subscription (the Alpaca streams, the executions feed):
        # (channel, data) each.
        self.taps: list[Callable[[bytes, bytes], None]] = []
        # Set once the subscription is in place: the app starts serving only then, so a replica
        # that has just started misses no tick, trade or book after its first request.
        self.subscribed = asyncio.Event()

    # --- connections ------------------------------------------------------------------------

    def register(self, conn: Connection) -> None:
        self.connections.add(conn)
        WS_CONNECTIONS.inc()
        conn.on_drop = self.unregister

    def unregister(self, conn: Connection) -> None:
        if conn in self.connections:  # a dropped slow consumer is unregistered twice
            WS_CONNECTIONS.dec()
        self.connections.discard(conn)
        for channel in list(conn.channels):
            self._drop(conn, channel)
        if conn.token_expiry is not None:
            conn.token_expiry.cancel()

    async def authenticate(
        self, conn: Connection, token: object, account_id: uuid.UUID | None = None
    ) -> None:
        """Raises DomainError (unauthorized) on a bad token; the connection stays open.

        The private channels follow `account_id`, one of the user's accounts (default: the
        personal one); another user's is 404 like X-Account-Id over HTTP.
        """
        if not isinstance(token, str) or not token:
            raise DomainError("auth needs a non-empty 'token' string")
        claims = await self.verifier.verify_fetching(token)
        await self.revoked_tokens.check(claims)  # logged out
        await self.deleted_users.check(claims.sub)  # as for HTTP: a deleted user's token is dead
        if self._over_user_cap(conn, claims.sub):
            return
        async with self.db.begin() as db:
            await orders_repository.ensure_account(db, claims.sub, self.starting_cash)
            account = await account_for(db, claims.sub, account_id)
        if conn.account_id is not None and conn.account_id != account.id:
            self._close_private(conn)  # another account: nothing private carries over
        conn.account_id = account.id
        conn.user_id = claims.sub
        conn.claims = claims
        if conn.token_expiry is not None:
            conn.token_expiry.cancel()
        # The same leeway the verifier grants, so a token is never both valid and expired.
        delay = max(0.0, claims.exp + LEEWAY_S - time.time())
        conn.token_expiry = asyncio.get_running_loop().call_later(delay, self._expire, conn)
        conn.send(messages.authenticated(account.id, claims.exp))

    def _over_user_cap(self, conn: Connection, account_id: uuid.UUID) -> bool:
        """Refuse and close a connection past the per-user cap: one client cannot hold them all."""
        limit = self.settings.max_per_user
        held = sum(
            1
            for c in self.connections
            if c is not conn and c.user_id == account_id and not c.closed
        )
        if held < limit:
            return False
        WS_REFUSED.inc()
        conn.send(
            error_message(
                "too_many_connections",
                f"this user already has {held} open connections (at most {limit}); closing",
            )
        )
        self.unregister(conn)
        conn.close(TOO_MANY_CONNECTIONS_CLOSE)
        return True

    def _expire(self, conn: Connection) -> None:
        self._end_session(conn, "token_expired", "token expired; send a new auth message")

    def _end_session(self, conn: Connection, code: str, detail: str) -> None:
        """The token no longer counts: private channels close, public ones stay."""
        closed = self._close_private(conn)
        conn.account_id = None
        conn.user_id = None
        conn.claims = None
        if conn.token_expiry is not None:
            conn.token_expiry.cancel()
        conn.token_expiry = None
        if closed:
            detail += f"; closed private channels: {', '.join(closed)}"
        conn.send(error_message(code, detail))
        if closed:
            conn.send(messages.subscribed(conn.channels))

    def _close_private(self, conn: Connection) -> list[str]:
        closed = sorted(c for c in conn.channels if c in PRIVATE)
        for channel in closed:
            self._drop(conn, channel)
        return closed

    async def subscribe(self, conn: Connection, channels: list[str]) -> None:
        new = [c for c in dict.fromkeys(channels) if c not in conn.channels]
        if len(conn.channels) + len(new) > self.settings.max_channels:
            raise DomainError(f"at most {self.settings.max_channels} channels per connection")
        if conn.account_id is None and any(c in PRIVATE for c in new):
            raise Unauthorized("private channels (orders, portfolio) need an auth message first")
        keys = {}
        for channel in new:
            key = route_key(channel, conn.account_id)
            keys[channel] = key
            conn.channels.add(channel)
            conn.pending[key] = []  # updates from now on wait behind the snapshot
            self.subscribers[key].add(conn)
        conn.send(messages.subscribed(conn.channels))
        for channel, key in keys.items():
            try:
                snap = await self.snapshots.read(channel, conn.account_id, self.seq[key])
            except Exception:
                log.warning("snapshot failed", extra={"channel": channel}, exc_info=True)
                conn.send(error_message("snapshot_failed", f"no snapshot for {channel}"))
                snap = None
            if self.fanout.pending(key):  # held too: the snapshot may already hold them
                self.fanout.flush()
            held = conn.pending.pop(key, [])
            if snap is not None:
                for text in snap.messages:
                    conn.send(text)
            for symbol, seq, text in held:
                if snap is not None and seq <= snap.price_seqs.get(symbol, -1):
                    continue  # the snapshot already holds a newer tick of this symbol
                conn.send(text)

    def unsubscribe(self, conn: Connection, channels: list[str]) -> None:
        for channel in channels:
            if channel in conn.channels:
                self._drop(conn, channel)
        conn.send(messages.subscribed(conn.channels))

    def _drop(self, conn: Connection, channel: str) -> None:
        key = route_key(channel, conn.account_id)
        conn.channels.discard(channel)
        conn.pending.pop(key, None)
        subscribers = self.subscribers.get(key)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self.subscribers[key]

    # --- fan-out ----------------------------------------------------------------------------

    def _publish(self, key: str, text_for_seq: Any) -> None:
        """Number the message of `key` and queue it for its subscribers (built only if any)."""
        if not self.subscribers.get(key):
            return
        self.seq[key] += 1
        self.fanout.add(key, text_for_seq(self.seq[key]))

    def on_price(self, raw: bytes) -> None:
        tick = json.loads(raw)
        symbol, seq = tick["symbol"], int(tick["seq"])
        text = messages.price_from_redis(raw)
        self.fanout.add("prices", text, symbol, seq)
        self.fanout.add(f"prices:{symbol}", text, symbol, seq)
        ts = datetime.fromisoformat(tick["ts"].replace("Z", "+00:00"))
        self._push_candles(self.candles.on_tick(symbol, Decimal(tick["price"]), ts, seq))

    def on_book(self, symbol: str, raw: bytes) -> None:
        book_key, quote_key = f"book:{symbol}", f"quotes:{symbol}"
        if book_key not in self.subscribers and quote_key not in self.subscribers:
            self._last_quote.pop(symbol, None)
            return
        snap = json.loads(raw)
        self._publish(book_key, lambda seq: messages.book(snap, seq))
        quote = snap["quote"]
        top = (quote["bid"], quote["bid_size"], quote["ask"], quote["ask_size"])
        if self._last_quote.get(symbol) != top:  # a book change below the top is no new quote
            self._last_quote[symbol] = top
            self._publish(quote_key, lambda seq: messages.quote(snap, seq))

    def on_executions(self, executions: Executions) -> None:
        """A listener of the process's executions feed (fed by `run_redis`'s taps, app.py)."""
        for trade in executions.trades:
            symbol = trade.symbol
            self._publish(f"trades:{symbol}", lambda seq, t=trade: messages.trade(t.as_json(), seq))
            self._push_candles(self.candles.on_trade(symbol, trade.qty, trade.ts))
        for fill in executions.fills:
            key = f"orders:{fill.account_id}"
            self._publish(key, lambda seq, f=fill: messages.fill(f.as_json(), seq))
        for order in executions.orders:
            account = order.account_id
            watched = self.subscribers.keys()
            if f"orders:{account}" in watched or f"portfolio:{account}" in watched:
                self._changed_orders[account].add(order.id)
                self._changed.set()

    def _push_candles(self, bars: list[Bar]) -> None:
        for bar in bars:
            key = f"candles:{bar.symbol}:{bar.interval}"
            self._publish(key, lambda seq, b=bar: messages.candle(b, seq))

    # --- background tasks -------------------------------------------------------------------

    async def run_redis(self) -> None:
        """Forever: the process's single Redis subscription (resubscribing if it drops)."""
        lost = False
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(PRICES_CHANNEL, EXECUTIONS_CHANNEL)
                await pubsub.psubscribe("book:*")
                self.subscribed.set()
                if lost:
                    # Messages were missed: skip a seq on every channel so clients see the gap.
                    for key in list(self.seq):
                        self.seq[key] += 1
                    lost = False
                async for message in pubsub.listen():
                    self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelled()  # a cancellation a library turned into its own error
                log.warning("hub lost its Redis subscription; resubscribing", exc_info=True)
                lost = True
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _dispatch(self, channel: bytes, data: bytes) -> None:
        try:
            if channel == b"prices":
                self.on_price(data)
            elif channel.startswith(b"book:"):
                self.on_book(channel[5:].decode(), data)
        except (ValueError, KeyError, TypeError, ArithmeticError):
            log.warning("skipping malformed message", extra={"channel": channel.decode()})
        for tap in self.taps:
            tap(channel, data)

    async def run_account_refresh(self) -> None:
        """Forever: push the orders and portfolio of accounts the engine changed."""
        while True:
            await self._changed.wait()
            await asyncio.sleep(self.settings.account_refresh_s)  # let a burst coalesce
            self._changed.clear()
            changed, self._changed_orders = self._changed_orders, defaultdict(set)
            for account_id, order_ids in changed.items():
                try:
                    await self._refresh_account(account_id, order_ids)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    raise_if_cancelled()  # a cancellation a library turned into its own error
                    log.warning("could not push an account's changes", exc_info=True)

    async def _refresh_account(self, account_id: uuid.UUID, order_ids: set[uuid.UUID]) -> None:
        orders_key, portfolio_key = f"orders:{account_id}", f"portfolio:{account_id}"
        async with self.db.connect() as conn:
            if orders_key in self.subscribers:
                rows = [await orders_repository.get_order(conn, account_id, i) for i in order_ids]
                rendered = await render_orders(conn, [r for r in rows if r is not None])
                for order in sorted(rendered, key=lambda o: o.created_at):
                    self._publish(orders_key, lambda seq, o=order: messages.order(o, seq))
            if portfolio_key in self.subscribers:
                held = await portfolio(
                    conn, self.prices, self.candles.clock, account_id, datetime.now(UTC)
                )
                self._publish(portfolio_key, lambda seq: messages.portfolio(held, seq))

    async def run_deleted_accounts(self, every_s: float = 1.0) -> None:
        """Forever: close the sockets of users deleted since they authenticated, and end the
        private channels of sockets whose token was logged out.

        A deleted user's token is dead from the deletion on; no private message (fills, orders,
        portfolio) may reach them after it, so the connection ends rather than only losing its
        channels. A logged-out token is dead too, but the page may sign in again on the same
        socket, so only its private channels close.
        """
        while True:
            await asyncio.sleep(every_s)
            try:
                await self.close_deleted_accounts()
                await self.end_revoked_sessions()
            except asyncio.CancelledError:
                raise
            except Exception:
                raise_if_cancelled()  # a cancellation a library turned into its own error
                log.warning("could not check for deleted users' sockets", exc_info=True)

    async def end_revoked_sessions(self) -> None:
        signed_in = [(c, c.claims) for c in self.connections if c.claims is not None]
        if not signed_in:
            return
        revoked = await self.revoked_tokens.revoked_among([claims for _, claims in signed_in])
        for conn, claims in signed_in:
            if token_id(claims) in revoked:
                self._end_session(conn, "token_revoked", "signed out; send a new auth message")

    async def close_deleted_accounts(self) -> None:
        authenticated = [c for c in self.connections if c.user_id is not None]
        if not authenticated:
            return
        ids = sorted({str(c.user_id) for c in authenticated})
        flags = await self.redis.smismember(DELETED_USERS_KEY, ids)
        deleted = {i for i, flag in zip(ids, flags, strict=True) if flag}
        for conn in authenticated:
            if str(conn.user_id) in deleted:
                self.unregister(conn)  # no delivery from now on
                conn.send(error_message("account_deleted", "the account was deleted"))
                conn.close()

    async def run_heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.settings.heartbeat_s)
            text = messages.heartbeat()
            for conn in tuple(self.connections):
                conn.send(text)
