"""What clients send to create an API key and what they see of their keys."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class CreateKeyRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"label": "my trading bot"}]}
    )

    label: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="A name for the key, 1 to 64 printable characters",
    )
    account_id: uuid.UUID | None = Field(
        default=None,
        description="The account the key trades; default the user's own (account id = user id)",
    )


class CreatedKey(BaseModel):
    key_id: str = Field(description="Send as the APCA-API-KEY-ID header")
    secret_key: str = Field(
        description="Send as the APCA-API-SECRET-KEY header. Shown only here: store it now"
    )
    label: str
    account_id: uuid.UUID
    created_at: datetime


class KeyOut(BaseModel):
    key_id: str
    label: str
    account_id: uuid.UUID
    created_at: datetime
    last_used_at: datetime | None = Field(description="Within a minute; null: never used")
