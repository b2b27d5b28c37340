"""HTTP for the portfolio."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from trading_service.deps import CurrentAccount, ResourcesDep
from trading_service.portfolio import history, service
from trading_service.portfolio.schemas import PortfolioHistoryOut, PortfolioOut

router = APIRouter(tags=["portfolio"])


@router.get(
    "/portfolio",
    summary="Your cash, positions and P&L",
    description="Cash includes reserved cash (held for open buy orders); buying power is what is "
    "free. Positions are valued at the latest reference price; equity = cash + market value. "
    "`change_today` is the P&L since the day's open (the daily bar's open, as on the market "
    "watch), counting today's buys from their fill price and today's sells up to their price.",
)
async def get_portfolio(account_id: CurrentAccount, resources: ResourcesDep) -> PortfolioOut:
    async with resources.db.connect() as conn:
        return await service.portfolio(conn, resources.prices, account_id)


@router.get(
    "/portfolio/history",
    summary="Your equity over time",
    description="Alpaca's portfolio-history shape: one point per bar of `timeframe` over "
    "`period` (1D = 24 h, 1W = 7 days, 1M = 30 days) up to the bar forming now, none before "
    "the account existed. Equity replays your fills against the candles' closes; amounts are "
    "exact decimal strings. At most 3,000 points (422 otherwise, e.g. 1M in 1Min bars).\n\n"
    "`curl -s 'localhost:8002/portfolio/history?period=1W&timeframe=1H' "
    '-H "Authorization: Bearer $TOKEN"`',
    responses={422: {"description": "Unknown period or timeframe, or too many points"}},
)
async def get_portfolio_history(
    account_id: CurrentAccount,
    resources: ResourcesDep,
    period: Annotated[
        Literal["1D", "1W", "1M"], Query(description="How far back: a day, a week, 30 days")
    ] = "1D",
    timeframe: Annotated[
        Literal["1Min", "5Min", "15Min", "1H", "1D"], Query(description="Length of each bar")
    ] = "5Min",
) -> PortfolioHistoryOut:
    async with resources.db.connect() as conn:
        return await history.history(
            conn, resources.prices, account_id, period, timeframe, datetime.now(UTC)
        )
