"""Ranks users by total equity, valued exactly like GET /portfolio."""

from __future__ import annotations

import uuid
from collections import defaultdict
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.money import round_money
from trading_service.leaderboard import repository
from trading_service.leaderboard.schemas import LeaderOut
from trading_service.prices.cache import PriceCache


async def leaderboard(conn: AsyncConnection, prices: PriceCache, limit: int) -> list[LeaderOut]:
    last = {tick.symbol: tick.price for tick in await prices.all()}
    value: dict[uuid.UUID, Decimal] = defaultdict(Decimal)
    held: dict[uuid.UUID, int] = defaultdict(int)
    for h in await repository.holdings(conn):
        price = last.get(h.symbol)
        # Without a price a position counts at cost, as in the portfolio.
        value[h.account_id] += h.cost_basis if price is None else price * h.qty
        held[h.account_id] += 1
    ranked = []
    for a in await repository.accounts_with_names(conn):
        equity = round_money(a.cash + value[a.id])
        # An account without a user row (deleted, or made outside the user service) still gets a
        # name a person can read: never a raw id.
        name = a.username or f"trader-{a.id.hex[:8]}"
        ranked.append((equity, name, a, held[a.id]))
    ranked.sort(key=lambda r: (-r[0], r[1]))
    return [
        LeaderOut(
            rank=i,
            name=name,
            equity=equity,
            return_pct=LeaderOut.pct(equity, a.granted_cash),
            positions=n,
        )
        for i, (equity, name, a, n) in enumerate(ranked[:limit], start=1)
    ]
