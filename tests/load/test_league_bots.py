"""`make bots BOTS_ARGS="--league CODE"`: the bots join the league and its leaderboard moves."""

from __future__ import annotations

import httpx
import pytest

from loadgen.__main__ import parse, run
from loadgen.system import System

pytestmark = pytest.mark.slow


async def test_bots_fill_a_league_and_trade_in_it(capsys: pytest.CaptureFixture[str]) -> None:
    system = System(fsync=False)
    try:
        await system.start()
        teacher = {
            "username": "teacher",
            "email": "teacher@example.com",
            "password": "a long pass phrase 7",
        }
        async with httpx.AsyncClient(timeout=30) as http:
            # A fresh system: its first user is the administrator.
            assert (await http.post(f"{system.user_url}/register", json=teacher)).status_code == 201
            login = await http.post(
                f"{system.user_url}/login",
                json={"email": teacher["email"], "password": teacher["password"]},
            )
            assert login.status_code == 200, login.text
            admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
            league = (
                await http.post(
                    f"{system.trading_url}/leagues",
                    json={"name": "bots", "starting_cash": "50000.00"},
                    headers=admin,
                )
            ).json()
            args = parse(
                ["--traders", "3", "--rate", "20", "--duration", "4", "--league",
                 league["invite_code"], "--user-url", system.user_url, "--trading-url",
                 system.trading_url, "--data-dir", str(system.root)]
            )  # fmt: skip
            assert await run(args) == 0
            assert "orders acknowledged" in capsys.readouterr().out
            board = (
                await http.get(
                    f"{system.trading_url}/leagues/{league['id']}/leaderboard", headers=admin
                )
            ).json()
            assert len(board) == 3 and sum(row["trades"] for row in board) > 0
            # The bots' personal accounts did not trade.
            personal = (await http.get(f"{system.trading_url}/leaderboard")).json()
            assert all(row["equity"] == "100000.00" for row in personal if row["name"] != "teacher")
    finally:
        await system.stop()
