"""Alpaca's Trading API v2 (`/v2/...`), authenticated with API keys, on the one orders service.

Point alpaca-py at this service: `TradingClient(key, secret, paper=True,
url_override="http://127.0.0.1:8002")`. What differs from Alpaca is in docs/alpaca.md.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import select

from shared.clock_api import MAX_CALENDAR_DAYS
from shared.errors import DomainError, NotFound, UnprocessableEntity
from shared.market_clock import MarketClock, calendar
from shared.query_dates import IsoDate
from stock_service.market.universe import DEFAULT_LISTINGS
from trading_service.alpaca import activities, mapping, positions, service
from trading_service.alpaca import repository as alpaca_repository
from trading_service.alpaca.deps import KeyPrincipal, limit_order_entry
from trading_service.alpaca.errors import AlpacaRoute, alpaca_body, responses
from trading_service.alpaca.schemas import (
    AccountOut,
    AssetOut,
    CalendarDayOut,
    CancelStatusOut,
    ClockOut,
    ClosePositionOut,
    FillActivityOut,
    OrderOut,
    OrderRequest,
    PositionOut,
    ReplaceRequest,
)
from trading_service.deps import Resources, ResourcesDep
from trading_service.engine.core.model import OrderType, Side, TimeInForce
from trading_service.orders import repository
from trading_service.orders.endpoints import cancel_all_orders, cancel_order
from trading_service.orders.schemas import CLIENT_ORDER_ID_PATTERN
from trading_service.orders.schemas import OrderRequest as PlainOrderRequest
from trading_service.portfolio.schemas import PortfolioHistoryOut
from trading_service.tables import reference_prices

router = APIRouter(
    prefix="/v2",
    tags=["alpaca v2"],
    route_class=AlpacaRoute,
    dependencies=[Depends(limit_order_entry)],
)

_AUTH = responses(403, 422, 429)
# ISO 8601 only (a date, or a date and time with an optional offset; naive is UTC): pydantic's
# datetime would also take numbers as Unix times, which the published schema does not allow.
Timestamp = Annotated[
    str | None,
    Query(
        max_length=40,
        pattern=r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$",
        description="ISO 8601, e.g. 2026-12-01T14:30:00Z",
    ),
]


def _instant(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UnprocessableEntity(f"{name} is not a valid ISO 8601 time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


async def _fill_activities(
    resources: Resources,
    account_id: uuid.UUID,
    after: str | None,
    until: str | None,
    direction: Literal["asc", "desc"],
    page_size: int,
) -> list[FillActivityOut]:
    """One page of the account's fills, as both activity routes answer them."""
    return await activities.fills(
        resources,
        account_id,
        _instant(after, "after"),
        _instant(until, "until"),
        direction == "asc",
        page_size,
    )


SymbolOrId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9.\-]+$")]


def _clock(request: Request) -> MarketClock:
    return cast(MarketClock, request.app.state.clock)


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds")


@router.get("/account", summary="The key's account", responses=_AUTH)
async def get_account(principal: KeyPrincipal, resources: ResourcesDep) -> AccountOut:
    async with resources.db.connect() as conn:
        return await positions.account(conn, resources.prices, principal.account_id)


@router.get("/clock", summary="The market clock (market time)", responses=_AUTH)
async def get_clock(request: Request, principal: KeyPrincipal) -> ClockOut:
    state = _clock(request).state(datetime.now(UTC))
    return ClockOut(
        timestamp=_iso(state.timestamp),
        is_open=state.is_open,
        next_open=_iso(state.next_open),
        next_close=_iso(state.next_close),
    )


