"""The floor of the web stack: what FastAPI + asyncpg reach for one order-shaped transaction with
nothing else in the way (../shared/bench/README.md, "The floor of the web stack").

`POST /order` validates a pydantic body `{symbol, qty, side, price}`, verifies the bearer token
exactly as the trading service does (Ed25519 JWT, `shared.tokens`), then runs ONE asyncpg
transaction: `SELECT cash ... FOR UPDATE`, check, `UPDATE ... SET cash`, `INSERT ... RETURNING
id, created_at`, and answers the order as JSON. Its own tables (`floor_accounts`,
`floor_orders`) in the same PostgreSQL leave the real schema alone. `bench.order_path` starts it
under uvicorn (uvloop, httptools, 1 worker, no access log) next to the real system:

    FLOOR_DATABASE_URL=postgresql://... FLOOR_JWKS_FILE=jwks.json \
        python -m uvicorn bench.floor:app --loop uvloop --http httptools --no-access-log
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Header, Request
from pydantic import BaseModel, Field

from shared.errors import Conflict, Unauthorized, install_error_handlers
from shared.tokens import TokenVerifier, load_jwks, read_bearer

SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_accounts (
    id uuid PRIMARY KEY,
    cash numeric(20, 2) NOT NULL CHECK (cash >= 0)
);
CREATE TABLE IF NOT EXISTS floor_orders (
    id bigserial PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES floor_accounts (id),
    symbol text NOT NULL,
    side text NOT NULL,
    qty integer NOT NULL,
    price numeric(20, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
"""


def plain_dsn(database_url: str) -> str:
    """asyncpg's DSN from the SQLAlchemy-style URL the services use."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def prepare(database_url: str, accounts: Sequence[uuid.UUID], cash: Decimal) -> None:
    """The floor's tables, holding `accounts` (the benchmark's users) with `cash` each."""
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await conn.execute(SCHEMA)
        await conn.executemany(
            "INSERT INTO floor_accounts (id, cash) VALUES ($1, $2) "
            "ON CONFLICT (id) DO UPDATE SET cash = excluded.cash",
            [(a, cash) for a in accounts],
        )
    finally:
        await conn.close()


class OrderIn(BaseModel):
    symbol: str = Field(pattern=r"^[A-Z]{1,10}$")
    qty: int = Field(gt=0, le=1_000_000)
    side: Literal["buy", "sell"]
    price: Decimal = Field(gt=0, le=1_000_000, max_digits=12, decimal_places=2)


class OrderOut(BaseModel):
    id: int
    symbol: str
    qty: int
    side: str
    price: Decimal
    created_at: datetime


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    jwks = await load_jwks(path=Path(os.environ["FLOOR_JWKS_FILE"]))
    app.state.verifier = TokenVerifier(
        jwks,
        os.environ.get("FLOOR_JWT_ISSUER", "stocksim-user-service"),
        os.environ.get("FLOOR_JWT_AUDIENCE", "stocksim"),
    )
    pool_size = int(os.environ.get("FLOOR_DB_POOL_SIZE", "20"))  # the trading API's default
    app.state.pool = await asyncpg.create_pool(
        plain_dsn(os.environ["FLOOR_DATABASE_URL"]), min_size=pool_size, max_size=pool_size
    )
    try:
        yield
    finally:
        await app.state.pool.close()


app = FastAPI(title="stocksim floor", lifespan=lifespan)
install_error_handlers(app)


@app.post("/order", status_code=201)
async def place_order(
    body: OrderIn, request: Request, authorization: Annotated[str | None, Header()] = None
) -> OrderOut:
    """A buy takes qty x price from the account's cash; a sell leaves it (same statements)."""
    claims = request.app.state.verifier.verify(read_bearer(authorization))
    change = -body.qty * body.price if body.side == "buy" else Decimal("0.00")
    async with request.app.state.pool.acquire() as conn, conn.transaction():
        cash = await conn.fetchval(
            "SELECT cash FROM floor_accounts WHERE id = $1 FOR UPDATE", claims.sub
        )
        if cash is None:
            raise Unauthorized("no such account")
        if cash + change < 0:
            raise Conflict("insufficient funds")
        await conn.execute(
            "UPDATE floor_accounts SET cash = cash + $2 WHERE id = $1", claims.sub, change
        )
        row = await conn.fetchrow(
            "INSERT INTO floor_orders (account_id, symbol, side, qty, price) "
            "VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at",
            claims.sub,
            body.symbol,
            body.side,
            body.qty,
            body.price,
        )
    return OrderOut(
        id=row["id"],
        symbol=body.symbol,
        qty=body.qty,
        side=body.side,
        price=body.price,
        created_at=row["created_at"],
    )
