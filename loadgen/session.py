"""One trading session: log the bots in, let them trade until the pacer stops them."""

from __future__ import annotations

import secrets
from pathlib import Path

from loadgen.accounts import ensure_accounts
from loadgen.exchange import Account, Exchange
from loadgen.stats import Stats
from loadgen.traders import MarketView, Pacer, Trader, kinds_for, make_traders, trade


class Session:
    def __init__(
        self,
        user_url: str,
        trading_url: str,
        credentials: Path,
        traders: int,
        mix: tuple[int, int, int] = (4, 3, 3),
        seed: int = 1,
        retry_for_s: float = 60.0,
        league: str | None = None,
    ) -> None:
        self.stats = Stats()
        self.exchange = Exchange(user_url, trading_url, self.stats, retry_for_s=retry_for_s)
        self.credentials = credentials
        self.count = traders
        self.mix = mix
        self.seed = seed
        self.market = MarketView(self.exchange)
        self.accounts: list[Account] = []
        self.traders: list[Trader] = []
        self.league = league  # an invite code: the bots trade in that league

    async def __aenter__(self) -> Session:
        self.accounts = await ensure_accounts(self.exchange, self.count, self.credentials)
        if self.league is not None:
            for account in self.accounts:
                account.trading_account = await self.exchange.join_league(account, self.league)
        await self.market.wait_ready()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.exchange.aclose()

    async def trade(self, pacer: Pacer) -> Stats:
        """Trade until `pacer` is done; the clock of the figures starts here."""
        self.traders = make_traders(
            kinds_for(self.count, self.mix),
            self.accounts,
            self.exchange,
            self.market,
            pacer,
            self.seed,
            secrets.token_hex(3),
        )
        self.stats.restart_clock()
        pacer.start()
        try:
            await trade(self.traders, self.market)
        finally:
            self.stats.stop_clock()
        return self.stats