@router.get("/calendar", summary="Trading days and their sessions", responses=_AUTH)
async def get_calendar(
    request: Request,
    principal: KeyPrincipal,
    start: Annotated[IsoDate | None, Query(description="First day, YYYY-MM-DD")] = None,
    end: Annotated[IsoDate | None, Query(description="Last day, YYYY-MM-DD")] = None,
) -> list[CalendarDayOut]:
    if start is None:
        start = _clock(request).state(datetime.now(UTC)).trading_day
    if end is None:
        end = start + timedelta(days=min(30, (date.max - start).days))
    if end < start:
        raise UnprocessableEntity("end is before start")
    if (end - start).days >= MAX_CALENDAR_DAYS:
        raise UnprocessableEntity(f"at most {MAX_CALENDAR_DAYS} days per request")
    return [
        CalendarDayOut(
            date=s.day.isoformat(),
            open=s.open.strftime("%H:%M"),
            close=s.close.strftime("%H:%M"),
            session_open=s.open.strftime("%H%M"),
            session_close=s.close.strftime("%H%M"),
            settlement_date=s.day.isoformat(),
        )
        for s in calendar(start, end)
    ]


async def _listed(resources: Resources) -> list[str]:
    async with resources.db.connect() as conn:
        stored = set((await conn.execute(select(reference_prices.c.symbol))).scalars())
    return sorted(stored | {t.symbol for t in await resources.prices.all()})


# Names of the stock service's default listings; a configured symbol is named by its ticker.
_NAMES = {listing.symbol: listing.name for listing in DEFAULT_LISTINGS}


def _asset(symbol: str) -> AssetOut:
    return AssetOut(id=mapping.asset_id(symbol), symbol=symbol, name=_NAMES.get(symbol, symbol))


@router.get("/assets", summary="Every listed symbol", responses=_AUTH)
async def get_assets(
    principal: KeyPrincipal,
    resources: ResourcesDep,
    status_: Annotated[str | None, Query(alias="status", max_length=16)] = None,
    asset_class: Annotated[str | None, Query(max_length=16)] = None,
    exchange: Annotated[str | None, Query(max_length=16)] = None,
) -> list[AssetOut]:
    if status_ not in (None, "active") or asset_class not in (None, "us_equity"):
        return []  # everything here is an active US equity
    assets = [_asset(s) for s in await _listed(resources)]
    return [a for a in assets if exchange is None or a.exchange == exchange]


@router.get("/assets/{symbol_or_asset_id}", summary="One asset", responses=responses(403, 404))
async def get_asset(
    symbol_or_asset_id: SymbolOrId, principal: KeyPrincipal, resources: ResourcesDep
) -> AssetOut:
    wanted = symbol_or_asset_id.upper()
    for symbol in await _listed(resources):
        if wanted in (symbol, str(mapping.asset_id(symbol)).upper()):
            return _asset(symbol)
    raise NotFound("asset not found")


@router.post(
    "/orders",
    summary="Place an order",
    description="Market, limit, stop and stop-limit orders of whole shares; time in force day, "
    "gtc, ioc or fok. Fractional and notional orders, extended hours, short sales, bracket/"
    "OCO/OTO classes, trailing stops and the opg/cls auctions are refused with 422.",
    responses=responses(403, 404, 422, 429, 503),
)
async def submit_order(
    body: OrderRequest, principal: KeyPrincipal, resources: ResourcesDep
) -> OrderOut:
    request = service.to_order_request(body)
    return await service.submit(resources, principal.account_id, request)


@router.get("/orders", summary="Orders of the key's account", responses=_AUTH)
async def get_orders(
    principal: KeyPrincipal,
    resources: ResourcesDep,
    status_: Annotated[Literal["open", "closed", "all"], Query(alias="status")] = "open",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    after: Timestamp = None,
    until: Timestamp = None,
    direction: Literal["asc", "desc"] = "desc",
    nested: bool = False,
    side: Literal["buy", "sell"] | None = None,
    symbols: Annotated[str | None, Query(max_length=1100, pattern=r"^[A-Za-z., ]*$")] = None,
) -> list[OrderOut]:
    wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()] if symbols else None
    async with resources.db.connect() as conn:
        rows = await alpaca_repository.list_orders(
            conn,
            principal.account_id,
            status=status_,
            symbols=wanted,
            side=side,
            after=_instant(after, "after"),
            until=_instant(until, "until"),
            ascending=direction == "asc",
            limit=limit,
        )
        return await service.present(conn, rows)


