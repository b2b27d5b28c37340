"""Sign-up and sign-in on behalf of the browser: calls the user service server-side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from shared.errors import DomainError, ServiceUnavailable
from trading_service.session.schemas import LoginIn, RegisterIn, SessionOut


class UserServiceRefused(DomainError):
    """The user service's own 4xx answer, passed on unchanged to the browser."""

    def __init__(self, status: int, error: str, detail: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int


class UserService:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(self, body: RegisterIn, client_address: str) -> None:
        await self._call("POST", "/register", client_address, json=body.model_dump())

    async def login(self, body: LoginIn, client_address: str) -> AccessToken:
        answer = await self._call("POST", "/login", client_address, json=body.model_dump())
        return AccessToken(str(answer["access_token"]), int(answer["expires_in"]))

    async def whoami(self, token: str, client_address: str) -> SessionOut:
        answer = await self._call(
            "GET", "/me", client_address, headers={"Authorization": f"Bearer {token}"}
        )
        return SessionOut(
            account_id=answer["id"], username=answer["username"], email=answer["email"]
        )

    async def forward(
        self, method: str, path: str, client_address: str, token: str, json: Any = None
    ) -> Any:
        """A call with the browser's token, answered with the user service's JSON as is."""
        return await self._call(
            method,
            path,
            client_address,
            json=json,
            headers={"Authorization": f"Bearer {token}"},
            any_body=True,
        )

    async def _call(
        self,
        method: str,
        path: str,
        client_address: str,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        any_body: bool = False,
    ) -> Any:
        # Forwarded so a user service that trusts this proxy throttles per browser, not per API.
        sent = {"X-Forwarded-For": client_address, **(headers or {})}
        try:
            response = await self.client.request(method, path, json=json, headers=sent)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"user service unreachable: {type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise ServiceUnavailable(f"user service answered {response.status_code}")
        body: Any = response.json() if response.content else {}
        if response.status_code >= 400:
            if not isinstance(body, dict):
                body = {}
            raise UserServiceRefused(
                response.status_code,
                str(body.get("error", "bad_request")),
                body.get("detail", "refused by the user service"),
            )
        return body if any_body or isinstance(body, dict) else {}
