"""Values the account at the latest reference prices, with each position's change today."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.market_clock import MarketClock
from shared.money import round_money
from trading_service.messages import PriceTick
from trading_service.portfolio import repository
from trading_service.portfolio.schemas import PortfolioOut, PositionOut
from trading_service.prices.cache import PriceCache

ZERO = Decimal("0")


@dataclass
class _Today:
    """What one symbol did for the account since the open of the current market session."""

    open: Decimal
    bought_qty: int = 0
    sold_qty: int = 0
    flow: Decimal = ZERO  # cash paid for today's buys minus cash received for today's sells

    def change(self, qty_now: int, last: Decimal) -> Decimal:
        """Value now minus value at the open, less the cash put in since: the day's P&L."""
        qty_at_open = qty_now - self.bought_qty + self.sold_qty
        return qty_now * last - qty_at_open * self.open - self.flow


async def _today(
    conn: AsyncConnection,
    clock: MarketClock,
    account_id: uuid.UUID,
    symbols: list[str],
    now: datetime,
) -> dict[str, _Today]:
    """Today is the market clock's current session, as on the market watch: the open is the
    session's daily bar's open. Fills carry wall time, so they count from the wall instant the
    session opened (MarketClock.wall_time of its market-time open)."""
    session_open = clock.current_session(now).open.astimezone(UTC)
    days = await repository.latest_bars(conn, symbols, "1d")
    # An earlier session's bar is not today's: no tick yet today means no move and no fill yet.
    today = {s: _Today(open=bar.open) for s, bar in days.items() if bar.start_ts == session_open}
    if not today:
        return {}
    for f in await repository.fills_since(conn, account_id, clock.wall_time(session_open)):
        day = today.get(f.symbol)
        if day is None:
            continue
        if f.side == "buy":
            day.bought_qty += f.qty
            day.flow += f.price * f.qty
        else:
            day.sold_qty += f.qty
            day.flow -= f.price * f.qty
    return today


def _pct(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if whole == 0 else part * 100 / whole


async def portfolio(
    conn: AsyncConnection,
    prices: PriceCache,
    clock: MarketClock,
    account_id: uuid.UUID,
    now: datetime,
) -> PortfolioOut:
    account = await repository.get_account(conn, account_id)
    rows = await repository.get_positions(conn, account_id)
    last = await prices.get_many([r.symbol for r in rows])
    today = await _today(conn, clock, account_id, [r.symbol for r in rows], now)
    return valued(account.cash, account.reserved_cash, rows, last, today)


async def portfolio_pg(
    pg: Any,
    prices: PriceCache,
    clock: MarketClock,
    account_id: uuid.UUID,
    now: datetime,
) -> PortfolioOut:
    """`portfolio` on an asyncpg connection (GET /portfolio): three prepared statements at
    most, today's fills summed by PostgreSQL."""
    cash, reserved_cash, rows = await repository.account_and_positions(pg, account_id)
    symbols = [r.symbol for r in rows]
    last = await prices.get_many(symbols)
    session_open = clock.current_session(now).open.astimezone(UTC)
    days = await repository.newest_bars_pg(pg, symbols, "1d") if symbols else {}
    today = {s: _Today(open=bar.open) for s, bar in days.items() if bar.start_ts == session_open}
    if today:
        since = clock.wall_time(session_open)
        for f in await repository.fill_totals_since(pg, account_id, since):
            day = today.get(f.symbol)
            if day is None:
                continue
            if f.side == "buy":
                day.bought_qty += f.qty
                day.flow += f.notional
            else:
                day.sold_qty += f.qty
                day.flow -= f.notional
    return valued(cash, reserved_cash, rows, last, today)


def valued(
    cash: Decimal,
    reserved_cash: Decimal,
    rows: Sequence[Any],
    last: dict[str, PriceTick],
    today: dict[str, _Today],
) -> PortfolioOut:
    """The account valued at `last`: positions (symbol, qty, cost_basis, realized_pnl rows)."""
    held = [r for r in rows if r.qty != 0]
    realized = sum((r.realized_pnl for r in rows), ZERO)
    out: list[PositionOut] = []
    market_value_total = ZERO
    unrealized_total = ZERO
    change_total = ZERO
    qty_now: dict[str, int] = defaultdict(int, {r.symbol: r.qty for r in rows})
    for r in rows:
        # A position sold out today still made or lost money today.
        tick, day = last.get(r.symbol), today.get(r.symbol)
        if tick is not None and day is not None:
            change_total += day.change(qty_now[r.symbol], tick.price)
    for r in held:
        tick, day = last.get(r.symbol), today.get(r.symbol)
        avg_cost = r.cost_basis / r.qty
        if tick is None:
            # Without a price the position counts at cost, so equity does not jump to zero.
            market_value_total += r.cost_basis
            out.append(
                PositionOut(
                    symbol=r.symbol,
                    qty=r.qty,
                    avg_cost=avg_cost,
                    cost_basis=r.cost_basis,
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
                cost_basis=r.cost_basis,
                last_price=tick.price,
                market_value=value,
                unrealized_pnl=unrealized,
                unrealized_pnl_pct=_pct(unrealized, r.cost_basis),
                day_open=None if day is None else day.open,
                change_today=None if day is None else day.change(r.qty, tick.price),
                price_change_today_pct=None
                if day is None
                else _pct(tick.price - day.open, day.open),
            )
        )
    equity = round_money(cash + market_value_total)
    return PortfolioOut(
        cash=cash,
        reserved_cash=reserved_cash,
        buying_power=cash - reserved_cash,
        equity=equity,
        realized_pnl=realized,
        unrealized_pnl=unrealized_total,
        change_today=change_total,
        change_today_pct=_pct(change_total, equity - change_total),
        positions=out,
    )