@router.get(
    "/orders:by_client_order_id",
    summary="One order by its client_order_id",
    responses=responses(403, 404),
)
async def get_order_by_client_id(
    principal: KeyPrincipal,
    resources: ResourcesDep,
    client_order_id: Annotated[str, Query(max_length=64, pattern=CLIENT_ORDER_ID_PATTERN)],
) -> OrderOut:
    async with resources.db.connect() as conn:
        row = await repository.get_order_by_client_id(conn, principal.account_id, client_order_id)
        if row is None:
            raise NotFound("order not found")
        (order,) = await service.present(conn, [row])
        return order


@router.get("/orders/{order_id}", summary="One order", responses=responses(403, 404))
async def get_order(
    order_id: uuid.UUID, principal: KeyPrincipal, resources: ResourcesDep, nested: bool = False
) -> OrderOut:
    return await service.get_order(resources, principal.account_id, order_id)


@router.patch(
    "/orders/{order_id}",
    summary="Replace an order",
    description="Creates a new order that `replaces` the old one; the old gets `replaced_by` "
    "and status `replaced`. Fields not given are the old order's (qty: what was left of it).",
    responses=responses(403, 404, 422),
)
async def replace_order(
    order_id: uuid.UUID, body: ReplaceRequest, principal: KeyPrincipal, resources: ResourcesDep
) -> OrderOut:
    return await service.replace(resources, principal.account_id, order_id, body)


@router.delete(
    "/orders/{order_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Cancel an order",
    responses=responses(403, 404, 422),
)
async def cancel_order_by_id(
    order_id: uuid.UUID, principal: KeyPrincipal, resources: ResourcesDep
) -> Response:
    await cancel_order(order_id, principal.account_id, resources)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete(
    "/orders",
    status_code=207,
    summary="Cancel every open order",
    description="207 with one entry per open order: its id, 200, and the order as it stands.",
    responses=_AUTH,
)
async def cancel_orders(principal: KeyPrincipal, resources: ResourcesDep) -> JSONResponse:
    canceled = await cancel_all_orders(principal.account_id, resources)
    async with resources.db.connect() as conn:
        rows = [await repository.get_order(conn, principal.account_id, o.id) for o in canceled]
        shown = await service.present(conn, [r for r in rows if r is not None])
    body = [CancelStatusOut(id=o.id, status=200, body=o).model_dump(mode="json") for o in shown]
    return JSONResponse(body, status_code=207)


@router.get("/positions", summary="Open positions", responses=_AUTH)
async def get_positions(principal: KeyPrincipal, resources: ResourcesDep) -> list[PositionOut]:
    async with resources.db.connect() as conn:
        held = await positions.positions(conn, resources.prices, principal.account_id)
    return [positions.position_out(row, tick) for row, tick in held]


@router.get(
    "/positions/{symbol_or_asset_id}", summary="One open position", responses=responses(403, 404)
)
async def get_position(
    symbol_or_asset_id: SymbolOrId, principal: KeyPrincipal, resources: ResourcesDep
) -> PositionOut:
    async with resources.db.connect() as conn:
        row, tick = await positions.position(
            conn, resources.prices, principal.account_id, symbol_or_asset_id
        )
    return positions.position_out(row, tick)


def _market_sell(symbol: str, qty: int) -> PlainOrderRequest:
    return PlainOrderRequest(
        symbol=symbol, qty=qty, side=Side.SELL, type=OrderType.MARKET, time_in_force=TimeInForce.DAY
    )


@router.delete(
    "/positions/{symbol_or_asset_id}",
    summary="Close a position (all, qty or percentage) with a market sell",
    responses=responses(403, 404, 422),
)
async def close_position(
    symbol_or_asset_id: SymbolOrId,
    principal: KeyPrincipal,
    resources: ResourcesDep,
    qty: Annotated[str | None, Query(max_length=32)] = None,
    percentage: Annotated[str | None, Query(max_length=32)] = None,
) -> OrderOut:
    async with resources.db.connect() as conn:
        row, _ = await positions.position(
            conn, resources.prices, principal.account_id, symbol_or_asset_id
        )
    shares = positions.close_qty(row.qty, qty, percentage)
    return await service.submit(resources, principal.account_id, _market_sell(row.symbol, shares))


