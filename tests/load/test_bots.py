"""`make bots`: traders of every kind trade through the public API of a running system, sign up
no faster than the user service allows, and reuse their accounts on the next run."""

from __future__ import annotations

import json

import pytest

from loadgen.__main__ import parse, run
from loadgen.accounts import CREDENTIALS_FILE
from loadgen.session import Session
from loadgen.system import System
from loadgen.traders import Pacer

pytestmark = pytest.mark.slow


async def test_bots_respect_the_sign_up_limit_and_reuse_their_accounts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Two sign-ups per 3 s window: five bots must wait out the 429s, not fail.
    system = System(
        fsync=False, env={"USER_REGISTER_MAX_PER_IP": "2", "USER_THROTTLE_WINDOW_S": "3"}
    )
    try:
        await system.start()
        args = parse(
            ["--traders", "5", "--rate", "20", "--duration", "4", "--user-url", system.user_url,
             "--trading-url", system.trading_url, "--data-dir", str(system.root)]
        )  # fmt: skip
        assert await run(args) == 0
        summary = capsys.readouterr().out
        assert "orders acknowledged" in summary and "place" in summary, summary
        saved = json.loads((system.root / CREDENTIALS_FILE).read_text())
        assert len(saved) == 5 and len({a["email"] for a in saved}) == 5

        again = Session(system.user_url, system.trading_url, system.root / CREDENTIALS_FILE, 5)
        async with again:
            stats = await again.trade(Pacer(rate=20, budget=40))
        assert [a.email for a in again.accounts] == [a["email"] for a in saved]
        kinds = {type(t).__name__ for t in again.traders}
        assert kinds == {"RandomTrader", "MomentumTrader", "MarketMaker"}
        assert stats.orders_placed > 0
        assert stats.server_errors() == 0
    finally:
        await system.stop()
