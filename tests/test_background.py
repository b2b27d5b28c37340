"""shared/background: a loop that checks `raise_if_cancelled` ends at its first cancellation even
when a library turned it into its own error; `stop_tasks` ends such a loop that does not check,
leaves a task's own cleanup its time, and logs what it could not stop. Pure asyncio, no I/O."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from shared import background
from shared.background import raise_if_cancelled, stop_tasks


class LibraryError(Exception):
    """What a library may raise instead of the CancelledError it received mid-call."""


async def converted_call(entered: asyncio.Event) -> None:
    entered.set()
    try:
        await asyncio.sleep(0.05)  # a read
    except asyncio.CancelledError:
        raise LibraryError("connection closed") from None


async def loop_that_carries_on(
    entered: asyncio.Event, rounds: list[int], checks: bool = False
) -> None:
    """A background loop that survives outages (as the storage sampler does): a read, then a
    pause."""
    while True:
        try:
            await converted_call(entered)
        except LibraryError:
            rounds.append(1)
            if checks:
                raise_if_cancelled()
        await asyncio.sleep(1)


async def mid_read(checks: bool = False) -> tuple[asyncio.Task[None], list[int]]:
    """The loop, inside its read."""
    entered, rounds = asyncio.Event(), []
    task = asyncio.create_task(loop_that_carries_on(entered, rounds, checks), name="sampler")
    await entered.wait()
    return task, rounds


async def test_a_task_that_lost_its_cancellation_is_cancelled_again(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(background, "CLEANUP_S", 0.05)
    task, rounds = await mid_read()
    await asyncio.wait_for(stop_tasks([task], grace_s=5), 2)
    assert task.cancelled()
    assert rounds == [1]  # the first cancellation was lost in the read, the second ended it
    assert "cancelled again" in caplog.text and "sampler" in caplog.text


async def test_without_a_second_cancellation_the_loop_carries_on() -> None:
    task, rounds = await mid_read()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=0.2)
    assert not done and rounds == [1]
    task.cancel()  # at its pause now
    await asyncio.wait([task])


async def test_a_loop_that_checks_ends_at_its_first_cancellation() -> None:
    task, rounds = await mid_read(checks=True)
    task.cancel()
    await asyncio.wait_for(asyncio.wait([task]), 1)
    assert task.cancelled() and rounds == [1]


async def test_a_cleanup_within_its_time_is_not_cut_short() -> None:
    closed: list[str] = []

    async def consumer() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.3)  # leaves its group, flushes: well within CLEANUP_S
            closed.append("consumer")

    task = asyncio.create_task(consumer())
    await asyncio.sleep(0.01)
    await stop_tasks([task])
    assert closed == ["consumer"] and task.cancelled()


async def test_a_task_that_never_ends_is_logged_after_the_grace(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(background, "CLEANUP_S", 0.05)
    stop = asyncio.Event()

    async def stubborn() -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(3600)

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.ERROR):
        await asyncio.wait_for(stop_tasks([task], grace_s=0.5), 2)
    assert not task.done()
    assert "still running" in caplog.text and "stubborn" in caplog.text
    stop.set()
    task.cancel()
    await asyncio.wait([task])


async def test_a_background_task_that_had_failed_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> None:
        raise RuntimeError("bug")

    task = asyncio.create_task(broken(), name="broken")
    await asyncio.wait([task])
    with caplog.at_level(logging.ERROR):
        await stop_tasks([task])
    assert "background task broken had failed" in caplog.text
