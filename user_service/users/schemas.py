"""What clients send to register and what they get back about a user (never the password)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from user_service.password_policy import MAX_LENGTH, MIN_LENGTH

Username = Annotated[
    str,
    Field(
        min_length=3,
        max_length=32,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="3 to 32 letters, digits, '_', '.' or '-'; unique ignoring case",
    ),
]
# The upper bound keeps a request from making the server hash megabytes (Argon2 is costly).
# The rest of the policy (user_service/password_policy.py) answers 422 `weak_password` in words.
Password = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_LENGTH,
        description=(
            f"{MIN_LENGTH} to {MAX_LENGTH} characters; not one of the 10,000 most common "
            "passwords (also with digits or symbols added at the end), not containing the user "
            "name or email, not one repeated character"
        ),
    ),
]


class RegisterRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "username": "john_doe",
                    "email": "john@example.com",
                    "password": "plum-kettle-orbit-42",
                }
            ]
        }
    )

    username: Username
    email: EmailStr = Field(description="Unique ignoring case; stored lowercased")
    password: Password


class DeleteUserRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": "securepassword"}]})

    password: str = Field(min_length=1, max_length=128, description="Your current password")


class UserOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "0b7f4c2e-8f0a-4a57-9d0e-5f1a2b3c4d5e",
                    "username": "john_doe",
                    "email": "john@example.com",
                    "created_at": "2026-11-02T09:30:00Z",
                }
            ]
        },
    )

    id: uuid.UUID
    username: str
    email: str
    created_at: datetime
