"""Book snapshots: built by the engine after each commit, kept in Redis, served by the API.

Here, outside both the API's and the engine's folders: the engine writes them (engine/notify.py),
the API reads them (market/snapshots.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.money import from_ticks
from trading_service.engine.core.matching import MatchingEngine

BOOKS_KEY = "stocksim:books"
SNAPSHOT_DEPTH = 50


def book_channel(symbol: str) -> str:
    return f"book:{symbol}"


def _price(ticks: int | None) -> str | None:
    return None if ticks is None else f"{from_ticks(ticks):.2f}"


def book_snapshot(core: MatchingEngine, symbol: str, depth: int = SNAPSHOT_DEPTH) -> dict[str, Any]:
    """User levels aggregated best first, with the house quote as a level of its own."""
    bids, asks = core.book(symbol).depth(depth)
    house = core.house(symbol)

    def side(
        levels: list[tuple[int, int, int]],
        house_price: int | None,
        house_size: int | None,
        better: int,
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {"price": _price(p), "qty": q, "orders": n, "house": False} for p, q, n in levels
        ]
        if house_price is not None and house_size != 0:
            # Users keep priority at an equal price, so the house level goes after theirs.
            at = next(
                (i for i, (p, _, _) in enumerate(levels) if (p - house_price) * better < 0),
                len(levels),
            )
            rows.insert(
                at, {"price": _price(house_price), "qty": house_size, "orders": 0, "house": True}
            )
        return rows[:depth]

    quote = core.quote(symbol)
    return {
        "symbol": symbol,
        "reference": _price(core.reference(symbol)),
        "bids": side(bids, house.bid if house else None, house.bid_size if house else None, 1),
        "asks": side(asks, house.ask if house else None, house.ask_size if house else None, -1),
        "quote": {
            "bid": _price(quote.bid),
            "bid_size": quote.bid_size,
            "ask": _price(quote.ask),
            "ask_size": quote.ask_size,
        },
        "ts": datetime.now(UTC).isoformat(),
    }
