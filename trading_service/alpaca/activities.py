"""Account activities (fills) and portfolio history in Alpaca's shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.errors import UnprocessableEntity
from shared.market_clock import MarketClock
from shared.money import fmt
from trading_service.alpaca import repository
from trading_service.alpaca.schemas import FillActivityOut
from trading_service.deps import Resources
from trading_service.portfolio import history
from trading_service.portfolio.schemas import PortfolioHistoryOut


async def fills(
    resources: Resources,
    account_id: uuid.UUID,
    after: datetime | None,
    until: datetime | None,
    ascending: bool,
    limit: int,
) -> list[FillActivityOut]:
    async with resources.db.connect() as conn:
        rows = await repository.list_fills(
            conn, account_id, after=after, until=until, ascending=ascending, limit=limit
        )
    return [
        FillActivityOut(
            # Alpaca's activity ids sort by time; ours: the fill's time and its sequence number.
            id=f"{r.ts.astimezone(UTC):%Y%m%d%H%M%S%f}::{r.id}",
            transaction_time=r.ts,
            type="fill" if r.cum_qty == r.order_qty else "partial_fill",
            price=fmt(r.price),
            qty=str(r.qty),
            side=r.side,
            symbol=r.symbol,
            leaves_qty=str(r.order_qty - r.cum_qty),
            order_id=r.order_id,
            cum_qty=str(r.cum_qty),
            order_status=r.order_status,
        )
        for r in rows
    ]


async def portfolio_history(
    resources: Resources,
    clock: MarketClock,
    account_id: uuid.UUID,
    period: str | None,
    timeframe: str | None,
) -> PortfolioHistoryOut:
    """The same history as GET /portfolio/history (trading_service/portfolio/history.py)."""
    period = period or "1D"
    timeframe = timeframe or ("1D" if period != "1D" else "5Min")
    if period not in history.PERIODS:
        raise UnprocessableEntity(f"period must be one of {', '.join(history.PERIODS)}")
    async with resources.db.connect() as conn:
        return await history.history(
            conn,
            resources.prices,
            clock,
            account_id,
            period,
            timeframe,
            datetime.now(UTC),
            resources.settings.starting_cash,
        )
