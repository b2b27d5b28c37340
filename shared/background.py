"""A service's background tasks: stopped at shutdown in bounded time, whatever a library does
with their cancellation.

A task's loop that catches `Exception` to carry on after an outage (the price consumer, the
outbox sweep, the storage sampler) loses its cancellation when a library turns the
CancelledError it received mid-call into an error of its own: the loop goes round again, and a
shutdown that awaits it waits for ever (seen: the trading API's storage sampler cancelled
inside its PostgreSQL read kept the lifespan from ending). Two remedies, each enough alone in
the case seen: such a loop calls `raise_if_cancelled` where it catches `Exception`, and the
shutdown (`stop_tasks`) cancels again a task still running a while after its cancellation
(longer than any cleanup of ours takes), and logs and leaves one still running after the grace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

log = logging.getLogger(__name__)


def raise_if_cancelled() -> None:
    """In a background loop's `except Exception`: a cancellation that a library turned into an
    error of its own is still this task's cancellation (Python keeps the request counted)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


# What a task gets, after its first cancellation, to clean up (close its Kafka consumer, ...).
CLEANUP_S = 2.0
# Then, between two more cancellations of a task that goes on.
RECANCEL_EVERY_S = 0.2


async def stop_tasks(tasks: Collection[asyncio.Task[None]], grace_s: float = 10.0) -> None:
    """Cancel `tasks` and wait until they end, cancelling again any that goes on past its
    cleanup; after `grace_s`, log those still running and return."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    running = {task for task in tasks if not task.done()}
    wait_s = CLEANUP_S
    while running:
        for task in running:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.error(
                "background tasks still running %.0f s after their cancellation: %s",
                grace_s,
                ", ".join(sorted(task.get_name() for task in running)),
            )
            return
        _, running = await asyncio.wait(running, timeout=min(wait_s, remaining))
        if running:
            log.warning(
                "cancelled again (the first cancellation was lost or its cleanup is slow): %s",
                ", ".join(sorted(task.get_name() for task in running)),
            )
        wait_s = RECANCEL_EVERY_S
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s had failed", task.get_name(), exc_info=task.exception())
