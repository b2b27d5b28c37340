"""What PostgreSQL's sessions wait for while the traders trade: sampled from pg_stat_activity.

Every `every_s` the soak reads what each client session is doing, by its application_name
(stocksim-trading-orders: order entry's group commit; stocksim-trading-reads: cancels, replaces,
the portfolio and waiting orders' answers; unnamed: the engine's, among others): working,
waiting for a row lock, on the WAL (commit's fsync), or idle in a transaction, i.e. waiting for
its own process to send the next statement while it holds its locks. The report gives the mean
number of sessions in each state at once: locks held by a busy process's transactions are what
makes the others (the engine's batch first) wait.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]

_STATES = """
SELECT coalesce(nullif(application_name, ''), 'unnamed') AS app,
       CASE WHEN state LIKE 'idle in transaction%' THEN 'idle in transaction'
            WHEN wait_event_type = 'Lock' THEN 'row lock'
            WHEN wait_event_type IN ('IO', 'LWLock') THEN 'wal/io'
            ELSE 'working' END AS what,
       count(*) AS n
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'
GROUP BY 1, 2
"""

# The order the states are shown in.
WHATS = ("working", "wal/io", "row lock", "idle in transaction")


class PgSessions:
    """Counts of (application, state) over the samples taken."""

    def __init__(self) -> None:
        self.totals: Counter[tuple[str, str]] = Counter()
        self.samples = 0
        self.failed = 0

    def add(self, rows: list[tuple[str, str, int]]) -> None:
        """One sample: (application, state, sessions) for each pair seen in it."""
        self.samples += 1
        for app, what, n in rows:
            self.totals[(app, what)] += n

    def report(self) -> str:
        if not self.samples:
            return "PostgreSQL sessions: not sampled"
        lines = [
            f"PostgreSQL sessions at once, mean of {self.samples:,} samples "
            "(idle in transaction: holding its locks, waiting for its own process):"
        ]
        for app in sorted({app for app, _ in self.totals}):
            states = ", ".join(
                f"{what} {self.totals[(app, what)] / self.samples:.2f}"
                for what in WHATS
                if self.totals[(app, what)]
            )
            lines.append(f"  {app}: {states}")
        return "\n".join(lines)


@contextlib.asynccontextmanager
async def sampling(database_url: str, every_s: float = 0.2) -> AsyncIterator[PgSessions]:
    """Samples the sessions until the block ends; a sample that fails (PostgreSQL restarting)
    is counted as failed and sampling goes on."""
    sessions = PgSessions()
    url = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    conn = await asyncpg.connect(url, server_settings={"application_name": "loadgen-sampler"})

    async def run() -> None:
        while True:
            try:
                rows = await conn.fetch(_STATES)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                sessions.failed += 1
            else:
                sessions.add([(r["app"], r["what"], r["n"]) for r in rows])
            await asyncio.sleep(every_s)

    task = asyncio.create_task(run())
    try:
        yield sessions
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        with contextlib.suppress(Exception):
            await conn.close(timeout=2)
