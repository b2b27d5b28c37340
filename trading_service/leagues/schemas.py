from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.money import Money
from trading_service.orders.schemas import SYMBOL_PATTERN

Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN, max_length=10, to_upper=True)]


class LeagueCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "Class 7b, spring",
                    "starting_cash": "10000.00",
                    "starts_at": "2026-03-01T08:00:00Z",
                    "ends_at": "2026-06-30T16:00:00Z",
                    "allowed_symbols": ["AAPL", "MSFT"],
                    "max_order_value": "2500.00",
                    "allow_reset": False,
                }
            ]
        },
    )

    # No control characters (PostgreSQL refuses a NUL in text: that would be a 500).
    name: str = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
    starting_cash: Decimal = Field(gt=0, le=Decimal("1000000000"), decimal_places=2)
    starts_at: datetime | None = Field(default=None, description="Default: now")
    ends_at: datetime | None = Field(default=None, description="null: open-ended")
    allowed_symbols: list[Symbol] | None = Field(
        default=None, min_length=1, max_length=500, description="null: every symbol"
    )
    max_order_value: Decimal | None = Field(
        default=None,
        gt=0,
        le=Decimal("1000000000000"),
        decimal_places=2,
        description="Largest qty x price of one order",
    )
    allow_reset: bool = False
    public: bool = Field(default=False, description="Anyone may see its leaderboard and equity")

    @model_validator(mode="after")
    def _dates(self) -> LeagueCreate:
        for value in (self.starts_at, self.ends_at):
            if value is not None and value.tzinfo is None:
                raise ValueError("times need a time zone, e.g. 2026-03-01T08:00:00Z")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class LeagueOut(BaseModel):
    id: uuid.UUID
    name: str
    invite_code: str | None = Field(description="Shown to administrators only")
    starting_cash: Money
    starts_at: datetime
    ends_at: datetime | None
    allowed_symbols: list[str] | None
    max_order_value: Money | None
    allow_reset: bool
    public: bool
    status: str = Field(description="upcoming | open | ended")
    closed_at: datetime | None
    finalized_at: datetime | None = Field(description="Orders canceled, standings frozen")
    created_at: datetime


class JoinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite_code: str = Field(min_length=1, max_length=64, pattern=r"^\s*[A-Za-z0-9]+\s*$")


class StandingOut(BaseModel):
    rank: int
    username: str
    account_id: uuid.UUID
    equity: Money
    return_pct: Money = Field(description="(equity - starting cash) / starting cash x 100")
    trades: int = Field(description="Fills since the account's last reset")


class EquityPoint(BaseModel):
    ts: datetime
    equity: Money


class EquitySeries(BaseModel):
    account_id: uuid.UUID
    username: str
    points: list[EquityPoint]


class MemberOut(BaseModel):
    account_id: uuid.UUID
    user_id: uuid.UUID
    username: str
    cash: Money
    reserved_cash: Money
    frozen: bool
    joined_at: datetime
