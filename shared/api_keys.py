"""API keys shared by the user service (issues them) and the trading service (checks them).

A key is an id (`PK` + 18 characters, as Alpaca's look) and a secret of 240 random bits. Only
an HMAC-SHA256 of the secret is stored: a secret that random cannot be guessed from its hash,
so a slow password hash (Argon2) would add nothing but cost on every API request. The HMAC key
(`API_KEY_PEPPER`, the same for both services) means a copy of the table alone does not even
allow checking a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import uuid

from sqlalchemy import Column, DateTime, LargeBinary, MetaData, Table, Text, Uuid, func

KEY_ID_PREFIX = "PK"
KEY_ID_LENGTH = 20
SECRET_LENGTH = 40
_KEY_ID_ALPHABET = string.ascii_uppercase + string.digits

metadata = MetaData()

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("user_id", Uuid, nullable=False),
    Column("account_id", Uuid, nullable=False),
    Column("label", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_used_at", DateTime(timezone=True)),
)


def new_key_id() -> str:
    body = "".join(
        secrets.choice(_KEY_ID_ALPHABET) for _ in range(KEY_ID_LENGTH - len(KEY_ID_PREFIX))
    )
    return KEY_ID_PREFIX + body


def new_secret() -> str:
    return secrets.token_urlsafe(30)  # 30 bytes = 240 bits, 40 characters


def hash_secret(pepper: str, key_id: str, secret: str) -> bytes:
    # The key id is part of the message, so one secret hashes differently under two ids.
    message = f"{key_id}\x00{secret}".encode()
    return hmac.new(pepper.encode(), message, hashlib.sha256).digest()


def secret_matches(pepper: str, key_id: str, secret: str, stored: bytes) -> bool:
    return hmac.compare_digest(hash_secret(pepper, key_id, secret), stored)


def looks_like_key_id(value: str) -> bool:
    return (
        len(value) == KEY_ID_LENGTH
        and value.startswith(KEY_ID_PREFIX)
        and all(c in _KEY_ID_ALPHABET for c in value)
    )


def personal_account(user_id: uuid.UUID) -> uuid.UUID:
    """The account a key trades when none is named: the user's own (account id = user id)."""
    return user_id