@router.delete(
    "/positions",
    status_code=207,
    summary="Close every position with market sells",
    description="With `cancel_orders=true` open orders are canceled first (their shares are "
    "then free to sell). 207 with one entry per position.",
    responses=_AUTH,
)
async def close_all_positions(
    principal: KeyPrincipal, resources: ResourcesDep, cancel_orders: bool = False
) -> JSONResponse:
    if cancel_orders:
        await cancel_all_orders(principal.account_id, resources)
    async with resources.db.connect() as conn:
        held = await positions.positions(conn, resources.prices, principal.account_id)
    results = []
    for row, _ in held:
        free = row.qty - row.reserved_qty
        try:
            if free <= 0:
                raise UnprocessableEntity(
                    f"all {row.qty} shares are held by open orders; cancel them first"
                )
            order = await service.submit(
                resources, principal.account_id, _market_sell(row.symbol, free)
            )
            results.append(
                ClosePositionOut(order_id=order.id, symbol=row.symbol, status=200, body=order)
            )
        except DomainError as exc:
            message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
            code = 403 if exc.status == 409 else exc.status
            results.append(
                ClosePositionOut(
                    order_id=None, symbol=row.symbol, status=code, body=alpaca_body(code, message)
                )
            )
    return JSONResponse([r.model_dump(mode="json") for r in results], status_code=207)


@router.get(
    "/account/activities/{activity_type}",
    summary="Account activities of one type (only FILL)",
    responses=responses(403, 422),
)
async def get_activities_of_type(
    activity_type: Annotated[str, Path(max_length=16, pattern=r"^[A-Z_]+$")],
    principal: KeyPrincipal,
    resources: ResourcesDep,
    after: Timestamp = None,
    until: Timestamp = None,
    direction: Literal["asc", "desc"] = "desc",
    page_size: Annotated[int, Query(ge=1, le=100)] = 100,
) -> list[FillActivityOut]:
    if activity_type != "FILL":
        return []  # no dividends, transfers or fees here: only fills ever happen
    return await _fill_activities(
        resources, principal.account_id, after, until, direction, page_size
    )


@router.get(
    "/account/activities", summary="Account activities (fills)", responses=responses(403, 422)
)
async def get_activities(
    principal: KeyPrincipal,
    resources: ResourcesDep,
    activity_types: Annotated[str | None, Query(max_length=200, pattern=r"^[A-Z_,]*$")] = None,
    after: Timestamp = None,
    until: Timestamp = None,
    direction: Literal["asc", "desc"] = "desc",
    page_size: Annotated[int, Query(ge=1, le=100)] = 100,
) -> list[FillActivityOut]:
    if activity_types and "FILL" not in activity_types.split(","):
        return []
    return await _fill_activities(
        resources, principal.account_id, after, until, direction, page_size
    )


@router.get(
    "/account/portfolio/history",
    summary="Equity over time",
    description="The history of GET /portfolio/history: equity and profit/loss per bar of "
    "`timeframe` over `period` (1D, 1W or 1M), replayed from the account's fills and the "
    "candles' closes. Amounts are decimal strings (alpaca-py reads them as numbers).",
    responses=responses(403, 422),
)
async def get_portfolio_history(
    request: Request,
    principal: KeyPrincipal,
    resources: ResourcesDep,
    period: Annotated[str | None, Query(max_length=8)] = None,
    timeframe: Literal["1Min", "5Min", "15Min", "1H", "1D"] | None = None,
    date_end: IsoDate | None = None,
    extended_hours: bool | None = None,
) -> PortfolioHistoryOut:
    return await activities.portfolio_history(
        resources, _clock(request), principal.account_id, period, timeframe
    )
