"""Three kinds of simulated trader, paced together.

- random: any order type and time in force, near the reference price; cancels and replaces
  some of its resting orders.
- momentum: follows the price trend: buys at market into a rise, sells into a fall, protects its
  holdings with stops.
- maker: quotes both sides of one symbol just inside the house spread with resting limit
  orders, and moves (replaces) or cancels its quotes as the reference price moves.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections import deque
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from loadgen.exchange import Account, Exchange

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
KINDS = ("random", "momentum", "maker")


def price_at(ref: Decimal, bps: float) -> str:
    """`ref` moved by `bps` basis points, on the 0.01 tick, as the API takes it."""
    moved = ref * (1 + Decimal(str(round(bps, 2))) / 10_000)
    return str(max(moved.quantize(CENT, ROUND_HALF_UP), CENT))


class Pacer:
    """Decides when traders act: at most `rate` actions/s in all, `budget` new orders in all,
    until `duration_s` has passed, or until stopped."""

    def __init__(
        self, rate: float = 0, budget: int | None = None, duration_s: float | None = None
    ) -> None:
        self.rate = rate
        self.budget = budget
        self.duration_s = duration_s
        self.actions = 0
        self.orders = 0
        self.stopped = asyncio.Event()
        self.start()

    def start(self) -> None:
        """Start the clock (rate and duration count from here, not from sign-up)."""
        self.started = time.monotonic()
        self.deadline = None if self.duration_s is None else self.started + self.duration_s

    def done(self) -> bool:
        return (
            self.stopped.is_set()
            or (self.budget is not None and self.orders >= self.budget)
            or (self.deadline is not None and time.monotonic() >= self.deadline)
        )

    async def next_action(self) -> bool:
        if self.done():
            return False
        self.actions += 1
        if self.rate > 0:
            delay = self.started + self.actions / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return not self.done()

    def take_order(self) -> bool:
        """The right to send one new order; False once the budget is spent."""
        if self.budget is not None and self.orders >= self.budget:
            return False
        self.orders += 1
        return True


class MarketView:
    """Reference prices of every symbol, polled from GET /prices, with a short history."""

    def __init__(self, exchange: Exchange, history: int = 20) -> None:
        self.exchange = exchange
        self.prices: dict[str, Decimal] = {}
        self.history: dict[str, deque[Decimal]] = {}
        self.size = history

    async def refresh(self) -> None:
        for symbol, price in (await self.exchange.prices()).items():
            seen = self.history.setdefault(symbol, deque(maxlen=self.size))
            if not seen or seen[-1] != price:
                seen.append(price)
            self.prices[symbol] = price

    async def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.prices:
            if time.monotonic() > deadline:
                raise RuntimeError("the trading service has no prices: is the stock service up?")
            await self.refresh()
            await asyncio.sleep(0.2)

    async def run(self, interval_s: float = 0.5) -> None:
        while True:
            await asyncio.sleep(interval_s)
            await self.refresh()

    def trend_bps(self, symbol: str, points: int = 5) -> float:
        seen = list(self.history.get(symbol, ()))[-points:]
        if len(seen) < 2:
            return 0.0
        return float((seen[-1] - seen[0]) / seen[0] * 10_000)


class Trader:
    kind = "trader"

    def __init__(
        self,
        account: Account,
        exchange: Exchange,
        market: MarketView,
        pacer: Pacer,
        rng: random.Random,
        run_id: str,
    ) -> None:
        self.account = account
        self.exchange = exchange
        self.market = market
        self.pacer = pacer
        self.rng = rng
        self.ids = (f"{run_id}-{n}" for n in itertools.count())
        self.resting: dict[str, dict[str, Any]] = {}  # orders that may still be open
        self.holdings: dict[str, int] = {}
        self.sent = 0

    async def run(self) -> None:
        refresh_at = 0
        while await self.pacer.next_action():
            if self.sent >= refresh_at:  # every 25 orders: what it holds, to size its sells
                await self.refresh_holdings()
                refresh_at = self.sent + 25
            try:
                await self.act()
            except Exception:  # a bot's bug must not stop the others: count it and go on
                log.exception("%s trader %s failed", self.kind, self.account.username)
                self.exchange.stats.record("bot", "exception", None)
                await asyncio.sleep(1)

    async def act(self) -> None:
        raise NotImplementedError

    async def refresh_holdings(self) -> None:
        portfolio = await self.exchange.portfolio(self.account)
        if portfolio is not None:
            self.holdings = {p["symbol"]: p["qty"] for p in portfolio["positions"]}

    async def place(self, order: dict[str, Any]) -> dict[str, Any] | None:
        if not self.pacer.take_order():
            return None
        order["client_order_id"] = next(self.ids)
        self.sent += 1
        placed = await self.exchange.place(self.account, order)
        if placed is None:
            return None
        if order.get("type", "market") != "market" and order.get("time_in_force") not in (
            "ioc",
            "fok",
        ):
            self.resting[placed["id"]] = placed
        if order["side"] == "sell":
            self.holdings[order["symbol"]] = self.holdings.get(order["symbol"], 0) - order["qty"]
        return placed

    async def cancel(self, order_id: str) -> dict[str, Any] | None:
        self.resting.pop(order_id, None)
        return await self.exchange.cancel(self.account, order_id)

    async def replace(self, order_id: str, change: dict[str, Any]) -> dict[str, Any] | None:
        replaced = await self.exchange.replace(self.account, order_id, change)
        if replaced is None or replaced["status"] not in ("new", "partially_filled"):
            self.resting.pop(order_id, None)  # it filled or ended meanwhile
        else:
            self.resting[order_id] = replaced
        return replaced

    def sell_qty(self, symbol: str, most: int) -> int:
        return min(most, self.holdings.get(symbol, 0))


class RandomTrader(Trader):
    kind = "random"

    async def act(self) -> None:
        roll = self.rng.random()
        if self.resting and (roll < 0.12 or len(self.resting) > 8):
            await self.cancel(self.rng.choice(list(self.resting)))
        elif self.resting and roll < 0.24:
            order_id = self.rng.choice(list(self.resting))
            await self.replace(order_id, self._change(self.resting[order_id]))
        await self.place(self._new_order())

    def _change(self, order: dict[str, Any]) -> dict[str, Any]:
        ref = self.market.prices[order["symbol"]]
        if self.rng.random() < 0.3:
            return {"qty": order["filled_qty"] + self.rng.randint(1, 10)}
        if order["type"] == "stop":
            side = 1 if order["side"] == "buy" else -1
            return {"stop_price": price_at(ref, side * self.rng.uniform(50, 300))}
        return {"limit_price": price_at(ref, self.rng.uniform(-100, 100))}

    def _new_order(self) -> dict[str, Any]:
        symbol = self.rng.choice(list(self.market.prices))
        ref = self.market.prices[symbol]
        side = "sell" if self.sell_qty(symbol, 1) and self.rng.random() < 0.5 else "buy"
        qty = self.rng.randint(1, 10) if side == "buy" else self.sell_qty(symbol, 10)
        sign = 1 if side == "buy" else -1
        kind = self.rng.choices(["market", "limit", "stop", "stop_limit"], [3, 4, 1.5, 1.5])[0]
        order: dict[str, Any] = {"symbol": symbol, "qty": qty, "side": side, "type": kind}
        if kind == "limit":
            order["limit_price"] = price_at(ref, self.rng.uniform(-100, 100))
            order["time_in_force"] = self.rng.choice(["day", "gtc", "ioc", "fok"])
        elif kind in ("stop", "stop_limit"):
            stop = price_at(ref, sign * self.rng.uniform(20, 200))
            order["stop_price"] = stop
            order["time_in_force"] = self.rng.choice(["day", "gtc"])
            if kind == "stop_limit":
                order["limit_price"] = price_at(Decimal(stop), sign * 50)
        return order


class MomentumTrader(Trader):
    kind = "momentum"

    async def act(self) -> None:
        symbol = self.rng.choice(list(self.market.prices))
        ref = self.market.prices[symbol]
        trend = self.market.trend_bps(symbol)
        held = self.sell_qty(symbol, 5)
        if trend > 2:
            await self.place({"symbol": symbol, "qty": self.rng.randint(1, 5), "side": "buy"})
        elif trend < -2 and held:
            await self.place({"symbol": symbol, "qty": held, "side": "sell"})
        elif held and self.rng.random() < 0.5:
            # Protect what it holds: a stop below the market (moved up as the price rises).
            stops = [o for o in self.resting.values() if o["symbol"] == symbol]
            if stops:
                await self.replace(stops[0]["id"], {"stop_price": price_at(ref, -150)})
            else:
                await self.place(
                    {"symbol": symbol, "qty": held, "side": "sell", "type": "stop",
                     "stop_price": price_at(ref, -150), "time_in_force": "gtc"}
                )  # fmt: skip
        else:
            # Flat: try to catch the start of a move with an immediate-or-cancel buy at the touch.
            await self.place(
                {"symbol": symbol, "qty": self.rng.randint(1, 5), "side": "buy", "type": "limit",
                 "limit_price": price_at(ref, 5), "time_in_force": "ioc"}
            )  # fmt: skip


class MarketMaker(Trader):
    """Quotes one symbol: a bid and an ask, each `half_spread_bps` from the reference price."""

    kind = "maker"
    half_spread_bps = 3.0  # inside the house's (ENGINE_SPREAD_BPS / 2 = 5 bps by default)
    requote_bps = 2.0

    def __init__(self, *args: Any, symbol_index: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        symbols = sorted(self.market.prices)
        self.symbol = symbols[symbol_index % len(symbols)]
        self.quotes: dict[str, dict[str, Any]] = {}  # side -> its resting quote
        self.side = "buy"

    async def act(self) -> None:
        self.side = "sell" if self.side == "buy" else "buy"
        ref = self.market.prices[self.symbol]
        sign = -1 if self.side == "buy" else 1
        target = price_at(ref, sign * self.half_spread_bps)
        quote = self.quotes.get(self.side)
        if quote is not None and quote["id"] not in self.resting:
            del self.quotes[self.side]  # it filled or was canceled
            quote = None
        if quote is None:
            await self._quote(ref, target)
            return
        moved_bps = abs(Decimal(quote["limit_price"]) - Decimal(target)) / ref * 10_000
        if moved_bps < self.requote_bps:
            await asyncio.sleep(0.2)  # nothing to do; do not spin
            return
        if self.rng.random() < 0.7:
            replaced = await self.replace(quote["id"], {"limit_price": target})
            if replaced is not None and quote["id"] in self.resting:
                self.quotes[self.side] = replaced
                return
        else:
            await self.cancel(quote["id"])
        self.quotes.pop(self.side, None)
        await self._quote(ref, target)

    async def _quote(self, ref: Decimal, price: str) -> None:
        qty = self.rng.randint(5, 20)
        if self.side == "sell" and self.sell_qty(self.symbol, qty) < qty:
            # Inventory to sell from: buy it at market first.
            await self.place({"symbol": self.symbol, "qty": 3 * qty, "side": "buy"})
            self.holdings[self.symbol] = self.holdings.get(self.symbol, 0) + 3 * qty
            return
        placed = await self.place(
            {"symbol": self.symbol, "qty": qty, "side": self.side, "type": "limit",
             "limit_price": price, "time_in_force": "gtc"}
        )  # fmt: skip
        if placed is not None:
            self.quotes[self.side] = placed


def make_traders(
    kinds: list[str],
    accounts: list[Account],
    exchange: Exchange,
    market: MarketView,
    pacer: Pacer,
    seed: int,
    run_id: str,
) -> list[Trader]:
    traders: list[Trader] = []
    makers = 0
    for n, (kind, account) in enumerate(zip(kinds, accounts, strict=True)):
        rng = random.Random(seed * 100_003 + n)
        args = (account, exchange, market, pacer, rng, f"{run_id}-{n}")
        if kind == "maker":
            traders.append(MarketMaker(*args, symbol_index=makers))
            makers += 1
        elif kind == "momentum":
            traders.append(MomentumTrader(*args))
        else:
            traders.append(RandomTrader(*args))
    return traders


def kinds_for(count: int, mix: tuple[int, int, int]) -> list[str]:
    """`count` trader kinds in the proportions random:momentum:maker, interleaved (so a few
    traders already include every kind the mix asks for)."""
    total = sum(mix)
    if total <= 0:
        raise ValueError("the mix needs at least one trader kind")
    assigned = [0] * len(KINDS)
    kinds = []
    for n in range(1, count + 1):
        behind = max(range(len(KINDS)), key=lambda k: mix[k] * n / total - assigned[k])
        assigned[behind] += 1
        kinds.append(KINDS[behind])
    return kinds


async def trade(traders: list[Trader], market: MarketView) -> None:
    """Run every trader until the pacer says stop."""
    poller = asyncio.create_task(market.run())
    try:
        await asyncio.gather(*(t.run() for t in traders))
    finally:
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
