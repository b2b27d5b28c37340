"""HTTP for the portfolio."""

from __future__ import annotations

from fastapi import APIRouter

from trading_service.deps import CurrentAccount, ResourcesDep
from trading_service.portfolio import service
from trading_service.portfolio.schemas import PortfolioOut

router = APIRouter(tags=["portfolio"])


@router.get(
    "/portfolio",
    summary="Your cash, positions and P&L",
    description="Cash includes reserved cash (held for open buy orders); buying power is what is "
    "free. Positions are valued at the latest reference price; equity = cash + market value.",
)
async def get_portfolio(account_id: CurrentAccount, resources: ResourcesDep) -> PortfolioOut:
    async with resources.db.connect() as conn:
        return await service.portfolio(conn, resources.prices, account_id)
