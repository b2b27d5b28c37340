"""The market: one walk per listing, the latest quote of each, and how ticks advance them."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from shared.errors import NotFound
from shared.market_clock import SESSION_S, MarketClock
from shared.money import TICK
from stock_service.market.random_walk import GeometricBrownianMotion, WalkState, trading_years
from stock_service.market.state import SavedState
from stock_service.market.universe import Listing

log = logging.getLogger(__name__)


def iso_millis(ts: datetime) -> str:
    """ISO-8601 UTC with milliseconds: 2026-01-02T14:30:00.125Z."""
    return ts.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Quote:
    """A reference price: `seq` counts the walk's steps, so a higher seq is always newer."""

    listing: Listing
    price: Decimal
    ts: datetime  # wall time
    seq: int
    market_ts: datetime  # the market clock's time at `ts`

    @property
    def symbol(self) -> str:
        return self.listing.symbol

    @property
    def change(self) -> Decimal:
        return self.price - self.listing.start_price

    @property
    def change_pct(self) -> Decimal:
        return (self.change * 100 / self.listing.start_price).quantize(TICK, ROUND_HALF_EVEN)


class Market:
    """Advances every walk with market time. No I/O: the feed publishes and persists.

    The walks step on a grid of the market clock: one step per `step_s` seconds of trading, so
    a tick advances each walk by as many steps as whole grid cells of market time passed since
    the last one (one, when ticks come on time; more after a stall), and the volatility a tick
    carries is the volatility of the market time it covers. Time the service was down is not
    replayed: the walks resume where they stopped.
    """

    def __init__(
        self,
        listings: Iterable[Listing],
        *,
        seed: int,
        clock: MarketClock,
        step_s: float,
        now: datetime,
        saved: SavedState | None = None,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.step_s = step_s  # market seconds per walk step
        dt = trading_years(step_s)
        # A stall longer than one session is caught up by one session's steps only.
        self._max_steps = max(1, int(SESSION_S // step_s))
        self._cell = self._grid_cell(now)
        market_now = clock.market_time(now)
        self._walks: dict[str, tuple[GeometricBrownianMotion, WalkState]] = {}
        self._quotes: dict[str, Quote] = {}
        listings = tuple(listings)
        listed = {listing.symbol for listing in listings}
        # Walks of symbols no longer listed are kept: if one is listed again, its seq resumes.
        self._unlisted = {
            s: w for s, w in (saved.walks.items() if saved else ()) if s not in listed
        }
        if saved is not None and saved.seed != seed:
            # The seq must not go back, so the walks resume; only their future shocks change.
            # Neither seed is logged: a secret one would let log readers predict prices.
            log.warning("resuming walks saved under another seed")
        for listing in listings:
            walk = GeometricBrownianMotion(
                seed, listing.symbol, listing.drift, listing.volatility, dt
            )
            state = saved.walks.get(listing.symbol) if saved is not None else None
            if state is None:
                state = walk.start(listing.start_price)
            elif saved is not None and not saved.clean:
                # Steps after the last save may have been published before a crash: skip past them
                # along the same path so no seq is published twice.
                state = walk.advance(state, saved.reserve)
            self._walks[listing.symbol] = (walk, state)
            self._quotes[listing.symbol] = Quote(listing, state.price, now, state.seq, market_now)

    def _grid_cell(self, wall: datetime) -> int:
        return math.floor(self.clock.trading_seconds(wall) / self.step_s)

    def next_tick_at(self) -> datetime:
        """The wall instant the next grid cell begins: when the next tick is due."""
        return self.clock.epoch + timedelta(
            seconds=(self._cell + 1) * self.step_s / self.clock.time_scale
        )

    def tick(self, now: datetime) -> list[Quote]:
        """Step every walk through the market time since the last tick; the new quotes, in
        listing order (none when no whole step of market time has passed)."""
        cell = self._grid_cell(now)
        steps = min(cell - self._cell, self._max_steps)
        if steps <= 0:
            return []
        self._cell = cell
        market_now = self.clock.market_time(now)
        quotes = []
        for symbol, (walk, state) in self._walks.items():
            state = walk.advance(state, steps)
            self._walks[symbol] = (walk, state)
            quote = Quote(self._quotes[symbol].listing, state.price, now, state.seq, market_now)
            self._quotes[symbol] = quote
            quotes.append(quote)
        return quotes

    def quotes(self) -> list[Quote]:
        return list(self._quotes.values())

    def quote(self, symbol: str) -> Quote:
        quote = self._quotes.get(symbol.strip().upper())
        if quote is None:
            raise NotFound(f"no listed symbol {symbol!r}")
        return quote

    def snapshot(self, *, clean: bool, reserve: int) -> SavedState:
        walks = dict(self._unlisted)
        walks.update((symbol, state) for symbol, (_, state) in self._walks.items())
        return SavedState(seed=self.seed, clean=clean, reserve=reserve, walks=walks)
