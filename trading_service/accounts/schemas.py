from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from shared.money import Money


class AccountOut(BaseModel):
    """One of your accounts: the personal one (id = your user id) or one per league you joined."""

    id: uuid.UUID
    league_id: uuid.UUID | None = Field(description="null for the personal account")
    league_name: str | None = None
    cash: Money
    reserved_cash: Money
    buying_power: Money
    frozen: bool = Field(description="Removed from its league: the account takes no orders")
    reset_count: int
    reset_at: datetime | None = Field(description="Orders and fills before it are history")
    created_at: datetime
