"""The house: the simulated market that quotes around the reference price."""

from __future__ import annotations

from dataclasses import dataclass, field

from trading_service.engine.core.model import Side

# Half the spread applied on each side: ref x (1 -/+ s/2) with s in basis points = s / 20_000.
_HALF_SPREAD_DENOMINATOR = 20_000
_BUY = Side.BUY
# A price key (see book.BookSide: price on the bid side, -price on the ask side) below every real
# one: "no price to trade at".
NO_KEY = -(1 << 62)


@dataclass(slots=True)
class HouseQuote:
    """The house's bid and ask (ticks) and the shares it still trades at them.

    A size of None means unlimited; a configured size is replenished on every new reference price.
    """

    reference: int
    bid: int
    ask: int
    bid_size: int | None
    ask_size: int | None
    # The house's price for a buyer as a key among the asks (-ask) and for a seller among the
    # bids (bid), NO_KEY once that side's size is used up: the matching loop compares these with
    # the book's best key without a call.
    buy_key: int = field(init=False)
    sell_key: int = field(init=False)

    def __post_init__(self) -> None:
        self._rekey()

    def _rekey(self) -> None:
        self.buy_key = NO_KEY if self.ask_size == 0 else -self.ask
        self.sell_key = NO_KEY if self.bid_size == 0 else self.bid

    @classmethod
    def around(cls, reference: int, spread_bps: int, size: int | None = None) -> HouseQuote:
        """Bid rounded down and ask rounded up to the tick, so the spread is never narrower."""
        bid = reference * (_HALF_SPREAD_DENOMINATOR - spread_bps) // _HALF_SPREAD_DENOMINATOR
        ask = -(-reference * (_HALF_SPREAD_DENOMINATOR + spread_bps) // _HALF_SPREAD_DENOMINATOR)
        # The house never buys at zero: a tiny reference price leaves it without a bid.
        return cls(reference, bid, ask, size if bid > 0 else 0, size)

    def price_for(self, side: Side) -> int | None:
        """The price at which the house trades with a user on `side`; None when it has no size."""
        if side is _BUY:
            return None if self.ask_size == 0 else self.ask
        return None if self.bid_size == 0 else self.bid

    def size_for(self, side: Side) -> int | None:
        """Shares the house still trades with a user on `side` (None: unlimited)."""
        return self.ask_size if side is _BUY else self.bid_size

    def take(self, side: Side, qty: int) -> int:
        """Trade up to `qty` with a user on `side`; returns the shares the house actually trades."""
        if side is _BUY:
            if self.ask_size is None:
                return qty
            qty = min(qty, self.ask_size)
            self.ask_size -= qty
            self._rekey()
            return qty
        if self.bid_size is None:
            return qty
        qty = min(qty, self.bid_size)
        self.bid_size -= qty
        self._rekey()
        return qty
