"""HTTP for the portfolio."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, cast

from fastapi import APIRouter, Query, Request

from shared.db import pg_connection
from shared.market_clock import MarketClock
from trading_service.deps import CurrentAccount, ResourcesDep
from trading_service.portfolio import history, service
from trading_service.portfolio.schemas import PortfolioHistoryOut, PortfolioOut

router = APIRouter(tags=["portfolio"])


def _clock(request: Request) -> MarketClock:
    """The one market clock, loaded in the lifespan (shared/market_epoch.py)."""
    return cast(MarketClock, request.app.state.clock)


@router.get(
    "/portfolio",
    summary="Your cash, positions and P&L",
    description="Cash includes reserved cash (held for open buy orders); buying power is what is "
    "free. Positions are valued at the latest reference price; equity = cash + market value. "
    "`change_today` is the P&L since the open of the current market session (GET /clock; the "
    "session's daily bar's open, as on the market watch), counting the session's buys from "
    "their fill price and its sells up to their price.",
)
async def get_portfolio(
    request: Request, account_id: CurrentAccount, resources: ResourcesDep
) -> PortfolioOut:
    async with pg_connection(resources.pg) as pg:
        return await service.portfolio_pg(
            pg, resources.prices, _clock(request), account_id, datetime.now(UTC)
        )


@router.get(
    "/portfolio/history",
    summary="Your equity over time",
    description="Alpaca's portfolio-history shape, on the market clock (GET /clock): one point "
    "per bar of `timeframe` over `period` in sessions (1D = the current session, 1W = 5, "
    "1M = 21) up to the bar forming now, none before the account existed or, after a reset "
    "(POST /accounts/{id}/reset), before the reset: it then starts at the starting cash and "
    "replays only the fills since. `timestamp` is each "
    "bar's start in market time (Unix seconds), as in GET /candles. Equity replays your fills "
    "(mapped to market time) against the candles' closes; amounts are exact decimal strings. "
    "At most 3,000 points (422 otherwise, e.g. 1M in 1Min bars).\n\n"
    "`curl -s 'localhost:8002/portfolio/history?period=1W&timeframe=1H' "
    '-H "Authorization: Bearer $TOKEN"`',
    responses={422: {"description": "Unknown period or timeframe, or too many points"}},
)
async def get_portfolio_history(
    request: Request,
    account_id: CurrentAccount,
    resources: ResourcesDep,
    period: Annotated[
        Literal["1D", "1W", "1M"], Query(description="How far back: 1, 5 or 21 sessions")
    ] = "1D",
    timeframe: Annotated[
        Literal["1Min", "5Min", "15Min", "1H", "1D"], Query(description="Length of each bar")
    ] = "5Min",
) -> PortfolioHistoryOut:
    async with resources.db.connect() as conn:
        return await history.history(
            conn,
            resources.prices,
            _clock(request),
            account_id,
            period,
            timeframe,
            datetime.now(UTC),
            resources.settings.starting_cash,
        )
