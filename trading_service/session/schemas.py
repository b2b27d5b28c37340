"""Bodies of the browser session endpoints (the user service validates them fully)."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field


class RegisterIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"username": "john_doe", "email": "john@example.com", "password": "securepassword"}
            ]
        }
    )

    username: str = Field(min_length=1, max_length=64)
    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=128)


class LoginIn(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"email": "john@example.com", "password": "securepassword"}]
        }
    )

    email: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=128)


class SessionOut(BaseModel):
    """Who the session cookie belongs to. The token itself stays in the HttpOnly cookie."""

    account_id: uuid.UUID
    username: str
    email: str
    expires_in: int | None = Field(
        default=None, description="Seconds until the session ends (on sign-in and sign-up)"
    )
