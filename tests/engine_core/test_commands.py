"""The engine's messages through the core (trading_service/engine/commands.py): new limit and
market orders go in by the core's plain fields (`ScopedCores.enter`), everything else by the
event commands. What accounting receives must be exactly what the event API gave for the same
messages: the same entries (type and content, in order), the same books, priorities and scope
routing. A property test replays random streams both ways; the named tests pin each behaviour
the engine relies on, so dropping one from the fast path fails a test by name."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.money import from_ticks
from tests.engine_core.test_properties import SYMBOLS, Submit, engine_snapshot, prices, submits
from trading_service.engine import commands
from trading_service.engine.accounting import Entry, ReplaceSettled
from trading_service.engine.core.matching import (
    FOK_NOT_FILLABLE,
    IOC_REST,
    NO_LIMIT_PRICE,
    NO_REFERENCE,
    PROTECTION_REACHED,
    QTY_NOT_POSITIVE,
    SELF_TRADE_PREVENTED,
)
from trading_service.engine.core.model import (
    Accepted,
    Canceled,
    Rejected,
    Replaced,
    Side,
    Trade,
    Triggered,
)
from trading_service.engine.records import PendingReplace, StoredOrder
from trading_service.engine.scopes import ScopedCores
from trading_service.messages import CancelRequest, NewOrder, PriceTick, ReplaceRequest
from trading_service.stored_orders import ticks, to_core_order

NOW = datetime(2026, 1, 5, 15, tzinfo=UTC)
LEAGUE = uuid.UUID(int=0x1EA6)


def event_api_submit(
    cores: ScopedCores, row: StoredOrder, replace: PendingReplace | None
) -> list[Entry]:
    """commands.submit as it was before the plain-fields entry: every order as an `Order`
    through `ScopedCores.submit` (the event API). The yardstick the fast path must equal."""
    order = to_core_order(row)
    if replace is None:
        return list(cores.submit(order, row.league_id))
    order.qty = replace.qty
    order.limit = ticks(replace.limit_price)
    order.stop = ticks(replace.stop_price)
    order.protection = ticks(replace.protection_price)
    settled: list[Entry] = [
        ReplaceSettled(row.id, replace.replace_seq, replace.protection_price),
        Replaced(row.id, order.qty, order.limit, order.stop, 0),
    ]
    return settled + cores.submit(order, row.league_id)


def money(value: int | None) -> Decimal | None:
    return None if value is None else from_ticks(value)


def stored(
    n: int,
    side: str,
    type_: str,
    qty: int,
    limit: int | None = None,
    *,
    tif: str = "gtc",
    stop: int | None = None,
    protection: int | None = None,
    account: int | None = None,
    league: uuid.UUID | None = None,
    filled: int = 0,
) -> StoredOrder:
    """An order row as the repository loads it (prices given in ticks)."""
    return StoredOrder(
        id=uuid.UUID(int=n),
        account_id=uuid.UUID(int=10_000 + (n if account is None else account)),
        league_id=league,
        symbol="AAA",
        side=side,
        type=type_,
        time_in_force=tif,
        qty=qty,
        limit_price=money(limit),
        stop_price=money(stop),
        protection_price=money(protection),
        filled_qty=filled,
        priority=None,
        accepted_at=None,
        triggered_at=None,
        replace_seq=0,
        replace_applied_seq=0,
    )


def new(row: StoredOrder) -> NewOrder:
    return NewOrder(to_core_order(row), request_id=None)


def tick(price: int, seq: int, symbol: str = "AAA") -> PriceTick:
    return PriceTick(symbol, from_ticks(price), NOW.isoformat(), seq)


class Engine:
    """Cores and the state the runner keeps between batches; `run` applies one batch."""

    def __init__(self, house_size: int | None = None) -> None:
        self.cores = ScopedCores(spread_bps=10, house_size=house_size)
        self.ref_seq: dict[str, int] = {}

    def run(
        self,
        *messages: commands.Message,
        rows: tuple[StoredOrder, ...] = (),
        pending: tuple[PendingReplace, ...] = (),
    ) -> list[Entry]:
        unaccepted = {r.id: r for r in rows}
        waiting = {p.order_id: p for p in pending}
        return commands.match(self.cores, self.ref_seq, messages, unaccepted, waiting).events


@pytest.fixture
def engine() -> Engine:
    engine = Engine()
    engine.run(tick(10_000, 1))  # the house bids 99.95, asks 100.05
    return engine


def place(engine: Engine, row: StoredOrder) -> list[Entry]:
    return engine.run(new(row), rows=(row,))


def oid(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


# --- each behaviour by name ---------------------------------------------------------------


def test_a_limit_rests_then_trades_at_its_price(engine: Engine) -> None:
    assert place(engine, stored(1, "sell", "limit", 5, 10_001)) == [Accepted(oid(1), 1)]
    assert place(engine, stored(2, "buy", "limit", 3, 10_003)) == [
        Accepted(oid(2), 2),
        Trade("AAA", 10_001, 3, Side.BUY, oid(2), oid(1)),
    ]
    live = engine.cores.order(oid(1))
    assert live is not None and live.filled == 3


def test_time_in_force_ioc_and_fok(engine: Engine) -> None:
    place(engine, stored(1, "sell", "limit", 5, 10_001))
    assert place(engine, stored(2, "buy", "limit", 8, 10_001, tif="ioc")) == [
        Accepted(oid(2), 2),
        Trade("AAA", 10_001, 5, Side.BUY, oid(2), oid(1)),
        Canceled(oid(2), IOC_REST),
    ]
    place(engine, stored(3, "sell", "limit", 5, 10_001))
    assert place(engine, stored(4, "buy", "limit", 8, 10_001, tif="fok")) == [
        Accepted(oid(4), 4),
        Canceled(oid(4), FOK_NOT_FILLABLE),
    ]
    assert engine.cores.order(oid(3)) is not None  # a fill-or-kill that cannot fill trades nothing


def test_self_trade_prevention_cancels_the_newest(engine: Engine) -> None:
    place(engine, stored(1, "sell", "limit", 5, 10_001, account=7))
    assert place(engine, stored(2, "buy", "limit", 5, 10_003, account=7)) == [
        Accepted(oid(2), 2),
        Canceled(oid(2), SELF_TRADE_PREVENTED),
    ]
    assert engine.cores.order(oid(1)) is not None


def test_a_market_buy_stops_at_its_protection_then_the_house_trades(engine: Engine) -> None:
    place(engine, stored(1, "sell", "limit", 2, 10_001))
    place(engine, stored(2, "sell", "limit", 2, 10_020))
    # protection 100.10: the user ask at 100.01, then the house's ask at 100.05, not 100.20
    assert place(engine, stored(3, "buy", "market", 9, protection=10_010, tif="day")) == [
        Accepted(oid(3), 3),
        Trade("AAA", 10_001, 2, Side.BUY, oid(3), oid(1)),
        Trade("AAA", 10_005, 7, Side.BUY, oid(3), None),
    ]
    engine = Engine(house_size=1)
    engine.run(tick(10_000, 1))
    place(engine, stored(4, "sell", "limit", 2, 10_020))
    assert place(engine, stored(5, "buy", "market", 5, protection=10_010, tif="day")) == [
        Accepted(oid(5), 2),
        Trade("AAA", 10_005, 1, Side.BUY, oid(5), None),
        Canceled(oid(5), PROTECTION_REACHED),
    ]


def test_rejects_carry_their_reason() -> None:
    engine = Engine()  # no reference price yet
    assert place(engine, stored(1, "buy", "market", 5, protection=10_010)) == [
        Rejected(oid(1), NO_REFERENCE)
    ]
    assert place(engine, stored(2, "buy", "limit", 0, 9_990)) == [
        Rejected(oid(2), QTY_NOT_POSITIVE)
    ]
    assert place(engine, stored(3, "buy", "limit", 5, None)) == [Rejected(oid(3), NO_LIMIT_PRICE)]


def test_a_copy_of_a_new_order_changes_nothing(engine: Engine) -> None:
    row = stored(1, "sell", "limit", 5, 10_001)
    assert engine.run(new(row), new(row), rows=(row,)) == [Accepted(oid(1), 1)]
    # the repository finds it unaccepted again (a redelivery before commit): still live, ignored
    assert place(engine, row) == []
    # live in a league's scope: the public scope does not take it either
    league_row = stored(2, "sell", "limit", 5, 10_001, league=LEAGUE)
    place(engine, league_row)
    assert place(engine, stored(2, "sell", "limit", 5, 10_001)) == []


def test_a_bad_row_raises_for_the_runner_to_refuse_and_the_next_one_goes_on(
    engine: Engine,
) -> None:
    bad = stored(1, "sideways", "limit", 5, 9_990)
    with pytest.raises(ValueError, match="sideways"):  # health.is_bad_command: refused alone
        place(engine, bad)
    with pytest.raises(ValueError, match="tick"):
        place(engine, replace(stored(2, "buy", "limit", 5), limit_price=Decimal("99.991")))
    assert place(engine, stored(3, "buy", "limit", 5, 9_990)) == [Accepted(oid(3), 1)]


def test_cancel_withdraws_and_a_cancel_before_acceptance_cancels_for_good(engine: Engine) -> None:
    place(engine, stored(1, "sell", "limit", 5, 10_001))
    assert engine.run(CancelRequest(oid(1), oid(10_001))) == [Canceled(oid(1), "canceled by user")]
    assert engine.cores.order(oid(1)) is None
    unseen = stored(2, "sell", "limit", 5, 10_001)
    assert engine.run(CancelRequest(oid(2), oid(10_002)), new(unseen), rows=(unseen,)) == [
        Canceled(oid(2), "canceled by user")
    ]


def test_a_replace_before_acceptance_applies_its_terms_first(engine: Engine) -> None:
    row = stored(1, "buy", "limit", 5, 9_990)
    early = PendingReplace(oid(1), None, 1, 8, Decimal("99.92"), None, None)
    assert engine.run(new(row), rows=(row,), pending=(early,)) == [
        ReplaceSettled(oid(1), 1, None),
        Replaced(oid(1), 8, 9_992, None, 0),
        Accepted(oid(1), 1),
    ]
    live = engine.cores.order(oid(1))
    assert live is not None and (live.qty, live.limit) == (8, 9_992)
    # and a replace of the live order: a new limit that now crosses the house's bid and trades
    later = PendingReplace(oid(1), NOW, 2, 8, Decimal("100.10"), None, None)
    assert engine.run(ReplaceRequest(oid(1), oid(10_001), 8, 10_010, None), pending=(later,)) == [
        ReplaceSettled(oid(1), 2, None),
        Replaced(oid(1), 8, 10_010, None, 2),
        Trade("AAA", 10_005, 8, Side.BUY, oid(1), None),
    ]


def test_stops_wait_for_their_price_then_trade(engine: Engine) -> None:
    stop = stored(1, "buy", "stop", 4, stop=10_050, protection=10_200, tif="day")
    assert place(engine, stop) == [Accepted(oid(1), 1)]
    assert engine.run(tick(10_060, 2)) == [
        Triggered(oid(1), 2),
        Trade("AAA", 10_066, 4, Side.BUY, oid(1), None),
    ]


def test_a_partly_filled_row_goes_by_the_event_commands(engine: Engine) -> None:
    # a restored order's fill is kept: only the rest trades (the plain fields take new orders)
    row = stored(1, "buy", "limit", 5, 10_010, filled=2)
    assert place(engine, row) == [
        Accepted(oid(1), 1),
        Trade("AAA", 10_005, 3, Side.BUY, oid(1), None),
    ]


def test_league_orders_match_only_inside_their_league(engine: Engine) -> None:
    place(engine, stored(1, "sell", "limit", 5, 10_001, league=LEAGUE))
    assert place(engine, stored(2, "buy", "limit", 5, 10_001)) == [Accepted(oid(2), 2)]
    assert place(engine, stored(3, "buy", "limit", 5, 10_001, league=LEAGUE)) == [
        Accepted(oid(3), 3),
        Trade("AAA", 10_001, 5, Side.BUY, oid(3), oid(1)),
    ]
    # a filled maker is forgotten by the routing: its cancel finds nothing
    assert engine.run(CancelRequest(oid(1), oid(10_001))) == []
    assert engine.cores.scope_of(oid(2)) is None and engine.cores.order(oid(2)) is not None


# --- both ways in, random streams -----------------------------------------------------------

Step = tuple[commands.Message, StoredOrder | None, PendingReplace | None]


@st.composite
def steps(draw: st.DrawFn) -> list[Step]:
    """Messages as the runner would hand them over, each with the rows the repository would
    have loaded for it; few accounts and a league, so orders meet their own and other scopes."""
    out: list[Step] = []
    ids: list[uuid.UUID] = []
    seq = 0
    for kind in draw(st.lists(st.sampled_from("nnnnnnccrrt"), min_size=5, max_size=80)):
        if kind == "n" or not ids:
            s: Submit = draw(submits())
            n = len(ids) + 1
            ids.append(oid(n))
            row = stored(
                n, s.side.value, s.type.value, s.qty, s.limit, tif=s.tif.value, stop=s.stop,
                protection=s.protection, account=s.account,
                league=draw(st.sampled_from([None, None, LEAGUE])),
            )  # fmt: skip
            row = replace(row, symbol=s.symbol)
            early = None
            if draw(st.integers(0, 9)) == 0:
                early = PendingReplace(
                    row.id, None, 1, draw(st.integers(1, 9)), money(s.limit), money(s.stop),
                    money(s.protection),
                )  # fmt: skip
            out.append((new(row), row, early))
        elif kind == "c":
            target = draw(st.sampled_from(ids))
            out.append((CancelRequest(target, target), None, None))
        elif kind == "r":
            target = draw(st.sampled_from(ids))
            seq += 1
            limit = draw(st.one_of(st.none(), prices))
            terms = PendingReplace(
                target, NOW, seq, draw(st.integers(1, 12)), money(limit), None, None
            )
            out.append((ReplaceRequest(target, target, terms.qty, limit, None), None, terms))
        else:
            seq += 1
            symbol = draw(st.sampled_from(SYMBOLS))
            out.append((tick(draw(prices), seq, symbol), None, None))
    return out


def replay(house_size: int | None, stream: list[Step]) -> tuple[list[list[Entry]], Engine]:
    engine = Engine(house_size)
    delivered = []
    for message, row, pending in stream:
        rows = () if row is None else (row,)
        waiting = () if pending is None else (pending,)
        delivered.append(engine.run(message, rows=rows, pending=waiting))
    return delivered, engine


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(house_size=st.sampled_from([None, 0, 5]), stream=steps())
def test_the_fast_path_gives_what_the_event_api_gave(
    house_size: int | None, stream: list[Step]
) -> None:
    got, fast = replay(house_size, stream)
    with mock.patch.object(commands, "submit", event_api_submit):
        expected, slow = replay(house_size, stream)
    for message, entries, want in zip(stream, got, expected, strict=True):
        assert [(type(e), e) for e in entries] == [(type(e), e) for e in want], message
    assert fast.cores.last_priority == slow.cores.last_priority
    assert fast.cores.scopes == slow.cores.scopes
    for scope in fast.cores.scopes:
        for symbol in SYMBOLS:
            assert engine_snapshot(fast.cores.core(scope), symbol) == engine_snapshot(
                slow.cores.core(scope), symbol
            )
    for message, _, _ in stream:
        if isinstance(message, NewOrder):
            order_id = message.order.id
            assert fast.cores.scope_of(order_id) == slow.cores.scope_of(order_id)
