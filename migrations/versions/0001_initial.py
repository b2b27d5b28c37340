"""Users, accounts, positions, orders, trades, fills and the engine's offsets.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


SCHEMA = """
        CREATE TABLE users (
            id            uuid PRIMARY KEY,
            username      text NOT NULL,
            email         text NOT NULL,
            password_hash text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE UNIQUE INDEX users_username_key ON users (lower(username));
        CREATE UNIQUE INDEX users_email_key ON users (lower(email));

        CREATE TABLE accounts (
            id            uuid PRIMARY KEY,
            house         boolean NOT NULL DEFAULT false,
            cash          numeric(20, 2) NOT NULL,
            reserved_cash numeric(20, 2) NOT NULL DEFAULT 0,
            granted_cash  numeric(20, 2) NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            -- invariant 1: a user's cash and reservation never go negative or past each other
            CONSTRAINT accounts_cash_ok CHECK (
                house OR (reserved_cash >= 0 AND cash >= reserved_cash))
        );
        INSERT INTO accounts (id, house, cash, granted_cash)
        VALUES ('00000000-0000-0000-0000-000000000000', true, 0, 0);

        CREATE TABLE positions (
            account_id   uuid NOT NULL REFERENCES accounts (id),
            symbol       text NOT NULL,
            house        boolean NOT NULL DEFAULT false,
            qty          bigint NOT NULL DEFAULT 0,
            reserved_qty bigint NOT NULL DEFAULT 0,
            cost_basis   numeric(20, 2) NOT NULL DEFAULT 0,
            realized_pnl numeric(20, 2) NOT NULL DEFAULT 0,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (account_id, symbol),
            -- no naked shorting for users; the house is the counterparty and may go short
            CONSTRAINT positions_qty_ok CHECK (
                house OR (reserved_qty >= 0 AND qty >= reserved_qty))
        );

        CREATE TABLE orders (
            id               uuid PRIMARY KEY,
            account_id       uuid NOT NULL REFERENCES accounts (id),
            client_order_id  text NOT NULL,
            symbol           text NOT NULL,
            side             text NOT NULL CHECK (side IN ('buy', 'sell')),
            type             text NOT NULL CHECK (type IN ('market', 'limit', 'stop', 'stop_limit')),
            time_in_force    text NOT NULL CHECK (time_in_force IN ('day', 'gtc', 'ioc', 'fok')),
            qty              bigint NOT NULL CHECK (qty > 0),
            limit_price      numeric(20, 2),
            stop_price       numeric(20, 2),
            protection_price numeric(20, 2),
            status           text NOT NULL CHECK (status IN
                ('new', 'partially_filled', 'filled', 'canceled', 'expired', 'rejected')),
            filled_qty       bigint NOT NULL DEFAULT 0,
            filled_notional  numeric(20, 2) NOT NULL DEFAULT 0,
            reserved_cash    numeric(20, 2) NOT NULL DEFAULT 0,
            reserved_qty     bigint NOT NULL DEFAULT 0,
            reject_reason    text,
            priority         bigint,
            accepted_at      timestamptz,
            published_at     timestamptz,
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            UNIQUE (account_id, client_order_id),
            CONSTRAINT orders_fill_ok CHECK (filled_qty >= 0 AND filled_qty <= qty),
            CONSTRAINT orders_reservation_ok CHECK (reserved_cash >= 0 AND reserved_qty >= 0),
            -- invariant 3: a terminal order holds no reservation
            CONSTRAINT orders_terminal_unreserved CHECK (
                status IN ('new', 'partially_filled') OR (reserved_cash = 0 AND reserved_qty = 0))
        );
        CREATE INDEX orders_account_created ON orders (account_id, created_at DESC);
        CREATE INDEX orders_open_by_symbol ON orders (symbol, priority)
            WHERE status IN ('new', 'partially_filled');
        CREATE INDEX orders_unaccepted ON orders (created_at) WHERE accepted_at IS NULL;

        CREATE TABLE trades (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            symbol         text NOT NULL,
            price          numeric(20, 2) NOT NULL,
            qty            bigint NOT NULL CHECK (qty > 0),
            aggressor_side text NOT NULL,
            buy_order_id   uuid,
            sell_order_id  uuid,
            ts             timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX trades_symbol_ts ON trades (symbol, id DESC);

        CREATE TABLE fills (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            trade_id   bigint NOT NULL REFERENCES trades (id),
            order_id   uuid NOT NULL REFERENCES orders (id),
            account_id uuid NOT NULL REFERENCES accounts (id),
            symbol     text NOT NULL,
            side       text NOT NULL,
            price      numeric(20, 2) NOT NULL,
            qty        bigint NOT NULL CHECK (qty > 0),
            liquidity  text NOT NULL,
            ts         timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX fills_order ON fills (order_id);
        CREATE INDEX fills_account ON fills (account_id, id DESC);

        CREATE TABLE engine_offsets (
            topic       text NOT NULL,
            partition   integer NOT NULL,
            next_offset bigint NOT NULL,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (topic, partition)
        );

        CREATE TABLE reference_prices (
            symbol text PRIMARY KEY,
            price  numeric(20, 2) NOT NULL,
            seq    bigint NOT NULL,
            ts     timestamptz NOT NULL
        );
"""


def upgrade() -> None:
    # asyncpg prepares each statement, and a prepared statement holds exactly one command
    for statement in SCHEMA.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    op.execute(
        "DROP TABLE reference_prices, engine_offsets, fills, trades, orders, positions, "
        "accounts, users"
    )
