"""The market clock's epoch, the generated history's bookkeeping, candles in market time.

Revision ID: 0006
Revises: 0003
"""

from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row: the wall instant trading day 0 opened at the stored speed, and that day
    # (shared/market_epoch.py).
    op.execute(
        """
        CREATE TABLE market_clock (
            id         smallint PRIMARY KEY CHECK (id = 1),
            epoch      timestamptz NOT NULL,
            time_scale double precision NOT NULL CHECK (time_scale > 0),
            day_zero   date NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # One row per symbol whose past the stock service has written into `candles`, in the same
    # transaction as the bars: the history is generated exactly once, whoever starts first.
    op.execute(
        """
        CREATE TABLE market_history (
            symbol       text PRIMARY KEY,
            anchor_price numeric(20, 2) NOT NULL,
            bars         integer NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    # Bars used to be bucketed by wall time; from now on they are bucketed by market time, and
    # old wall-time bars would sit in the middle of the generated history. They only drew charts.
    op.execute("DELETE FROM candles")


def downgrade() -> None:
    op.execute("DROP TABLE market_history")
    op.execute("DROP TABLE market_clock")
