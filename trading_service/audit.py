"""`python -m trading_service.audit`: checks the architecture's money invariants over the database.

Exits 1 and lists every violation, 0 when the books balance. Run it while idle: an order that the
API has reserved for but the engine has not yet processed is consistent, but a batch in flight
is not visible until it commits.
"""

from __future__ import annotations

import asyncio
import sys

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.config import CommonSettings
from shared.db import create_db_engine
from trading_service.order_status import OPEN, OrderStatus, sql_list

# Each query returns one row per violation; the first column names it.
CHECKS: dict[str, str] = {
    "cash is conserved (all accounts incl. the house sum to the grants)": """
        SELECT 'total cash ' || sum(cash) || ' != grants ' || sum(granted_cash)
        FROM accounts HAVING sum(cash) <> sum(granted_cash)""",
    "shares are conserved (users + house = 0 per symbol)": """
        SELECT symbol || ' net ' || sum(qty) FROM positions GROUP BY symbol HAVING sum(qty) <> 0""",
    "no negative cash, reservation or holding (users)": """
        SELECT 'account ' || id || ' cash ' || cash || ' reserved ' || reserved_cash
        FROM accounts WHERE NOT house AND (cash < 0 OR reserved_cash < 0 OR reserved_cash > cash)
        UNION ALL
        SELECT 'position ' || account_id || ' ' || symbol || ' qty ' || qty || ' reserved '
               || reserved_qty
        FROM positions WHERE NOT house AND (qty < 0 OR reserved_qty < 0 OR reserved_qty > qty)""",
    "account reservations equal their open orders' reservations": """
        SELECT 'account ' || a.id || ' reserves ' || a.reserved_cash || ', its orders ' ||
               coalesce(o.total, 0)
        FROM accounts a LEFT JOIN (
            SELECT account_id, sum(reserved_cash) AS total FROM orders GROUP BY account_id
        ) o ON o.account_id = a.id
        WHERE a.reserved_cash <> coalesce(o.total, 0)""",
    "position reservations equal their open sell orders' reservations": """
        SELECT 'position ' || p.account_id || ' ' || p.symbol || ' reserves ' || p.reserved_qty
               || ', its orders ' || coalesce(o.total, 0)
        FROM positions p LEFT JOIN (
            SELECT account_id, symbol, sum(reserved_qty) AS total FROM orders
            GROUP BY account_id, symbol
        ) o ON o.account_id = p.account_id AND o.symbol = p.symbol
        WHERE p.reserved_qty <> coalesce(o.total, 0)""",
    "filled_qty of an order = sum of its fills": """
        SELECT 'order ' || o.id || ' filled_qty ' || o.filled_qty || ' fills ' || coalesce(f.q, 0)
        FROM orders o LEFT JOIN (SELECT order_id, sum(qty) AS q, sum(price * qty) AS n
                                 FROM fills GROUP BY order_id) f ON f.order_id = o.id
        WHERE o.filled_qty <> coalesce(f.q, 0) OR o.filled_notional <> coalesce(f.n, 0)""",
    "a terminal order holds no reservation; an open one is not overfilled": f"""
        SELECT 'order ' || id || ' ' || status || ' reserves ' || reserved_cash || ' / '
               || reserved_qty
        FROM orders WHERE (status NOT IN {sql_list(OPEN)}
                           AND (reserved_cash <> 0 OR reserved_qty <> 0))
                       OR filled_qty > qty
                       OR (status = '{OrderStatus.FILLED.value}' AND filled_qty <> qty)""",
    "every trade has one fill per user side": """
        SELECT 'trade ' || t.id || ' has ' || count(f.id) || ' fills'
        FROM trades t LEFT JOIN fills f ON f.trade_id = t.id
        GROUP BY t.id, t.buy_order_id, t.sell_order_id
        HAVING count(f.id) <> (t.buy_order_id IS NOT NULL)::int
                             + (t.sell_order_id IS NOT NULL)::int""",
}


async def audit(conn: AsyncConnection) -> dict[str, list[str]]:
    """Invariant name → violations (empty when it holds)."""
    return {
        name: [str(r[0]) for r in await conn.execute(text(sql))] for name, sql in CHECKS.items()
    }


async def _main() -> int:
    db = create_db_engine(CommonSettings().database_url, pool_size=1)
    try:
        async with db.connect() as conn:
            found = await audit(conn)
    finally:
        await db.dispose()
    failed = 0
    for name, violations in found.items():
        print(f"{'FAIL' if violations else 'ok  '}  {name}")
        for v in violations[:20]:
            print(f"        {v}")
        failed += len(violations)
    print(f"{failed} violation(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main()))
