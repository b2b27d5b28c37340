"""Account and positions in Alpaca's shapes, valued at the latest reference prices."""

from __future__ import annotations

import uuid
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import NotFound, UnprocessableEntity
from shared.money import fmt, round_money
from trading_service.alpaca import mapping
from trading_service.alpaca.schemas import AccountOut, PositionOut
from trading_service.alpaca.service import whole_shares
from trading_service.portfolio import repository as portfolio_repository
from trading_service.prices.cache import PriceCache


async def positions(conn: AsyncConnection, prices: PriceCache, account_id: uuid.UUID) -> list[Any]:
    """The account's long positions (qty > 0) with their latest price (None before the first)."""
    rows = [r for r in await portfolio_repository.get_positions(conn, account_id) if r.qty > 0]
    last = await prices.get_many([r.symbol for r in rows])
    return [(r, last.get(r.symbol)) for r in rows]


def position_out(row: Any, tick: Any) -> PositionOut:
    avg = row.cost_basis / row.qty
    price = None if tick is None else tick.price
    value = None if price is None else price * row.qty
    unrealized = None if value is None else value - row.cost_basis
    plpc = None if unrealized is None or row.cost_basis == 0 else unrealized / row.cost_basis
    return PositionOut(
        asset_id=mapping.asset_id(row.symbol),
        symbol=row.symbol,
        avg_entry_price=f"{round_money(avg):f}",
        qty=str(row.qty),
        qty_available=str(row.qty - row.reserved_qty),
        market_value=mapping.money(value),
        cost_basis=fmt(row.cost_basis),
        unrealized_pl=mapping.money(unrealized),
        unrealized_plpc=None if plpc is None else f"{plpc.quantize(Decimal('1e-6')):f}",
        # No previous close is tracked per position: intraday figures are the totals.
        unrealized_intraday_pl=mapping.money(unrealized),
        unrealized_intraday_plpc=None if plpc is None else f"{plpc.quantize(Decimal('1e-6')):f}",
        current_price=mapping.money(price),
        lastday_price=None,
        change_today=None,
    )


async def position(
    conn: AsyncConnection, prices: PriceCache, account_id: uuid.UUID, symbol_or_id: str
) -> tuple[Any, Any]:
    for row, tick in await positions(conn, prices, account_id):
        if symbol_or_id.upper() in (row.symbol, str(mapping.asset_id(row.symbol)).upper()):
            return row, tick
    raise NotFound("position does not exist")


def close_qty(held: int, qty: str | None, percentage: str | None) -> int:
    """Shares a close sells: all, `qty`, or `percentage` of the position rounded down."""
    if qty is not None and percentage is not None:
        raise UnprocessableEntity("give qty or percentage, not both")
    if qty is not None:
        wanted = whole_shares(qty)
        if wanted > held:
            raise UnprocessableEntity(f"qty {wanted} is more than the {held} shares held")
        return wanted
    if percentage is not None:
        try:
            pct = Decimal(percentage)
        except ArithmeticError:
            raise UnprocessableEntity("percentage must be a number") from None
        if not pct.is_finite() or not 0 < pct <= 100:
            raise UnprocessableEntity("percentage must be above 0 and at most 100")
        shares = int((Decimal(held) * pct / 100).to_integral_value(rounding=ROUND_FLOOR))
        if shares == 0:
            raise UnprocessableEntity(
                f"{pct}% of {held} shares is less than one share: fractions are not supported"
            )
        return shares
    return int(held)


async def account(conn: AsyncConnection, prices: PriceCache, account_id: uuid.UUID) -> AccountOut:
    row = await portfolio_repository.get_account(conn, account_id)
    held = await positions(conn, prices, account_id)
    # A position without a price yet counts at cost, as on GET /portfolio.
    long_value = sum(
        (r.cost_basis if t is None else t.price * r.qty for r, t in held), Decimal("0")
    )
    buying_power = fmt(row.cash - row.reserved_cash)
    equity = fmt(row.cash + long_value)
    return AccountOut(
        id=account_id,
        account_number=mapping.account_number(account_id),
        buying_power=buying_power,
        regt_buying_power=buying_power,
        daytrading_buying_power=buying_power,
        non_marginable_buying_power=buying_power,
        effective_buying_power=buying_power,
        cash=fmt(row.cash),
        portfolio_value=equity,
        created_at=row.created_at,
        equity=equity,
        last_equity=equity,
        long_market_value=fmt(long_value),
        position_market_value=fmt(long_value),
        balance_asof=row.updated_at.date().isoformat(),
    )
