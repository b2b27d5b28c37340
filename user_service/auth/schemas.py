"""Login request and the access token it returns."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LoginRequest(BaseModel):
    """Who logs in: an email or a user name (exactly one of the two fields), and the password.

    `email` also accepts a user name (a user name never contains '@', an email always does), so
    a form with one "email or user name" box can send it as `email`.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"email": "john@example.com", "password": "plum-kettle-orbit-42"},
                {"username": "john_doe", "password": "plum-kettle-orbit-42"},
            ]
        }
    )

    # No control characters: no address has them, and PostgreSQL refuses a NUL outright.
    email: str | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Your email, or your user name",
    )
    username: str | None = Field(
        default=None,
        min_length=1,
        max_length=320,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="Your user name (instead of `email`)",
    )
    password: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_identifier(self) -> LoginRequest:
        if (self.email is None) == (self.username is None):
            raise ValueError("send either email or username, not both or neither")
        return self

    @property
    def identifier(self) -> str:
        return self.email if self.email is not None else self.username or ""


class AccessTokenOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFZERTQSIs...",
                    "token_type": "bearer",
                    "expires_in": 3600,
                }
            ]
        }
    )

    access_token: str = Field(description="JWT (EdDSA) to send as 'Authorization: Bearer <token>'")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the token expires")
