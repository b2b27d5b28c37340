from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from shared.money import Money


class LeaderOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "rank": 1,
                    "name": "john_doe",
                    "equity": "101250.40",
                    "return_pct": "1.25",
                    "positions": 3,
                }
            ]
        }
    )

    rank: int
    name: str = Field(
        description="The user name, or trader-xxxxxxxx (the account id's first 8 hex digits) for "
        "an account without one"
    )
    equity: Money = Field(description="cash + positions at the latest reference prices")
    return_pct: Money = Field(description="(equity - starting cash) / starting cash x 100")
    positions: int = Field(description="Symbols held")

    @staticmethod
    def pct(equity: Decimal, start: Decimal) -> Decimal:
        return (equity - start) * 100 / start
