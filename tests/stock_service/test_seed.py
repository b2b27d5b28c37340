"""Where the price paths' seed comes from: STOCK_SEED for reproducible runs, else a secret one."""

from __future__ import annotations

import stat
from decimal import Decimal
from pathlib import Path

import pytest

from stock_service.market.random_walk import GeometricBrownianMotion
from stock_service.market.seed import SEED_BITS, SeedFileError, market_seed

DT = 1e-4


def path_of(seed: int, steps: int = 50) -> list[Decimal]:
    walk = GeometricBrownianMotion(seed, "AAPL", 0.07, 0.30, DT)
    state, prices = walk.start(Decimal("190.00")), []
    for _ in range(steps):
        state = walk.step(state)
        prices.append(state.price)
    return prices


def test_each_fresh_data_dir_draws_its_own_secret_seed(tmp_path: Path) -> None:
    first = market_seed(None, tmp_path / "one" / "stock_service" / "seed")
    second = market_seed(None, tmp_path / "two" / "stock_service" / "seed")
    assert first != second
    assert path_of(first) != path_of(second)
    # Not guessable: as wide as the hash that uses it, not the old default 42.
    assert first.bit_length() > SEED_BITS - 32 and second.bit_length() > SEED_BITS - 32


def test_the_seed_file_is_kept_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "stock_service" / "seed"
    seed = market_seed(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert market_seed(None, path) == seed  # a restart continues the same paths
    path.chmod(0o644)
    assert market_seed(None, path) == seed
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_stock_seed_makes_paths_reproducible_and_writes_no_file(tmp_path: Path) -> None:
    path = tmp_path / "seed"
    assert market_seed(7, path) == 7
    assert not path.exists()
    assert path_of(market_seed(7, path)) == path_of(7)


def test_a_damaged_seed_file_is_refused_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "seed"
    path.write_text("not a seed")
    with pytest.raises(SeedFileError):
        market_seed(None, path)
    assert path.read_text() == "not a seed"
