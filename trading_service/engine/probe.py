"""The engine's HTTP port (ENGINE_HTTP_PORT): /livez, /readyz, /health and /metrics.

The engine has no web framework and needs none: a few GET routes over asyncio's own server,
one request per connection. It binds 127.0.0.1 by default; the figures are not for the world.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Mapping

from shared.metrics import render_metrics
from shared.probes import Check, readiness

log = logging.getLogger(__name__)

MAX_HEADER_LINES = 100
READ_TIMEOUT_S = 5.0


class ProbeServer:
    def __init__(self, host: str, port: int, checks: Mapping[str, Check]) -> None:
        self.host = host
        self.requested_port = port
        self.checks = checks
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.requested_port)
        log.info("engine probes and metrics listening", extra={"url": self.url})

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                method, path = await _read_request(reader)
            status, content_type, body = await self._answer(method, path)
            head = (
                f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (TimeoutError, ValueError, ConnectionError, asyncio.IncompleteReadError):
            pass  # a client that sends garbage or nothing gets no answer
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> tuple[int, str, bytes]:
        if method not in ("GET", "HEAD"):
            return _json(405, {"error": "method_not_allowed", "detail": "only GET"})
        if path == "/livez":
            return _json(200, {"status": "alive"})
        if path in ("/readyz", "/health"):
            status, body = await readiness(self.checks)
            if status == 200 and path == "/health":
                body = {"status": "ok"}
            return _json(status, body)
        if path == "/metrics":
            text, content_type = render_metrics()
            return 200, content_type, text
        return _json(404, {"error": "not_found", "detail": f"no route {path}"})


_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


def _json(status: int, body: object) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body).encode()


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str]:
    request_line = (await reader.readline()).decode("latin-1").strip()
    for _ in range(MAX_HEADER_LINES):
        if (await reader.readline()).strip() == b"":
            break
    else:
        raise ValueError("too many header lines")
    parts = request_line.split(" ")
    if len(parts) != 3:
        raise ValueError("malformed request line")
    method, target, _ = parts
    return method, target.split("?", 1)[0]
