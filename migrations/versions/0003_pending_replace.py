"""Replaces the API accepted and the engine has not settled yet: one pending set of terms.

Concurrent PATCHes of one order are checked against each other: each takes the order's row lock
and builds on the terms of the latest accepted replace (`pending_*` while `replace_seq` is ahead
of `replace_applied_seq`), not on the terms the engine last applied.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE orders
            ADD COLUMN replace_seq              bigint NOT NULL DEFAULT 0,
            ADD COLUMN replace_applied_seq      bigint NOT NULL DEFAULT 0,
            ADD COLUMN pending_qty              bigint,
            ADD COLUMN pending_limit_price      numeric(20, 2),
            ADD COLUMN pending_stop_price       numeric(20, 2),
            ADD COLUMN pending_protection_price numeric(20, 2),
            ADD COLUMN replace_reject_reason    text,
            ADD CONSTRAINT orders_replace_seq_ok CHECK (replace_applied_seq <= replace_seq)
        """
    )


def downgrade() -> None:
    op.execute(
        """
        ALTER TABLE orders
            DROP CONSTRAINT orders_replace_seq_ok,
            DROP COLUMN replace_reject_reason,
            DROP COLUMN pending_protection_price,
            DROP COLUMN pending_stop_price,
            DROP COLUMN pending_limit_price,
            DROP COLUMN pending_qty,
            DROP COLUMN replace_applied_seq,
            DROP COLUMN replace_seq
        """
    )
