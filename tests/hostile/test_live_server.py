"""What only shows through a real uvicorn in front of the apps: forged client addresses, WebSocket
frame sizes, chunked uploads. The apps run with the options of shared/serving.py, which every
way of starting a service uses (checked last)."""

from __future__ import annotations

import asyncio
import base64
import os
import re
import struct
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import yaml
from redis.asyncio import Redis

from devstack.run import _service
from devstack.servers import free_port, wait_for_port
from devstack.settings import DevStackSettings
from loadgen.system import _uvicorn
from shared.limits import MAX_BODY_BYTES
from shared.serving import WS_MAX_MESSAGE_BYTES, WS_PROTOCOL, uvicorn_flags
from tests.hostile.conftest import fresh_address, new_user, user_settings
from tests.live_server import serve
from trading_service.app import create_app as create_trading_app
from trading_service.config import TradingSettings
from user_service.app import create_app as create_user_app

ROOT = Path(__file__).resolve().parents[2]
# A Redis database of its own: the counters of 127.0.0.1 start at zero whatever ran before.
THROTTLE_DB = 9


@contextmanager
def user_service_process(env: dict[str, str]) -> Iterator[str]:
    """`uvicorn user_service.app:app` as devstack starts it; yields its base URL."""
    port = free_port()
    argv = [
        sys.executable, "-m", "uvicorn", "user_service.app:app", "--host", "127.0.0.1",
        "--port", str(port), "--no-access-log", *uvicorn_flags(),
    ]  # fmt: skip
    proc = subprocess.Popen(argv, env=os.environ | env, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port, 60, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_a_forged_x_forwarded_for_does_not_escape_the_per_address_limits() -> None:
    redis_url = re.sub(r"/\d*$", "", os.environ["REDIS_URL"]) + f"/{THROTTLE_DB}"
    async with Redis.from_url(redis_url) as redis:
        await redis.flushdb()
    env = {
        "REDIS_URL": redis_url,
        "USER_REGISTER_MAX_PER_IP": "3",
        "USER_LOGIN_MAX_PER_IP": "3",
        "USER_TRUST_FORWARDED_FOR": "false",
    }
    with user_service_process(env) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            signups = [
                await client.post(
                    "/register", json=new_user(), headers={"X-Forwarded-For": fresh_address()}
                )
                for _ in range(4)
            ]
            assert [r.status_code for r in signups] == [201, 201, 201, 429], signups[-1].text
            logins = [
                await client.post(
                    "/login",
                    json={"email": new_user()["email"], "password": "guess"},
                    headers={"X-Forwarded-For": fresh_address()},
                )
                for _ in range(4)
            ]
            assert [r.status_code for r in logins] == [401, 401, 401, 429], logins[-1].text


async def test_oversized_chunked_and_declared_bodies_get_a_413_through_uvicorn() -> None:
    settings = user_settings(register_max_per_ip=10_000)
    payload = b'{"username": "' + b"x" * (4 * MAX_BODY_BYTES) + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 4096):
            yield payload[start : start + 4096]

    async with (
        serve(create_user_app(settings)) as address,
        httpx.AsyncClient(base_url=f"http://{address}", timeout=30) as client,
    ):
        headers = {"Content-Type": "application/json"}
        for body in (chunks, lambda: payload):
            response = await client.post("/register", content=body(), headers=headers)
            assert response.status_code == 413, response.text
            assert response.json()["error"] == "payload_too_large"
        # The refused uploads left the server able to serve a fresh connection at once.
        assert (await client.get("/health")).status_code in (200, 503)


async def _ws_handshake(address: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = address.split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    status = await reader.readuntil(b"\r\n\r\n")
    assert status.startswith(b"HTTP/1.1 101"), status
    return reader, writer


async def _close_code(reader: asyncio.StreamReader) -> int:
    """Skips server messages until the close frame; its status code."""
    while True:
        first, second = await reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack("!H", await reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await reader.readexactly(8))[0]
        payload = await reader.readexactly(length)
        if first & 0x0F == 0x8:
            code: int = struct.unpack("!H", payload[:2])[0]
            return code


async def test_a_websocket_frame_over_the_cap_is_refused_from_its_header(
    hostile_trading_settings: TradingSettings,
) -> None:
    async with serve(create_trading_app(hostile_trading_settings)) as address:
        reader, writer = await _ws_handshake(address)
        try:
            # Announce a 1 MiB text frame but send only its first KiB: a server that waits for
            # the payload before judging its size never answers.
            mask = os.urandom(4)
            writer.write(bytes([0x81, 0x80 | 127]) + struct.pack("!Q", 1 << 20) + mask)
            writer.write(bytes(b ^ mask[i % 4] for i, b in enumerate(b"x" * 1024)))
            await writer.drain()
            assert await asyncio.wait_for(_close_code(reader), 20) == 1009
        finally:
            writer.close()


def test_every_way_of_starting_a_service_uses_the_serving_options() -> None:
    flags = uvicorn_flags()
    assert flags == [
        "--no-proxy-headers", "--ws-max-size", str(WS_MAX_MESSAGE_BYTES), "--ws", WS_PROTOCOL
    ]  # fmt: skip

    def has_flags(argv: list[str]) -> bool:
        return any(argv[i : i + len(flags)] == flags for i in range(len(argv)))

    devstack = _service("user", "user_service.app", 1, DevStackSettings(), {})
    assert has_flags(devstack.argv)
    assert has_flags(_uvicorn("trading_service.app", 1))
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for name in ("user_service", "trading_service", "stock_service"):
        command = compose["services"][name]["command"]
        assert command[0] == "uvicorn" and has_flags(command), (name, command)


@pytest.mark.parametrize("module", ["user_service", "stock_service"])
def test_python_dash_m_serves_with_the_serving_options(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import uvicorn

    seen: dict[str, object] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: seen.update(options))
    importlib.import_module(f"{module}.__main__").main()
    assert seen["proxy_headers"] is False
    assert seen["ws_max_size"] == WS_MAX_MESSAGE_BYTES
