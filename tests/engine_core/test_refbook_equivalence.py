"""The core gives exactly the naive reference book's trades on the shared benchmark streams.

`../shared/bench` (refbook.py, stream.py) lives next to the repository, not in it;
bench/yardsticks.py finds it (STOCKSIM_SHARED_BENCH overrides). Without it there is nothing to
compare against."""

from __future__ import annotations

import pytest

from bench import vs_refbook, yardsticks

pytestmark = pytest.mark.skipif(
    yardsticks.shared_bench_dir() is None,
    reason=f"../shared/bench (refbook.py, stream.py) not found; set {yardsticks.ENV} to run this",
)

MIXES = {"thin": (0.60, 0.20, 0.15, 0.05), "deep": (0.60, 0.10, 0.15, 0.15)}


@pytest.mark.parametrize("mix", MIXES.values(), ids=MIXES.keys())
@pytest.mark.parametrize("seed", [1, 7])
def test_same_trades_and_resting_qty_as_refbook(mix: tuple[float, ...], seed: int) -> None:
    refbook, stream = yardsticks.load()
    messages = stream.make_stream(5_000, seed, mix)
    _, book = vs_refbook.replay_refbook(refbook, messages)
    _, engine = vs_refbook.replay_core(messages)
    expected = vs_refbook.refbook_outcome(book, refbook)
    assert expected.trades, "the stream should trade"
    assert vs_refbook.core_outcome(engine) == expected
    # the event commands (Orders in, events out) must deliver the very same
    _, engine, delivered = vs_refbook.replay_core_given_orders(messages)
    assert vs_refbook.events_outcome(engine, delivered) == expected
