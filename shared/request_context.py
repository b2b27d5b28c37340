"""The request id and the account id of the work in progress, on every log line it writes.

Each HTTP request gets an id: the client's `X-Request-ID` when it is well-formed (so a caller can
follow its own request across services), else a new one; the response echoes it. Code that
learns the account (token verification) binds it. The log record factory copies both onto every
record written inside the request, whichever handler then formats it; the order message carries
the request id to the engine, which binds it again around its own lines for that order.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
# Printable, no spaces or quotes, bounded: safe in a header, a log field and a Kafka message.
_WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@/+=-]{0,127}")

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
account_id: ContextVar[str | None] = ContextVar("account_id", default=None)

access_log = logging.getLogger("stocksim.access")


def accept_request_id(raw: str | None) -> str:
    """The client's id if well-formed, else a fresh one."""
    if raw is not None and _WELL_FORMED.fullmatch(raw):
        return raw
    return uuid.uuid4().hex


def well_formed(raw: object) -> str | None:
    """`raw` when it is a well-formed request id (e.g. read from a message), else None."""
    return raw if isinstance(raw, str) and _WELL_FORMED.fullmatch(raw) else None


def bind_account(account: uuid.UUID | str) -> None:
    account_id.set(str(account))


@contextlib.contextmanager
def bound(request: str | None, account: uuid.UUID | str | None) -> Iterator[None]:
    """Both ids for the lines written inside (the engine, per order message)."""
    tokens = (request_id.set(request), account_id.set(str(account) if account else None))
    try:
        yield
    finally:
        request_id.reset(tokens[0])
        account_id.reset(tokens[1])


_base_factory = logging.getLogRecordFactory()


def _record_with_context(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    if (rid := request_id.get()) is not None:
        record.request_id = rid
    if (account := account_id.get()) is not None:
        record.account_id = account
    return record


def install_log_context() -> None:
    """Idempotent: every log record from now on carries the ids bound where it was written."""
    if logging.getLogRecordFactory() is not _record_with_context:
        logging.setLogRecordFactory(_record_with_context)
