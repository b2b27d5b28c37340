"""Fewer, cheaper collections of reference cycles, for a process that is one of our servers.

A server builds many short-lived container objects per unit of work (an engine batch's records,
rows and events; a request's scope, body model, futures and answer) and with CPython's default
thresholds enough of them are alive at a collection to reach the oldest generation, whose full
collections then scan everything the process holds: every import, every resting order, every
cached token. Measured with py-spy and bench.order_path: a fifth of the engine's CPU, and in the
trading API pauses that set a waiting order's p99 (`/trade/buy`: 470 ms at 1 worker, 87 ms
with this). Nearly all of those objects are freed by reference counting when the work ends;
cycles (exceptions, asyncio internals) are still collected, less often. What the process holds
once started is frozen out of the scans for good.

Only where the whole process is the server's: the engine's `__main__`, the trading API's served
app. A process that embeds them (the tests) keeps its own settings.
"""

from __future__ import annotations

import gc

# A young collection every 50,000 net allocations, a full one after 50 x 100 of them.
THRESHOLDS = (50_000, 50, 100)


def quiet_garbage_collector() -> None:
    """Freeze what the process holds now; collect cycles less often from here on."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
