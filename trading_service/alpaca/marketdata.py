"""Alpaca's market-data REST API (v2 stocks) over our candles, order books and tape.

Same host and port as the trading API, so one `url_override` serves alpaca-py's
`StockHistoricalDataClient` and `TradingClient`. Field names are Alpaca's wire names (bars
t,o,h,l,c,v,n,vw; quotes t,ap,as,bp,bs,ax,bx,c,z; trades t,p,s,x,i,c,z); numbers are JSON
numbers as Alpaca sends them (prices have two decimals, so each prints exactly). Times are
market time (see README "Market time"). Errors are Alpaca's `{"code", "message"}` (AlpacaRoute)
and the key is checked as on the trading routes (403 without a valid one, as Alpaca does);
query parameters are read as text and checked here, so a bad one gets a message that says why.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request

from shared.errors import NotFound, UnprocessableEntity
from shared.market_clock import MARKET_TZ, MarketClock
from trading_service.alpaca import marketdata_repository as repo
from trading_service.alpaca.deps import key_principal
from trading_service.alpaca.errors import AlpacaRoute, responses
from trading_service.candles.aggregator import Bar, CandleAggregator
from trading_service.deps import ResourcesDep
from trading_service.market.snapshots import read_book

router = APIRouter(
    prefix="/v2/stocks",
    tags=["alpaca market data"],
    route_class=AlpacaRoute,
    dependencies=[Depends(key_principal)],
    responses=responses(403, 422),
)

# Our one venue, presented in Alpaca's exchange/tape codes (documented in docs/alpaca.md).
EXCHANGE = "V"
TAPE = "C"
# The house quotes an unlimited size (null in our own API); Alpaca's size is a number.
UNLIMITED_SIZE = 1_000_000
MAX_SYMBOLS = 100
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000
_SYMBOL = re.compile(r"^[A-Z][A-Z.]{0,9}$")
# Alpaca's timeframe spellings (1Min, 1T, 1Hour, 1H, 1Day, 1D) for the bar lengths we keep.
_TIMEFRAME = re.compile(r"^(\d{1,3})(Min|T|Hour|H|Day|D)$")
_INTERVALS = {
    (1, "m"): "1m",
    (5, "m"): "5m",
    (15, "m"): "15m",
    (1, "h"): "1h",
    (1, "d"): "1d",
}
_UNITS = {"Min": "m", "T": "m", "Hour": "h", "H": "h", "Day": "d", "D": "d"}

Text = Annotated[str | None, Query()]


# --- parsing -------------------------------------------------------------------------------


def parse_symbols(raw: str | None) -> list[str]:
    if not raw:
        raise UnprocessableEntity("symbols is required (comma-separated, e.g. AAPL,MSFT)")
    symbols = list(dict.fromkeys(s.strip().upper() for s in raw.split(",") if s.strip()))
    if not symbols or len(symbols) > MAX_SYMBOLS:
        raise UnprocessableEntity(f"symbols: between 1 and {MAX_SYMBOLS} symbols")
    for symbol in symbols:
        _check_symbol(symbol)
    return symbols


def _check_symbol(symbol: str) -> str:
    if not _SYMBOL.match(symbol):
        raise UnprocessableEntity(f"invalid symbol: {symbol[:20]!r}")
    return symbol


def parse_timeframe(raw: str | None) -> str:
    match = _TIMEFRAME.match(raw or "")
    interval = _INTERVALS.get((int(match[1]), _UNITS[match[2]])) if match else None
    if interval is None:
        raise UnprocessableEntity("timeframe: one of 1Min, 5Min, 15Min, 1Hour, 1Day is supported")
    return interval


def parse_time(name: str, raw: str | None) -> datetime | None:
    """RFC 3339 or a date (midnight, market zone); a time without a zone is UTC."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) == 10:
            return datetime.combine(datetime.fromisoformat(raw).date(), time(), MARKET_TZ)
        value = datetime.fromisoformat(raw.replace("z", "Z"))
    except ValueError:
        raise UnprocessableEntity(f"{name}: not an RFC 3339 time or a date: {raw[:40]!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise UnprocessableEntity(f"limit: a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def parse_sort(raw: str | None) -> bool:
    """True for newest first."""
    if raw in (None, "", "asc"):
        return False
    if raw == "desc":
        return True
    raise UnprocessableEntity("sort: asc or desc")


def encode_token(symbol: str, start: datetime) -> str:
    raw = json.dumps([symbol, start.isoformat()]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(raw: str | None) -> tuple[str, datetime] | None:
    if not raw:
        return None
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
        symbol, start = json.loads(text)
        at = datetime.fromisoformat(start)
        if not isinstance(symbol, str) or at.tzinfo is None:
            raise ValueError
        return symbol, at
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise UnprocessableEntity("page_token: not a token this server gave") from None


# --- wire shapes -----------------------------------------------------------------------------


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _number(value: Decimal) -> float:
    # A price with two decimals prints back exactly from its float (shortest repr).
    return float(value)


def bar_json(
    start: datetime, o: Decimal, h: Decimal, lo: Decimal, c: Decimal, v: int
) -> dict[str, Any]:
    # n and vw (trade count, VWAP) are not kept per bar: sent as null (documented).
    return {
        "t": rfc3339(start),
        "o": _number(o),
        "h": _number(h),
        "l": _number(lo),
        "c": _number(c),
        "v": v,
        "n": None,
        "vw": None,
    }


def row_bar(row: Any) -> dict[str, Any]:
    return bar_json(row.start_ts, row.open, row.high, row.low, row.close, row.volume)


def live_bar(bar: Bar) -> dict[str, Any]:
    return bar_json(bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume)


def quote_json(snapshot: dict[str, Any], clock: MarketClock) -> dict[str, Any]:
    quote = snapshot["quote"]
    wall = datetime.fromisoformat(snapshot["ts"])
    return {
        "t": rfc3339(clock.market_time(wall)),
        "ap": _number(Decimal(quote["ask"] or "0")),
        "as": _size(quote["ask"], quote["ask_size"]),
        "ax": EXCHANGE,
        "bp": _number(Decimal(quote["bid"] or "0")),
        "bs": _size(quote["bid"], quote["bid_size"]),
        "bx": EXCHANGE,
        "c": ["R"],
        "z": TAPE,
    }


def _size(price: str | None, size: int | None) -> int:
    # An empty side is price 0, size 0, as Alpaca sends it.
    if price is None:
        return 0
    return UNLIMITED_SIZE if size is None else size


def trade_json(
    trade_id: int | None, price: Decimal, qty: int, wall: datetime, clock: MarketClock
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "t": rfc3339(clock.market_time(wall)),
        "p": _number(price),
        "s": qty,
        "x": EXCHANGE,
        "c": ["@"],
        "z": TAPE,
    }
    if trade_id is not None:
        body["i"] = trade_id
    return body


# --- routes ----------------------------------------------------------------------------------


def _clock(request: Request) -> MarketClock:
    clock: MarketClock = request.app.state.clock
    return clock


def _candles(request: Request) -> CandleAggregator:
    candles: CandleAggregator = request.app.state.candles
    return candles


async def _bars(
    request: Request,
    resources: ResourcesDep,
    symbols: list[str],
    timeframe: str | None,
    start: str | None,
    end: str | None,
    limit: str | None,
    page_token: str | None,
    sort: str | None,
) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
    interval = parse_timeframe(timeframe)
    now = _clock(request).market_time(datetime.now(UTC))
    # Alpaca's defaults: from the start of today (market zone) to now.
    start_at = parse_time("start", start) or datetime.combine(now.date(), time(), MARKET_TZ)
    end_at = parse_time("end", end) or now
    count = parse_limit(limit)
    newest_first = parse_sort(sort)
    after = decode_token(page_token)
    async with resources.db.connect() as conn:
        rows = await repo.bars_page(
            conn, symbols, interval, start_at, end_at, after, count + 1, newest_first
        )
    bars: dict[str, list[dict[str, Any]]] = {}
    for row in rows[:count]:
        bars.setdefault(row.symbol, []).append(row_bar(row))
    token = None
    if len(rows) > count:
        last = rows[count - 1]
        token = encode_token(last.symbol, last.start_ts)
    return bars, token


@router.get(
    "/bars",
    summary="Historical bars of several symbols (Alpaca get_stock_bars)",
    description="Stored bars (the forming one is stored within a second), by symbol then time, "
    "`limit` bars per page across all symbols; pass `next_page_token` back as `page_token` "
    "for the next page. `feed`, `adjustment`, `asof` and `currency` are accepted and ignored.",
)
async def stock_bars(
    request: Request,
    resources: ResourcesDep,
    symbols: Text = None,
    timeframe: Text = None,
    start: Text = None,
    end: Text = None,
    limit: Text = None,
    page_token: Text = None,
    sort: Text = None,
) -> dict[str, Any]:
    bars, token = await _bars(
        request,
        resources,
        parse_symbols(symbols),
        timeframe,
        start,
        end,
        limit,
        page_token,
        sort,
    )
    return {"bars": bars, "next_page_token": token}


@router.get("/bars/latest", summary="The newest bar of each symbol (get_stock_latest_bar)")
async def latest_bars(
    request: Request,
    resources: ResourcesDep,
    symbols: Text = None,
) -> dict[str, Any]:
    bars = {}
    for symbol in parse_symbols(symbols):
        found = await _candles(request).history(symbol, "1m", None, 1)
        if found:
            bars[symbol] = live_bar(found[-1])
    return {"bars": bars}


@router.get("/quotes/latest", summary="Latest quote of each symbol (get_stock_latest_quote)")
async def latest_quotes(
    request: Request,
    resources: ResourcesDep,
    symbols: Text = None,
) -> dict[str, Any]:
    quotes = {}
    for symbol in parse_symbols(symbols):
        snapshot = await read_book(resources.redis, symbol)
        if snapshot is not None:
            quotes[symbol] = quote_json(snapshot, _clock(request))
    return {"quotes": quotes}


@router.get("/trades/latest", summary="Last trade of each symbol (get_stock_latest_trade)")
async def latest_trades(
    request: Request,
    resources: ResourcesDep,
    symbols: Text = None,
) -> dict[str, Any]:
    trades = {}
    async with resources.db.connect() as conn:
        for symbol in parse_symbols(symbols):
            row = await repo.last_trade(conn, symbol)
            if row is not None:
                trades[symbol] = trade_json(row.id, row.price, row.qty, row.ts, _clock(request))
    return {"trades": trades}


@router.get(
    "/snapshots",
    summary="Latest trade, quote, minute and daily bars (get_stock_snapshot)",
    description="Keyed by symbol at the top level, as Alpaca answers; an unknown symbol is "
    "absent, a part without data is null.",
)
async def snapshots(
    request: Request,
    resources: ResourcesDep,
    symbols: Text = None,
) -> dict[str, Any]:
    clock, candles = _clock(request), _candles(request)
    result: dict[str, Any] = {}
    async with resources.db.connect() as conn:
        for symbol in parse_symbols(symbols):
            book = await read_book(resources.redis, symbol)
            trade = await repo.last_trade(conn, symbol)
            minute = await candles.history(symbol, "1m", None, 1)
            daily = await candles.history(symbol, "1d", None, 2)
            if book is None and trade is None and not minute and not daily:
                continue
            result[symbol] = {
                "latestTrade": trade_json(trade.id, trade.price, trade.qty, trade.ts, clock)
                if trade is not None
                else None,
                "latestQuote": quote_json(book, clock) if book is not None else None,
                "minuteBar": live_bar(minute[-1]) if minute else None,
                "dailyBar": live_bar(daily[-1]) if daily else None,
                "prevDailyBar": live_bar(daily[-2]) if len(daily) > 1 else None,
            }
    return result


Symbol = Annotated[str, Path(description="Ticker symbol", examples=["AAPL"])]


@router.get("/{symbol}/bars", summary="Historical bars of one symbol")
async def symbol_bars(
    request: Request,
    resources: ResourcesDep,
    symbol: Symbol,
    timeframe: Text = None,
    start: Text = None,
    end: Text = None,
    limit: Text = None,
    page_token: Text = None,
    sort: Text = None,
) -> dict[str, Any]:
    name = _check_symbol(symbol.upper())
    bars, token = await _bars(
        request, resources, [name], timeframe, start, end, limit, page_token, sort
    )
    return {"symbol": name, "bars": bars.get(name, []), "next_page_token": token}


@router.get("/{symbol}/quotes/latest", summary="Latest quote of one symbol")
async def symbol_quote(
    request: Request,
    resources: ResourcesDep,
    symbol: Symbol,
) -> dict[str, Any]:
    name = _check_symbol(symbol.upper())
    snapshot = await read_book(resources.redis, name)
    if snapshot is None:
        raise NotFound(f"no quote for {name}")
    return {"symbol": name, "quote": quote_json(snapshot, _clock(request))}


@router.get("/{symbol}/trades/latest", summary="Last trade of one symbol")
async def symbol_trade(
    request: Request,
    resources: ResourcesDep,
    symbol: Symbol,
) -> dict[str, Any]:
    name = _check_symbol(symbol.upper())
    async with resources.db.connect() as conn:
        row = await repo.last_trade(conn, name)
    if row is None:
        raise NotFound(f"no trade of {name} yet")
    return {
        "symbol": name,
        "trade": trade_json(row.id, row.price, row.qty, row.ts, _clock(request)),
    }
