"""Every test here sends orders through Kafka; the fixtures live in tests/trading_fixtures.py."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Every order here travels through Kafka: CI runs all of them again on Apache Kafka.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.kafka)
