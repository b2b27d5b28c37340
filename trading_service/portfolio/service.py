"""Values the account at the latest reference prices."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.money import round_money
from trading_service.portfolio import repository
from trading_service.portfolio.schemas import PortfolioOut, PositionOut
from trading_service.prices.cache import PriceCache


async def portfolio(
    conn: AsyncConnection, prices: PriceCache, account_id: uuid.UUID
) -> PortfolioOut:
    account = await repository.get_account(conn, account_id)
    rows = await repository.get_positions(conn, account_id)
    held = [r for r in rows if r.qty != 0]
    last = await prices.get_many([r.symbol for r in held])
    realized = sum((r.realized_pnl for r in rows), Decimal("0"))
    out: list[PositionOut] = []
    market_value_total = Decimal("0")
    unrealized_total = Decimal("0")
    for r in held:
        tick = last.get(r.symbol)
        avg_cost = r.cost_basis / r.qty
        if tick is None:
            # Without a price the position counts at cost, so equity does not jump to zero.
            market_value_total += r.cost_basis
            out.append(
                PositionOut(
                    symbol=r.symbol,
                    qty=r.qty,
                    avg_cost=avg_cost,
                    last_price=None,
                    market_value=None,
                    unrealized_pnl=None,
                )
            )
            continue
        value = tick.price * r.qty
        unrealized = value - r.cost_basis
        market_value_total += value
        unrealized_total += unrealized
        out.append(
            PositionOut(
                symbol=r.symbol,
                qty=r.qty,
                avg_cost=avg_cost,
                last_price=tick.price,
                market_value=value,
                unrealized_pnl=unrealized,
            )
        )
    return PortfolioOut(
        cash=account.cash,
        reserved_cash=account.reserved_cash,
        buying_power=account.cash - account.reserved_cash,
        equity=round_money(account.cash + market_value_total),
        realized_pnl=realized,
        unrealized_pnl=unrealized_total,
        positions=out,
    )
