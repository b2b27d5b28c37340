"""Group commit of order entry: orders that arrive together share one transaction and one fsync.

A request queues its placement and waits; a few flushers (each with its own connection) take
whatever is queued, up to MAX_GROUP, and apply it in one transaction on asyncpg directly
(trading_service/orders/repository.py). Each request is answered only after the transaction
holding its order committed. Within a group:

- an order refused for buying power or shares changes nothing (its reservation and its row are
  one statement that did not match) and is answered 409 after the commit, the others stored;
- a client_order_id the account already used answers the existing order (200), also when the
  first one is earlier in the same group; one stored by another process while this group ran
  is found after its savepoint is rolled back;
- an error PostgreSQL raises for one order (a data error) aborts the transaction: that order
  is answered with it and the rest of the group applied again, still in one transaction; a
  deadlock or serialization failure retries the whole group;
- a lost connection answers every order of the group 503 (retryable; a retry with the same
  client_order_id finds an order whose commit went through before the connection died).

Orders are applied sorted by account (arrival order kept within an account), so two groups in
two processes lock accounts in the same order and cannot deadlock on them. Only personal
accounts come here: a league account's order goes through `service.place_order`, which checks
the league's window and rules under the league's lock.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from prometheus_client import Histogram

from shared.db import CONNECTION_LOST, DatabaseUnavailable, pg_connection
from shared.errors import DomainError
from trading_service.engine.core.model import Side
from trading_service.messages import PriceTick
from trading_service.orders import repository
from trading_service.orders.schemas import OrderRequest
from trading_service.orders.service import (
    Reservation,
    insufficient_funds,
    insufficient_shares,
    new_order_values,
    reservation,
)

log = logging.getLogger(__name__)

# Bounds one transaction: the savepoints of client_order_ids stay few, and a group's locks are
# held no longer than a few milliseconds.
MAX_GROUP = 64

# Groups committed at once per process, each on its own connection: while one waits for its
# commit, the next is being applied.
ORDER_FLUSHERS = 2

# A group that meets a deadlock or a serialization failure is tried again this many times.
MAX_RETRIES = 3

ORDER_GROUP_SIZE = Histogram(
    "stocksim_order_group_size",
    "Orders committed per transaction by order entry's group commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)

# What a placement comes out as: (the order row, created) or the error to answer with.
Outcome = tuple[Any, bool] | BaseException


@dataclass(slots=True)
class Placement:
    account_id: uuid.UUID
    request: OrderRequest
    last: PriceTick
    collar_bps: int
    done: asyncio.Future[tuple[Any, bool]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class OrderGroups:
    """The queue of placements and its flushers; `run` is started once per flusher."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._queued: deque[Placement] = deque()
        self._wake = asyncio.Event()

    async def place(
        self, account_id: uuid.UUID, request: OrderRequest, last: PriceTick, collar_bps: int
    ) -> tuple[Any, bool]:
        """Reserve and store the order (with the orders queued with it); returns (row, created).
        Idempotent on client_order_id; raises what the order was refused with."""
        placement = Placement(account_id, request, last, collar_bps)
        self._queued.append(placement)
        self._wake.set()
        return await placement.done

    async def run(self) -> None:
        """Forever: commit what is queued, one group at a time."""
        while True:
            while not self._queued:
                self._wake.clear()
                await self._wake.wait()
            group = [self._queued.popleft() for _ in range(min(MAX_GROUP, len(self._queued)))]
            ORDER_GROUP_SIZE.observe(len(group))
            outcomes = await self._commit(group)
            for placement, outcome in zip(group, outcomes, strict=True):
                if placement.done.done():  # the request was canceled meanwhile
                    continue
                if isinstance(outcome, BaseException):
                    placement.done.set_exception(outcome)
                else:
                    placement.done.set_result(outcome)

    async def _commit(self, group: list[Placement]) -> list[Outcome]:
        ordered = sorted(range(len(group)), key=lambda i: _lock_order(group[i]))
        try:
            async with pg_connection(self._pool) as pg:
                outcomes, runnable = await _known_client_ids(pg, group)
                ordered = [i for i in ordered if i not in outcomes]
                outcomes.update(await _commit_on(pg, group, ordered, runnable))
        except DatabaseUnavailable as exc:
            log.warning("database unreachable for order entry: %r", exc.__cause__)
            return [DatabaseUnavailable() for _ in group]
        except Exception as exc:  # a bug outside any one order: the group answers 500, logged
            log.exception("order group failed")
            return [exc for _ in group]
        return [outcomes[i] for i in range(len(group))]


