"""Channel names a client may subscribe to, normalized (symbols upper case)."""

from __future__ import annotations

import re
import uuid

INTERVALS: dict[str, int] = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "1d": 86400}
PRIVATE = frozenset({"orders", "portfolio"})
_SYMBOL = re.compile(r"^[A-Z0-9.\-]{1,10}$")
_PER_SYMBOL = frozenset({"prices", "quotes", "trades", "book"})


class BadChannel(ValueError):
    pass


def _symbol(raw: str, name: str) -> str:
    symbol = raw.upper()
    if not _SYMBOL.match(symbol):
        raise BadChannel(f"bad symbol in channel {name!r}")
    return symbol


def parse_channel(name: object) -> str:
    """The channel's canonical name; raises BadChannel for anything we do not serve."""
    if not isinstance(name, str) or len(name) > 40:
        raise BadChannel(f"unknown channel {name!r}")
    if name in ("prices", "orders", "portfolio"):
        return name
    kind, _, rest = name.partition(":")
    if kind in _PER_SYMBOL and rest:
        return f"{kind}:{_symbol(rest, name)}"
    if kind == "candles":
        symbol, _, interval = rest.partition(":")
        if interval not in INTERVALS:
            raise BadChannel(f"candle interval must be one of {', '.join(INTERVALS)}")
        return f"candles:{_symbol(symbol, name)}:{interval}"
    raise BadChannel(
        f"unknown channel {name!r}; try prices, prices:SYM, quotes:SYM, trades:SYM, book:SYM, "
        "candles:SYM:1m, orders, portfolio"
    )


def route_key(channel: str, account_id: uuid.UUID | None) -> str:
    """The hub's key: private channels are per account, public ones shared."""
    return f"{channel}:{account_id}" if channel in PRIVATE else channel
