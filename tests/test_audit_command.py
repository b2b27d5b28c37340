"""`python -m trading_service.audit`: passes a consistent database, fails on each kind of breach."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.engine import URL, make_url

from devstack.stack import Stack
from shared import migrate


def _plain(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
async def fresh_db(stack: Stack) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A database of its own on the session's server, so corrupting it harms no other test."""
    name = f"audit_{uuid.uuid4().hex[:8]}"
    server = make_url(stack.database_url)
    admin = await asyncpg.connect(_plain(server))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name)
    await asyncio.to_thread(migrate.upgrade, url.render_as_string(hide_password=False))
    conn = await asyncpg.connect(_plain(url))
    try:
        yield url.render_as_string(hide_password=False), conn
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def run_audit(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trading_service.audit"],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=60,
    )


SETUP = """
INSERT INTO accounts (id, cash, reserved_cash, granted_cash)
VALUES ('11111111-1111-1111-1111-111111111111', 1000.00, 0, 1000.00)
"""

BREACHES = {
    "cash is conserved": "UPDATE accounts SET cash = cash + 0.01 WHERE NOT house",
    "shares are conserved": "INSERT INTO positions (account_id, symbol, qty, cost_basis) "
    "VALUES ('11111111-1111-1111-1111-111111111111', 'AAPL', 5, 500)",
    "account reservations equal": "UPDATE accounts SET reserved_cash = 10 WHERE NOT house",
    # The schema refuses this one itself; the audit must still see it where the CHECK is gone.
    "a terminal order holds no reservation": """
        ALTER TABLE orders DROP CONSTRAINT orders_terminal_unreserved;
        UPDATE accounts SET reserved_cash = 10 WHERE NOT house;
        INSERT INTO orders (id, account_id, client_order_id, symbol, side, type, time_in_force,
                            qty, limit_price, status, reserved_cash)
        VALUES ('22222222-2222-2222-2222-222222222222', '11111111-1111-1111-1111-111111111111',
                'c1', 'AAPL', 'buy', 'limit', 'day', 1, 10.00, 'canceled', 10)""",
}


async def test_a_consistent_database_passes(fresh_db: tuple[str, asyncpg.Connection]) -> None:
    url, conn = fresh_db
    await conn.execute(SETUP)
    result = await asyncio.to_thread(run_audit, url)
    assert result.returncode == 0, result.stdout
    assert "0 violation(s)" in result.stdout


@pytest.mark.parametrize("invariant", list(BREACHES))
async def test_each_breach_fails_the_audit(
    fresh_db: tuple[str, asyncpg.Connection], invariant: str
) -> None:
    url, conn = fresh_db
    await conn.execute(SETUP)
    await conn.execute(BREACHES[invariant])
    result = await asyncio.to_thread(run_audit, url)
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert any(invariant in line for line in failed), result.stdout
