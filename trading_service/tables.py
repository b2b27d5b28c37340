"""The trading service's tables (SQLAlchemy Core; the schema itself lives in migrations/).

Money is NUMERIC(20, 2), quantities whole shares (BIGINT). The house (the simulated market
maker) is an account like any other, flagged `house`, so conservation can be audited.
"""

from __future__ import annotations

import uuid

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    Numeric,
    Table,
    Text,
    Uuid,
    func,
)

HOUSE_ACCOUNT_ID = uuid.UUID(int=0)

metadata = MetaData()
Money = Numeric(20, 2)

accounts = Table(
    "accounts",
    metadata,
    # the user's id (JWT `sub`), or HOUSE_ACCOUNT_ID for the house
    Column("id", Uuid, primary_key=True),
    Column("house", Boolean, nullable=False, server_default="false"),
    # cash includes reserved_cash; buying power = cash - reserved_cash
    Column("cash", Money, nullable=False),
    Column("reserved_cash", Money, nullable=False, server_default="0"),
    Column("granted_cash", Money, nullable=False),  # starting grants: what conservation sums to
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

positions = Table(
    "positions",
    metadata,
    Column("account_id", Uuid, ForeignKey("accounts.id"), primary_key=True),
    Column("symbol", Text, primary_key=True),
    Column("house", Boolean, nullable=False, server_default="false"),
    Column("qty", BigInteger, nullable=False, server_default="0"),
    Column("reserved_qty", BigInteger, nullable=False, server_default="0"),
    Column("cost_basis", Money, nullable=False, server_default="0"),  # cost of the shares held
    Column("realized_pnl", Money, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("client_order_id", Text, nullable=False),
    Column("symbol", Text, nullable=False),
    Column("side", Text, nullable=False),  # buy | sell
    Column("type", Text, nullable=False),  # market | limit | stop | stop_limit
    Column("time_in_force", Text, nullable=False),  # day | gtc | ioc | fok
    Column("qty", BigInteger, nullable=False),
    Column("limit_price", Money),
    Column("stop_price", Money),
    Column("protection_price", Money),  # market buys: the collar the reservation was made at
    Column("status", Text, nullable=False),
    Column("filled_qty", BigInteger, nullable=False, server_default="0"),
    Column("filled_notional", Money, nullable=False, server_default="0"),
    Column("reserved_cash", Money, nullable=False, server_default="0"),
    Column("reserved_qty", BigInteger, nullable=False, server_default="0"),
    Column("reject_reason", Text),
    Column("priority", BigInteger),  # engine's time-priority sequence; NULL until accepted
    Column("accepted_at", DateTime(timezone=True)),  # NULL: the engine has not processed it yet
    Column("triggered_at", DateTime(timezone=True)),  # a stop order's stop price was crossed
    Column("published_at", DateTime(timezone=True)),  # last hand-off to Kafka (outbox sweep)
    Column("cancel_requested_at", DateTime(timezone=True)),  # acknowledged cancel, not yet done
    # Replaces (migration 0003): the API counts the ones it accepted, the engine the ones it
    # settled; while replace_seq is ahead, pending_* are the terms of the latest accepted one.
    Column("replace_seq", BigInteger, nullable=False, server_default="0"),
    Column("replace_applied_seq", BigInteger, nullable=False, server_default="0"),
    Column("pending_qty", BigInteger),
    Column("pending_limit_price", Money),
    Column("pending_stop_price", Money),
    Column("pending_protection_price", Money),
    Column("replace_reject_reason", Text),  # why the engine refused the last settled replace
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

trades = Table(
    "trades",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("symbol", Text, nullable=False),
    Column("price", Money, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("aggressor_side", Text, nullable=False),
    Column("buy_order_id", Uuid),  # NULL: the house was the buyer
    Column("sell_order_id", Uuid),  # NULL: the house was the seller
    Column("ts", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

fills = Table(
    "fills",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("trade_id", BigInteger, ForeignKey("trades.id"), nullable=False),
    Column("order_id", Uuid, ForeignKey("orders.id"), nullable=False),
    Column("account_id", Uuid, ForeignKey("accounts.id"), nullable=False),
    Column("symbol", Text, nullable=False),
    Column("side", Text, nullable=False),
    Column("price", Money, nullable=False),
    Column("qty", BigInteger, nullable=False),
    Column("liquidity", Text, nullable=False),  # maker | taker
    Column("ts", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

engine_offsets = Table(
    "engine_offsets",
    metadata,
    Column("topic", Text, primary_key=True),
    Column("partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

reference_prices = Table(
    "reference_prices",
    metadata,
    Column("symbol", Text, primary_key=True),
    Column("price", Money, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
)

candles = Table(
    "candles",
    metadata,
    # OHLC from reference-price ticks, volume from trades; see trading_service/candles
    Column("symbol", Text, primary_key=True),
    Column("interval", Text, primary_key=True),  # 1m | 5m | 15m | 1h | 1d
    Column("start_ts", DateTime(timezone=True), primary_key=True),
    Column("end_ts", DateTime(timezone=True), nullable=False),
    Column("open", Money, nullable=False),
    Column("high", Money, nullable=False),
    Column("low", Money, nullable=False),
    Column("close", Money, nullable=False),
    Column("open_seq", BigInteger, nullable=False),  # tick seq of the open: lowest seen wins
    Column("close_seq", BigInteger, nullable=False),  # tick seq of the close: highest seen wins
    Column("volume", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)
