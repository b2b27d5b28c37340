"""Accounts owned by users (several per user), classroom leagues, resets, equity snapshots.

The personal account keeps id = user id; a league account gets its own id.

Revision ID: 0008
Revises: 0006
"""

from alembic import op

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = (
    """
    CREATE TABLE leagues (
        id               uuid PRIMARY KEY,
        name             text NOT NULL,
        invite_code      text NOT NULL,
        starting_cash    numeric(20, 2) NOT NULL CHECK (starting_cash > 0),
        starts_at        timestamptz NOT NULL,
        ends_at          timestamptz,
        allowed_symbols  text[],
        max_order_value  numeric(20, 2) CHECK (max_order_value > 0),
        allow_reset      boolean NOT NULL DEFAULT false,
        public           boolean NOT NULL DEFAULT false,
        created_by       uuid NOT NULL,
        closed_at        timestamptz,
        finalized_at     timestamptz,
        created_at       timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT leagues_dates_ok CHECK (ends_at IS NULL OR ends_at > starts_at)
    )""",
    "CREATE UNIQUE INDEX leagues_invite_code_key ON leagues (invite_code)",
    """
    ALTER TABLE accounts
        ADD COLUMN user_id uuid,
        ADD COLUMN league_id uuid REFERENCES leagues (id),
        ADD COLUMN frozen_at timestamptz,
        ADD COLUMN reset_count integer NOT NULL DEFAULT 0,
        ADD COLUMN reset_at timestamptz""",
    "UPDATE accounts SET user_id = id WHERE NOT house",
    # one account per user per league
    """
    CREATE UNIQUE INDEX accounts_user_league_key ON accounts (user_id, league_id)
        WHERE league_id IS NOT NULL""",
    "CREATE INDEX accounts_user_id ON accounts (user_id)",
    "CREATE INDEX accounts_league_id ON accounts (league_id) WHERE league_id IS NOT NULL",
    # Equity of every league account over time; `final` rows are the frozen standings.
    """
    CREATE TABLE league_equity (
        league_id  uuid NOT NULL REFERENCES leagues (id),
        account_id uuid NOT NULL REFERENCES accounts (id),
        ts         timestamptz NOT NULL,
        equity     numeric(20, 2) NOT NULL,
        trades     bigint NOT NULL,
        final      boolean NOT NULL DEFAULT false,
        PRIMARY KEY (league_id, account_id, ts)
    )""",
)

DOWNGRADE = (
    "DROP TABLE league_equity",
    """
    ALTER TABLE accounts DROP COLUMN user_id, DROP COLUMN league_id, DROP COLUMN frozen_at,
        DROP COLUMN reset_count, DROP COLUMN reset_at""",
    "DROP TABLE leagues",
)


def upgrade() -> None:
    for statement in UPGRADE:  # asyncpg runs one statement per call
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
