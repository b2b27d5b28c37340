"""HTTP for candles (no token needed)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request

from trading_service.candles.aggregator import CandleAggregator
from trading_service.candles.schemas import CandleOut, UtcDatetime
from trading_service.orders.schemas import SYMBOL_PATTERN

router = APIRouter(tags=["market data"])


def _aggregator(request: Request) -> CandleAggregator:
    aggregator: CandleAggregator = request.app.state.candles
    return aggregator


@router.get(
    "/candles/{symbol}",
    summary="OHLCV bars",
    description="Bars oldest first: OHLC from the reference-price ticks, volume from trades. "
    "The last bar may still be forming (it is pushed live on `candles:SYMBOL:INTERVAL` over "
    "the WebSocket). Bars without any tick are absent, not zero. Times are market time (see "
    "`GET /clock`): a 1d bar is one trading day's session (09:30-16:00 at UTC-05:00), intraday "
    "bars are whole minutes and hours of market time. Before the market's first day the bars "
    "are its generated history (the same seeded model): at least a year of daily bars and the "
    "last days of 1m-1h bars, ending where the live prices start.",
)
async def get_candles(
    request: Request,
    symbol: Annotated[
        str,
        Path(max_length=10, pattern=SYMBOL_PATTERN, description="Ticker symbol", examples=["AAPL"]),
    ],
    interval: Annotated[
        Literal["1m", "5m", "15m", "1h", "1d"], Query(description="Bar length")
    ] = "1m",
    limit: Annotated[int, Query(ge=1, le=1000, description="Bars to return")] = 100,
    end: Annotated[
        UtcDatetime | None,
        Query(
            description="Only bars starting before this market time (ISO 8601; default: now)",
            examples=["2026-11-02T15:30:00Z"],
        ),
    ] = None,
) -> list[CandleOut]:
    bars = await _aggregator(request).history(symbol.upper(), interval, end, limit)
    return [
        CandleOut(
            start=b.start,
            end=b.end,
            open=b.open,
            high=b.high,
            low=b.low,
            close=b.close,
            volume=b.volume,
        )
        for b in bars
    ]
