"""The symbol universe: defaults, STOCK_SYMBOLS, STOCK_SYMBOLS_FILE, and bad configurations."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from stock_service.market.universe import DEFAULT_LISTINGS, load_universe


def test_default_universe_has_twenty_well_known_stocks() -> None:
    listings = load_universe()
    assert listings == DEFAULT_LISTINGS
    symbols = [listing.symbol for listing in listings]
    assert len(symbols) >= 20
    assert len(set(symbols)) == len(symbols)
    assert {"AAPL", "MSFT", "GOOGL", "AMZN", "NVDA", "META", "TSLA", "JPM", "V", "NFLX"} <= set(
        symbols
    )
    for listing in listings:
        assert listing.name and listing.name != listing.symbol
        assert listing.start_price > 0
        assert listing.start_price.as_tuple().exponent == -2
        assert 0 < listing.volatility < 1
        assert -0.5 < listing.drift < 0.5


def test_symbols_env_lists_known_and_new_tickers() -> None:
    listings = load_universe(" aapl:195.5 , MSFT,ACME:12 ")
    by_symbol = {listing.symbol: listing for listing in listings}
    assert [listing.symbol for listing in listings] == ["AAPL", "MSFT", "ACME"]
    assert by_symbol["AAPL"].start_price == Decimal("195.50")
    assert by_symbol["AAPL"].name == "Apple Inc."
    assert by_symbol["MSFT"].start_price == Decimal("420.00")  # the default, price left out
    assert by_symbol["ACME"].name == "ACME"
    assert by_symbol["ACME"].start_price == Decimal("12.00")


def test_symbols_file_then_env_overrides_prices_and_adds(tmp_path: Path) -> None:
    path = tmp_path / "symbols.json"
    path.write_text(
        json.dumps(
            [
                {
                    "symbol": "ACME",
                    "price": "10.00",
                    "name": "Acme Corp.",
                    "drift": 0.02,
                    "volatility": 0.5,
                },
                {"symbol": "NVDA"},
            ]
        )
    )
    listings = load_universe("ACME:11.25,BETA:3.10", path)
    by_symbol = {listing.symbol: listing for listing in listings}
    assert list(by_symbol) == ["ACME", "NVDA", "BETA"]
    assert by_symbol["ACME"].start_price == Decimal("11.25")
    assert (by_symbol["ACME"].name, by_symbol["ACME"].volatility) == ("Acme Corp.", 0.5)
    assert by_symbol["NVDA"].name == "NVIDIA Corporation"
    assert by_symbol["BETA"].start_price == Decimal("3.10")


@pytest.mark.parametrize(
    "symbols",
    [
        "ZZZZ",  # unknown, no price
        "AAPL:1.234",  # off the tick
        "AAPL:-5",
        "AAPL:abc",
        "AAPL:1,AAPL:2",  # twice
        "1BAD:10",
        "TOOLONGSYMBOL:10",
        " , ",  # nothing listed
    ],
)
def test_bad_symbol_configuration_is_refused(symbols: str) -> None:
    with pytest.raises(ValueError):
        load_universe(symbols) or pytest.fail("accepted")


def test_unreadable_or_malformed_symbols_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read"):
        load_universe(None, tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"symbol": "AAPL", "color": "red"}]')
    with pytest.raises(ValueError, match="invalid symbol configuration"):
        load_universe(None, bad)
