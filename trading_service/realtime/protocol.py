"""What a client may send: one JSON object per frame, with an "action"."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.errors import DomainError
from shared.serving import WS_MAX_MESSAGE_BYTES
from trading_service.realtime.channels import BadChannel, parse_channel

# uvicorn refuses larger frames before reading them (shared/serving.py); this catches the rest.
MAX_MESSAGE_BYTES = WS_MAX_MESSAGE_BYTES


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["auth", "subscribe", "unsubscribe"]
    token: str | None = None
    channels: list[str] = Field(default_factory=list, max_length=500)


class BadMessage(DomainError):
    error = "bad_message"


def parse_message(raw: str | bytes | None) -> ClientMessage:
    """Raises BadMessage with a reason a client developer can act on."""
    if raw is None or len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"send one JSON text frame of at most {MAX_MESSAGE_BYTES} bytes")
    try:
        message = ClientMessage.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "message"
        raise BadMessage(
            f'{where}: {first.get("msg")}; expected {{"action": "auth" | "subscribe" | '
            f'"unsubscribe", ...}}'
        ) from None
    if message.action == "auth" and not message.token:
        raise BadMessage("auth needs a 'token'")
    if message.action != "auth":
        if not message.channels:
            raise BadMessage(f"{message.action} needs a non-empty 'channels' list")
        try:
            message.channels = [parse_channel(c) for c in message.channels]
        except BadChannel as exc:
            raise BadMessage(str(exc)) from None
    return message
