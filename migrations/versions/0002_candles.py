"""Candles (OHLCV bars) and an index to sum trade volume by time.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE candles (
            symbol     text NOT NULL,
            interval   text NOT NULL,
            start_ts   timestamptz NOT NULL,
            end_ts     timestamptz NOT NULL,
            open       numeric(20, 2) NOT NULL,
            high       numeric(20, 2) NOT NULL,
            low        numeric(20, 2) NOT NULL,
            close      numeric(20, 2) NOT NULL,
            open_seq   bigint NOT NULL,
            close_seq  bigint NOT NULL,
            volume     bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (symbol, interval, start_ts),
            CONSTRAINT candles_interval_ok CHECK (interval IN ('1m', '5m', '15m', '1h', '1d')),
            CONSTRAINT candles_range_ok CHECK (low <= high AND end_ts > start_ts)
        )
        """
    )
    op.execute("CREATE INDEX trades_symbol_time ON trades (symbol, ts)")


def downgrade() -> None:
    op.execute("DROP INDEX trades_symbol_time")
    op.execute("DROP TABLE candles")
