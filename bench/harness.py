"""What the end-to-end benchmarks share: a fresh stack, signed tokens, service processes, wrk."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import jwt
from aiokafka import AIOKafkaProducer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.servers import free_port, wait_for_port
from devstack.stack import Stack, start_stack
from shared import migrate
from shared.kafka import PRICES_TOPIC, ensure_topics
from shared.serving import uvicorn_flags
from stock_service.market.service import iso_millis


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its children (uvicorn's workers),
    from /proc (Linux). On a shared machine, CPU per request says more than requests/s."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(c) for c in children.read_text().split()]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # exited meanwhile
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, all) clock ticks of every CPU of the machine so far, from /proc/stat (Linux)."""
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    ticks = [int(t) for t in first[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def busy_cores(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How many of the machine's cores were busy between two `machine_ticks()`: near all of
    them means the run was bound by the machine, not by a wait in one process."""
    return (os.cpu_count() or 1) * (after[0] - before[0]) / max(1, after[1] - before[1])


def summary(values: Sequence[float], fmt: str = "{:,.0f}") -> str:
    """Median with min–max: the machine is shared and noisy, one number would mislead."""
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}–{fmt.format(max(values))})"
    )


@contextmanager
def fresh_stack() -> Iterator[tuple[Stack, Path]]:
    root = Path(tempfile.mkdtemp(prefix="stocksim-bench-"))
    root.chmod(0o755)
    stack = start_stack(root / "servers", environ={})
    try:
        migrate.upgrade(stack.database_url)
        asyncio.run(ensure_topics(stack.kafka_bootstrap_servers, 4))
        yield stack, root
    finally:
        stack.stop()
        if os.environ.get("BENCH_KEEP"):
            print(f"logs kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


class Tokens:
    """Tokens as the user service signs them, for many users, with the JWKS file to verify them."""

    def __init__(self, root: Path, users: int) -> None:
        key = Ed25519PrivateKey.generate()
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key()))
        jwk.update({"kid": "bench", "alg": "EdDSA", "use": "sig"})
        self.jwks_file = root / "jwks.json"
        self.jwks_file.write_text(json.dumps({"keys": [jwk]}))
        now = int(time.time())
        self.users = [uuid.uuid4() for _ in range(users)]
        self.tokens = [
            jwt.encode(
                {
                    "sub": str(u),
                    "iat": now,
                    "exp": now + 86400,
                    "iss": "stocksim-user-service",
                    "aud": "stocksim",
                },
                key,
                algorithm="EdDSA",
                headers={"kid": "bench"},
            )
            for u in self.users
        ]


class Processes:
    """The trading API (uvicorn, N workers) and the engine as real processes."""

    def __init__(self, stack: Stack, root: Path, extra_env: dict[str, str]) -> None:
        self.env = {
            **os.environ,
            **stack.env(),
            "STOCKSIM_DATA_DIR": str(root),
            "LOG_LEVEL": "WARNING",
            **extra_env,
        }
        self.engine_env = {
            "LOG_LEVEL": os.environ.get("BENCH_ENGINE_LOG_LEVEL", "WARNING"),
            # Its probe port: any free one, so several engines (or a `make run`) never collide.
            "ENGINE_HTTP_PORT": "0",
        }
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, argv: list[str], name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen(
            argv,
            env={**self.env, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def api(self, workers: int = 1) -> tuple[int, subprocess.Popen[bytes]]:
        """The trading API under uvicorn (uvloop, httptools, shared/serving.py's WebSockets): port,
        process."""
        port = free_port()
        proc = self.start(
            [sys.executable, "-m", "uvicorn", "trading_service.app:app", "--port", str(port),
             "--workers", str(workers), "--no-access-log", "--loop", "uvloop", "--http",
             "httptools", "--log-level", "warning",
             *uvicorn_flags()],
            f"api-{port}",
        )  # fmt: skip
        wait_for_port(port, 60)
        return port, proc

    def floor(self, database_url: str, jwks_file: Path) -> tuple[int, subprocess.Popen[bytes]]:
        """bench/floor.py under uvicorn as the README describes it (1 worker): port, process."""
        port = free_port()
        proc = self.start(
            [sys.executable, "-m", "uvicorn", "bench.floor:app", "--port", str(port),
             "--workers", "1", "--no-access-log", "--loop", "uvloop", "--http", "httptools",
             "--log-level", "warning"],
            f"floor-{port}",
            {"FLOOR_DATABASE_URL": database_url, "FLOOR_JWKS_FILE": str(jwks_file)},
        )  # fmt: skip
        wait_for_port(port, 60)
        return port, proc

    def engine(self) -> subprocess.Popen[bytes]:
        return self.start(
            [sys.executable, "-m", "trading_service.engine"], "engine", self.engine_env
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            _reap(proc)
        self.procs.clear()

    def stop_one(self, proc: subprocess.Popen[bytes]) -> None:
        """One process (an API between runs) by SIGTERM, as `stop`."""
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        _reap(proc)
        self.procs.remove(proc)


def _reap(proc: subprocess.Popen[bytes], grace_s: float = 15) -> None:
    """Wait for a process told to stop; kill its group if it is still there after `grace_s`
    (and say so: a service that does not stop on SIGTERM is worth knowing about)."""
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        print(f"{proc.args!r} still running {grace_s:.0f} s after SIGTERM: killed", flush=True)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def publish_price(stack: Stack, symbol: str, price: str, api_port: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.kafka_bootstrap_servers, enable_idempotence=False
    )
    await producer.start()
    seq = time.time_ns()
    value = {
        "symbol": symbol,
        "price": price,
        "seq": seq,
        "ts": iso_millis(datetime.now(UTC)),
    }
    try:
        await producer.send_and_wait(PRICES_TOPIC, json.dumps(value).encode(), key=symbol.encode())
    finally:
        await producer.stop()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}") as client:
        for _ in range(600):
            r = await client.get(f"/prices/{symbol}")
            if r.status_code == 200 and r.json()["seq"] >= seq:
                return
            await asyncio.sleep(0.05)
    raise TimeoutError("the API never saw the price")


WRK_SCRIPT = """
local tokens = {%s}
local counter = 0
wrk.method = "POST"
wrk.body = '%s'
request = function()
  counter = counter + 1
  local token = tokens[(counter %% #tokens) + 1]
  return wrk.format(nil, "%s", {["Content-Type"] = "application/json",
                                ["Authorization"] = "Bearer " .. token})
end
"""


def wrk(
    port: int,
    path: str,
    body: dict[str, object],
    tokens: Sequence[str],
    connections: int,
    seconds: int,
    root: Path,
) -> dict[str, float]:
    """Requests/s, requests answered, p50/p99 latency (ms) and non-2xx count of a wrk run
    (`wrk_figures`)."""
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed for this benchmark: apt-get install wrk")
    script = root / "post.lua"
    script.write_text(WRK_SCRIPT % (", ".join(f'"{t}"' for t in tokens), json.dumps(body), path))
    out = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",  # wrk refuses more threads than connections
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return wrk_figures(out)


def wrk_figures(out: str) -> dict[str, float]:
    """The figures of wrk's --latency report. Requests/s and requests count 2xx answers only: a
    refusal (a 429, a 503) is answered faster than an order is placed and must not pass for
    throughput."""

    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert m, out
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    done = re.search(r"(\d+) requests in", out)
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    assert rps and done, out
    answered, refused = float(done.group(1)), float(bad.group(1)) if bad else 0.0
    return {
        "rps": float(rps.group(1)) * (answered - refused) / max(1.0, answered),
        "requests": answered - refused,
        "p50": latency("50"),
        "p99": latency("99"),
        "non2xx": refused,
    }
