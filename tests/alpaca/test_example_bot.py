"""examples/alpaca_bot.py runs as a user would run it: its own process, alpaca-py unchanged,
against a live user service and trading service."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from devstack.stack import Stack
from tests.live_server import serve
from tests.trading_fixtures import Market
from trading_service.app import create_app
from trading_service.config import TradingSettings
from user_service.app import create_app as create_user_app
from user_service.config import UserSettings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "alpaca_bot.py"


async def test_the_example_bot_trades_and_closes_its_position(
    stack: Stack, trading_settings: TradingSettings, market: Market, engine: object
) -> None:
    await market.set("ALPEX", "25.00")
    users = create_user_app(UserSettings(register_max_per_ip=1_000_000))
    async with serve(users) as user_host, serve(create_app(trading_settings)) as trading_host:
        bot = await asyncio.create_subprocess_exec(
            sys.executable,
            str(EXAMPLE),
            env=os.environ
            | {
                "STOCKSIM_USERS_URL": f"http://{user_host}",
                "STOCKSIM_TRADING_URL": f"http://{trading_host}",
                "SYMBOL": "ALPEX",
            },
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(bot.communicate(), timeout=120)
    text = output.decode()
    assert bot.returncode == 0, text
    assert "bought 2 ALPEX" in text and "replaced by" in text
    assert "closed 1 position(s)" in text
