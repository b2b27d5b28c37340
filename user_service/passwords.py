"""Argon2 password hashing (passlib API from `libpass`), off the event loop."""

from __future__ import annotations

import asyncio
import secrets

from passlib.context import CryptContext


class PasswordHasher:
    def __init__(self) -> None:
        # deprecated="auto": hashes with outdated parameters report needs_update and get rehashed
        self._context = CryptContext(schemes=["argon2"], deprecated="auto")
        # Unknown emails are checked against this, so they cost as much time as a wrong password.
        self._dummy_hash = self._context.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        # Argon2 takes ~0.1 s of CPU by design: run it in a thread so requests keep flowing.
        return await asyncio.to_thread(self._context.hash, password)

    async def verify(self, password: str, password_hash: str) -> bool:
        return bool(await asyncio.to_thread(self._context.verify, password, password_hash))

    async def spend_verify_time(self, password: str) -> None:
        """Do the work of a verification that cannot succeed (for an unknown email)."""
        await asyncio.to_thread(self._context.verify, password, self._dummy_hash)

    def needs_update(self, password_hash: str) -> bool:
        return bool(self._context.needs_update(password_hash))