def _lock_order(p: Placement) -> tuple[bytes, bool, str]:
    """An account's cash row before its positions' rows, positions by symbol."""
    sell = p.request.side is Side.SELL
    return p.account_id.bytes, sell, p.request.symbol if sell else ""


async def _known_client_ids(
    pg: asyncpg.Connection, group: list[Placement]
) -> tuple[dict[int, Outcome], set[int]]:
    """Before the transaction, in one round trip: the orders whose client_order_id the account
    already used (answered with that order), and the orders that can go in a run: those
    without a client_order_id, and the first of each new one (a repeat within the group is
    applied alone, with its savepoint, and finds the one stored before it)."""
    asked = {
        (p.account_id, p.request.client_order_id): i
        for i, p in reversed(list(enumerate(group)))
        if p.request.client_order_id is not None
    }
    stored = (
        {
            (r.account_id, r.client_order_id): r
            for r in await repository.orders_by_client_ids(pg, list(asked))
        }
        if asked
        else {}
    )
    known: dict[int, Outcome] = {}
    for i, p in enumerate(group):
        row = stored.get((p.account_id, p.request.client_order_id))
        if row is not None:
            known[i] = (row, False)
    runnable = {
        i
        for i, p in enumerate(group)
        if i not in known
        and (
            p.request.client_order_id is None
            or asked[(p.account_id, p.request.client_order_id)] == i
        )
    }
    return known, runnable


async def _commit_on(
    pg: asyncpg.Connection, group: list[Placement], ordered: list[int], runnable: set[int]
) -> dict[int, Outcome]:
    """Apply the group in one transaction; an order PostgreSQL refuses is taken out and the
    rest applied again, still together (a deadlock or serialization failure: all again).

    The `runnable` orders go in runs, one round trip per run (PostgreSQL still applies them one
    after the other, in the same order); when PostgreSQL refuses a statement of a run (also a
    client_order_id another process stored meanwhile), which order it was is found by applying
    the group again one order at a time."""
    outcomes: dict[int, Outcome] = {}
    remaining = list(ordered)
    retries = 0
    one_by_one = False
    while remaining:
        if not one_by_one and runnable.issuperset(remaining):
            # The common group: one run, sent without BEGIN and COMMIT round trips: PostgreSQL
            # applies a pipeline up to its Sync as one implicit transaction, atomic, committed
            # at the Sync; its row locks are held for that one round trip only.
            try:
                outcomes.update(await _apply_run(pg, group, remaining))
            except asyncpg.PostgresError as exc:
                if isinstance(exc, CONNECTION_LOST):
                    raise
                if isinstance(exc, asyncpg.TransactionRollbackError) and retries < MAX_RETRIES:
                    retries += 1
                    continue
                one_by_one = True  # nothing stored: find the order (or the failing commit)
                continue
            break
        at: int | None = None
        in_run = False
        applied: dict[int, Outcome] = {}
        try:
            async with pg.transaction():
                for together, run in _runs(remaining, runnable, one_by_one):
                    if together:
                        in_run = True
                        applied.update(await _apply_run(pg, group, run))
                        in_run = False
                        continue
                    at = run[0]
                    try:
                        applied[at] = await _apply(pg, group[at])
                    except (asyncpg.PostgresError, *CONNECTION_LOST):
                        raise
                    except Exception as exc:
                        # A bug met by this order alone, before it changed anything (its
                        # reservation and row are one statement): it answers 500, logged.
                        log.exception("order entry failed for one order of a group")
                        applied[at] = exc
                at = None  # now the commit
        except asyncpg.PostgresError as exc:
            if isinstance(exc, CONNECTION_LOST):
                raise
            failure: BaseException = exc
            if isinstance(exc, asyncpg.TransactionRollbackError) and retries < MAX_RETRIES:
                retries += 1
                continue
            if in_run:  # one order of a run: find which, one at a time
                one_by_one = True
                continue
            if at is None:  # the commit failed: none of them is stored
                outcomes.update((i, failure) for i in remaining)
                break
            log.warning(
                "PostgreSQL refused an order of a group; applying the others again",
                extra={"orders": len(remaining), "error": type(exc).__name__},
            )
            outcomes[at] = failure
            remaining.remove(at)
            continue
        outcomes.update(applied)
        break
    return outcomes


