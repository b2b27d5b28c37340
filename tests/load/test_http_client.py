"""The traders' HTTP client (loadgen/http.py) against a real socket server that answers the way
a server may: keep-alive, `Connection: close`, chunked, too late, or not at all."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from loadgen import cli
from loadgen.http import Client, ConnectError, ReadError, ReadTimeout


class Server:
    """Answers by path: /echo (JSON of what it got), /close (answers, then closes),
    /chunked, /hang (never answers), /drop (closes without answering)."""

    def __init__(self) -> None:
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode()
                request_line, *header_lines = head.split("\r\n")[:-2]
                method, path, _ = request_line.split(" ")
                headers = dict(line.split(": ", 1) for line in header_lines)
                body = await reader.readexactly(int(headers.get("Content-Length", "0")))
                if path == "/hang":
                    await asyncio.sleep(3600)
                if path == "/drop":
                    break
                if path == "/chunked":
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                        b'4\r\n{"a"\r\n3\r\n: 1\r\n1\r\n}\r\n0\r\n\r\n'
                    )
                    continue
                answer = json.dumps(
                    {"method": method, "path": path, "headers": headers, "body": body.decode()}
                ).encode()
                close = path == "/close"
                writer.write(
                    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nRetry-After: 7\r\n"
                    + (b"Connection: close\r\n" if close else b"")
                    + f"Content-Length: {len(answer)}\r\n\r\n".encode()
                    + answer
                )
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    def close_idle(self) -> None:
        for writer in self.writers:
            writer.close()


@pytest.fixture
async def server() -> AsyncIterator[tuple[Server, str]]:
    server = Server()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    yield server, f"http://127.0.0.1:{port}"
    server.close_idle()
    listening.close()


async def test_requests_share_one_kept_alive_connection(server: tuple[Server, str]) -> None:
    peer, url = server
    client = Client(url)
    for n in range(3):
        answer = await client.post(
            "/orders", json={"qty": n}, headers={"Authorization": "Bearer t"}
        )
        assert answer.status_code == 201
        got = answer.json()
        assert (got["method"], got["path"], json.loads(got["body"])) == (
            "POST",
            "/orders",
            {"qty": n},
        )
        assert got["headers"]["Authorization"] == "Bearer t"
        assert got["headers"]["Content-Type"] == "application/json"
        assert answer.headers["retry-after"] == "7"
    deleted = await client.request("DELETE", "/orders/1")
    assert deleted.json()["headers"]["Content-Length"] == "0"
    assert peer.connections == 1
    await client.aclose()


async def test_a_closed_connection_is_not_reused(server: tuple[Server, str]) -> None:
    peer, url = server
    client = Client(url)
    assert (await client.get("/close")).status_code == 201
    assert (await client.get("/echo")).status_code == 201
    assert peer.connections == 2
    peer.close_idle()  # the server drops its idle keep-alive connection
    await asyncio.sleep(0.1)
    assert (await client.get("/echo")).status_code == 201
    assert peer.connections == 3
    await client.aclose()


async def test_a_connection_idle_past_the_servers_keep_alive_is_not_reused(
    server: tuple[Server, str],
) -> None:
    """A server closes an idle keep-alive connection after a while (uvicorn: 5 s); a request
    written on it just then gets no answer. The client retires it a little earlier."""
    peer, url = server
    client = Client(url, idle_expiry_s=0.2)
    assert (await client.get("/echo")).status_code == 201
    assert (await client.get("/echo")).status_code == 201
    assert peer.connections == 1
    await asyncio.sleep(0.3)
    assert (await client.get("/echo")).status_code == 201
    assert peer.connections == 2
    await client.aclose()


async def test_a_chunked_answer_is_read_whole(server: tuple[Server, str]) -> None:
    _, url = server
    client = Client(url)
    assert (await client.get("/chunked")).json() == {"a": 1}
    assert (await client.get("/echo")).status_code == 201  # the connection is usable after it
    await client.aclose()


async def test_no_answer_is_a_transport_error(server: tuple[Server, str]) -> None:
    peer, url = server
    client = Client(url, timeout_s=0.3)
    with pytest.raises(ReadError):
        await client.get("/drop")
    with pytest.raises(ReadTimeout):
        await client.get("/hang")
    # Neither broken connection goes back to the pool: the next request gets a fresh one.
    assert (await client.get("/echo")).status_code == 201
    assert peer.connections == 3
    await client.aclose()


async def test_nobody_listening_is_a_connect_error(server: tuple[Server, str]) -> None:
    client = Client("http://127.0.0.1:1")
    with pytest.raises(ConnectError):
        await client.get("/echo")


def test_it_runs_on_uvloop_as_the_soak_runs_it() -> None:
    async def round_trip() -> int:
        server = Server()
        listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        client = Client(f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}")
        try:
            answers = [(await client.post("/orders", json={"n": n})).json() for n in range(2)]
        finally:
            await client.aclose()
            server.close_idle()
            listening.close()
        assert [json.loads(a["body"]) for a in answers] == [{"n": 0}, {"n": 1}]
        return server.connections

    assert cli.run(round_trip()) == 1
