"""Seeded geometric Brownian motion, one path per symbol. Pure: no I/O, no clock, no global RNG.

The shock of step n is a function of (seed, symbol, n) only, so a walk resumed from a saved
(seq, log price) continues on exactly the path it would have followed without the restart.
Floats are fine here (this is a model); the published price is an exact Decimal on the tick.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from shared.money import MAX_PRICE, TICK

# 252 sessions of 6.5 hours: the calendar the annual drift and volatility are quoted in.
SECONDS_PER_TRADING_YEAR = 252 * 6.5 * 3600
_LOG_MAX_PRICE = math.log(MAX_PRICE)
_TWO_POW_53 = float(1 << 53)


def trading_years(seconds: float) -> float:
    return seconds / SECONDS_PER_TRADING_YEAR


def standard_normal(seed: int, symbol: str, step: int) -> float:
    """A N(0, 1) draw fixed by (seed, symbol, step): counter-based, so any step is reachable."""
    digest = hashlib.blake2b(
        f"{seed}\x1f{symbol}\x1f{step}".encode(), digest_size=16, person=b"stocksim-gbm"
    ).digest()
    # Two 53-bit uniforms; u1 in (0, 1] keeps log(u1) finite.
    u1 = ((int.from_bytes(digest[:8], "big") >> 11) + 1) / _TWO_POW_53
    u2 = (int.from_bytes(digest[8:], "big") >> 11) / _TWO_POW_53
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)  # Box-Muller


def published_price(log_price: float) -> Decimal:
    """The model price as money: exact, on the 0.01 tick, within [0.01, MAX_PRICE]."""
    if log_price >= _LOG_MAX_PRICE:
        return MAX_PRICE.quantize(TICK)
    price = Decimal(math.exp(log_price)).quantize(TICK, rounding=ROUND_HALF_EVEN)
    return max(price, TICK)


@dataclass(frozen=True, slots=True)
class WalkState:
    """Where a walk stands: `seq` steps taken, at `log_price` (natural log of the model price)."""

    seq: int
    log_price: float

    @property
    def price(self) -> Decimal:
        return published_price(self.log_price)


@dataclass(frozen=True, slots=True)
class GeometricBrownianMotion:
    """log S(n+1) = log S(n) + (mu - sigma^2 / 2) dt + sigma sqrt(dt) Z(seed, symbol, n + 1)."""

    seed: int
    symbol: str
    drift: float  # mu, per trading year
    volatility: float  # sigma, per square root of a trading year
    dt: float  # one step, in trading years

    def start(self, price: Decimal) -> WalkState:
        return WalkState(seq=0, log_price=math.log(float(price)))

    def step(self, state: WalkState) -> WalkState:
        seq = state.seq + 1
        shock = standard_normal(self.seed, self.symbol, seq)
        log_return = (self.drift - self.volatility**2 / 2) * self.dt + self.volatility * math.sqrt(
            self.dt
        ) * shock
        return WalkState(seq=seq, log_price=state.log_price + log_return)

    def advance(self, state: WalkState, steps: int) -> WalkState:
        for _ in range(steps):
            state = self.step(state)
        return state