def _runs(
    remaining: list[int], runnable: set[int], one_by_one: bool
) -> list[tuple[bool, list[int]]]:
    """`remaining` in order, cut into runs: (True, runnable orders, sent together) or (False,
    [one order], applied alone, with its savepoint if it has an id)."""
    runs: list[tuple[bool, list[int]]] = []
    for i in remaining:
        if one_by_one or i not in runnable:
            runs.append((False, [i]))
        elif runs and runs[-1][0]:
            runs[-1][1].append(i)
        else:
            runs.append((True, [i]))
    return runs


async def _apply_run(
    pg: asyncpg.Connection, group: list[Placement], run: list[int]
) -> dict[int, Outcome]:
    """Orders whose client_order_id is new (or who have none), in one round trip; a refusal is
    answered with what the statement saw, having changed nothing."""
    outcomes: dict[int, Outcome] = {}
    sent: list[tuple[int, Reservation]] = []
    values: list[dict[str, Any]] = []
    for i in run:
        p = group[i]
        try:
            held = reservation(p.request, p.last, p.collar_bps)
            client_id = p.request.client_order_id or str(uuid.uuid4())
            values.append(new_order_values(p.account_id, p.request, client_id, held))
        except Exception as exc:  # a bug met by this order alone: it answers 500, logged
            log.exception("order entry failed for one order of a group")
            outcomes[i] = exc
            continue
        sent.append((i, held))
    if not values:
        return outcomes
    rows = await repository.place_reserved_many(pg, values)
    for (i, held), row in zip(sent, rows, strict=True):
        try:
            outcomes[i] = _run_outcome(group[i], held, row)
        except Exception as exc:  # a bug met by this order alone (its row may be stored)
            log.exception("order entry failed for one order of a group")
            outcomes[i] = exc
    return outcomes


def _run_outcome(p: Placement, held: Reservation, row: Any) -> Outcome:
    """The order stored, or its refusal from what the statement saw."""
    if row.id is not None:
        return row, True
    if p.request.side is Side.BUY and row.refused_cash is not None:
        balance = repository.Balance(row.refused_cash, row.refused_reserved_cash)
        return insufficient_funds(p.request, held, balance)
    if p.request.side is Side.SELL:
        holding = repository.Holding(row.refused_qty or 0, row.refused_reserved_qty or 0)
        return insufficient_shares(p.request, holding)
    # No such account: cannot happen (order entry made sure it exists).
    raise RuntimeError(f"no account {p.account_id} for an order")


async def _apply(pg: asyncpg.Connection, p: Placement) -> Outcome:
    """One order inside the group's transaction; a refusal is returned, having changed nothing."""
    request, account_id = p.request, p.account_id
    held = reservation(request, p.last, p.collar_bps)
    if request.client_order_id is None:
        values = new_order_values(account_id, request, str(uuid.uuid4()), held)
        row = await repository.place_reserved(pg, values)
        return (row, True) if row is not None else await _refusal(pg, p, held)
    existing = await repository.order_by_client_id(pg, account_id, request.client_order_id)
    if existing is not None:
        return existing, False
    values = new_order_values(account_id, request, request.client_order_id, held)
    try:
        # A savepoint: the insert may meet the same client_order_id committed by another
        # process after the lookup above, with this order's reservation already taken.
        async with pg.transaction():
            row = await repository.place_reserved(pg, values)
            if row is None:
                raise _NotPlaced()
    except _NotPlaced:
        existing = await repository.order_by_client_id(pg, account_id, request.client_order_id)
        return (existing, False) if existing is not None else await _refusal(pg, p, held)
    return row, True


class _NotPlaced(Exception):
    """Rolls the savepoint back (asyncpg does it for an exception leaving the block)."""


async def _refusal(pg: asyncpg.Connection, p: Placement, held: Reservation) -> DomainError:
    if p.request.side is Side.BUY:
        return insufficient_funds(p.request, held, await repository.balance_of(pg, p.account_id))
    holding = await repository.holding_of(pg, p.account_id, p.request.symbol)
    return insufficient_shares(p.request, holding)
