"""API keys (Alpaca-style id + secret, one account, secret hashed) and /v2 replace links.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # secret_hash: HMAC-SHA256 of a 240-bit random secret (shared/api_keys.py). account_id has
    # no foreign key: accounts are created on first use, so a key may name one not yet created.
    op.execute(
        """
        CREATE TABLE api_keys (
            key_id       text PRIMARY KEY,
            user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            account_id   uuid NOT NULL,
            label        text NOT NULL,
            secret_hash  bytea NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz
        )
        """
    )
    op.execute("CREATE INDEX api_keys_user ON api_keys (user_id, created_at)")
    # A /v2 replace (trading_service/alpaca): the old order, canceled, and the new one that
    # replaces it, created in the same transaction as this row.
    op.execute(
        """
        CREATE TABLE order_replacements (
            old_order_id uuid PRIMARY KEY REFERENCES orders (id),
            new_order_id uuid NOT NULL UNIQUE REFERENCES orders (id),
            replaced_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE order_replacements")
    op.execute("DROP TABLE api_keys")
