"""Test session: real PostgreSQL, Redis and a Kafka-protocol broker, started here unless configured.

Set DATABASE_URL / REDIS_URL / KAFKA_BOOTSTRAP_SERVERS to test against servers you run yourself.
The broker is Apache Kafka, as under `make run` (one JVM for the whole session);
STOCKSIM_KAFKA=tansu runs the suite on the memory-only Tansu broker instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.stack import Stack, start_stack
from shared import migrate

# Session fixtures of the trading service (one engine for the whole session), for every folder.
pytest_plugins = ["tests.trading_fixtures"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: starts real processes; seconds, not milliseconds")


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="stocksim-test-"))
    path.chmod(0o755)  # PostgreSQL runs as an unprivileged user when the tests run as root
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def stack(data_dir: Path) -> Iterator[Stack]:
    # fsync off: tests restart nothing uncleanly except where a test says so,
    # and it halves suite time
    running = start_stack(data_dir / "servers", postgres_settings={"fsync": "off"})
    saved = {k: os.environ.get(k) for k in running.env()}
    os.environ.update(running.env())
    os.environ["STOCKSIM_DATA_DIR"] = str(data_dir)
    os.environ["LOG_JSON"] = "false"
    # Engines started by tests bind their probe port anywhere free (never make run's 8004).
    os.environ["ENGINE_HTTP_PORT"] = "0"
    migrate.upgrade(running.database_url)
    yield running
    running.stop()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
