"""A lean HTTP/1.1 client for the traders' hot path: keep-alive connections, httptools parsing.

The traffic generator runs on the same cores as the exchange it measures, so every bit of CPU it
spends per request is taken from the server. httpx spent most of the generator's CPU on each
request (request and URL objects, anyio cancel scopes, h11 events); this client writes each
request in one piece on a connection kept open and parses the answer with httptools, the parser
uvicorn itself uses. It only speaks what the trading API answers with: a body of known length
(or chunked), on one connection per request in flight.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import time
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit

import httptools

# A connection idle this long is closed, not reused: uvicorn closes a keep-alive connection
# after 5 s idle (its --timeout-keep-alive), and a request written just as the server closes
# it is lost in flight (a ReadError the soak counted, though the server did nothing wrong).
IDLE_EXPIRY_S = 4.0


class TransportError(Exception):
    """No answer: the request may or may not have reached the server."""


class ConnectError(TransportError):
    pass


class ReadError(TransportError):
    pass


class ReadTimeout(TransportError):
    pass


@dataclass(slots=True)
class Response:
    status_code: int
    content: bytes
    headers: dict[str, str]  # names in lower case

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode(errors="replace")


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time (the client takes it out of the pool)."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._answer: asyncio.Future[Response] | None = None
        self._body: list[bytes] = []
        self._headers: dict[str, str] = {}
        self.open = False
        self.idle_since = 0.0  # time.monotonic() when it last went back to the pool

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass of it
        self.open = True

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ReadError(f"malformed answer: {exc}"))
            self.close()

    def eof_received(self) -> bool:
        self.open = False
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        self._fail(ReadError(f"connection closed before the answer ({exc!r})"))

    # --- httptools callbacks ----------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        response = Response(self._parser.get_status_code(), b"".join(self._body), self._headers)
        self._body, self._headers = [], {}
        if not self._parser.should_keep_alive():
            self.close()
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_result(response)

    # --- used by the client -----------------------------------------------------------------

    def send(self, request: bytes) -> asyncio.Future[Response]:
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._answer

    def close(self) -> None:
        self.open = False
        if self._transport is not None:
            self._transport.close()

    def _fail(self, error: TransportError) -> None:
        answer, self._answer = self._answer, None
        if answer is not None and not answer.done():
            answer.set_exception(error)


class Client:
    """Requests to one origin over a pool of keep-alive connections, each reused once its
    answer is read. Idle connections are kept without limit: a trader sends one request at a
    time, so the pool holds about one connection per trader."""

    def __init__(
        self, base_url: str, timeout_s: float = 30.0, idle_expiry_s: float = IDLE_EXPIRY_S
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"an http:// origin is needed, not {base_url!r}")
        self._host = url.hostname
        self._port = url.port or 80
        self._host_line = f"Host: {url.netloc}\r\n"
        self._timeout_s = timeout_s
        self._idle_expiry_s = idle_expiry_s
        self._idle: list[_Connection] = []

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        head = f"{method} {path} HTTP/1.1\r\n{self._host_line}"
        if headers:
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        if json is not None:
            body = jsonlib.dumps(json, separators=(",", ":")).encode()
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        else:
            body = b""
            if method not in ("GET", "HEAD"):
                head += "Content-Length: 0\r\n"
        request = (head + "\r\n").encode() + body
        connection = await self._connection()
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await connection.send(request)
        except TimeoutError as exc:
            connection.close()
            raise ReadTimeout(f"no answer within {self._timeout_s:.0f} s") from exc
        except BaseException:  # a transport error, or the caller was cancelled mid-request
            connection.close()
            raise
        if connection.open:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        return response

    async def get(self, path: str, *, headers: dict[str, str] | None = None) -> Response:
        return await self.request("GET", path, headers=headers)

    async def post(
        self, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        return await self.request("POST", path, json=json, headers=headers)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _connection(self) -> _Connection:
        if self._idle:
            # The most recently used are at the end; the oldest at the front expire first.
            expired = time.monotonic() - self._idle_expiry_s
            fresh = next(
                (n for n, c in enumerate(self._idle) if c.idle_since > expired), len(self._idle)
            )
            for stale in self._idle[:fresh]:
                stale.close()
            del self._idle[:fresh]
        while self._idle:
            connection = self._idle.pop()
            if connection.open:  # the server may have closed it while it was idle
                return connection
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                _, connection = await loop.create_connection(_Connection, self._host, self._port)
        except (OSError, TimeoutError) as exc:
            raise ConnectError(f"{self._host}:{self._port}: {exc!r}") from exc
        return connection
