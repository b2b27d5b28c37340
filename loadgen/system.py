"""A whole stocksim on a fresh data dir, whose parts can be killed and restarted one by one.

The same process set as `make run` (PostgreSQL, Redis, a Kafka broker; the user, stock and
trading services under uvicorn; the matching engine), on free ports, so a soak or a fault drill
never touches a running demo. Unlike `make run`, a dying part does not stop the rest: that is
the point of a fault drill.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text

from devstack.servers import free_port
from devstack.stack import DEFAULT_KAFKA_BROKER, Stack, start_stack
from devstack.supervisor import ServiceProcess
from loadgen.cpu import tree_cpu_s
from shared import migrate
from shared.db import create_db_engine
from shared.kafka import ensure_topics
from shared.serving import uvicorn_flags

PARTITIONS = 4


def _uvicorn(module: str, port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", f"{module}:app", "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log",
        "--loop", "uvloop", "--http", "httptools", "--timeout-graceful-shutdown", "5",
        *uvicorn_flags(),
    ]  # fmt: skip


class System:
    """Start with `start()`, stop with `stop()`; the fault methods act on one part each."""

    def __init__(
        self,
        root: Path | None = None,
        kafka_broker: str | None = None,
        api_workers: int = 1,
        fsync: bool = True,
        env: dict[str, str] | None = None,
    ) -> None:
        self.own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="stocksim-system-"))
        self.root.chmod(0o755)  # PostgreSQL runs as an unprivileged user when we are root
        self.kafka_broker = kafka_broker or os.environ.get("STOCKSIM_KAFKA") or DEFAULT_KAFKA_BROKER
        self.api_workers = api_workers
        self.fsync = fsync
        self.extra_env = env or {}
        self.stack: Stack | None = None
        self.services: dict[str, ServiceProcess] = {}
        self.ports: dict[str, int] = {}

    # --- whole system -----------------------------------------------------------------------

    async def start(self, timeout_s: float = 90) -> None:
        self.stack = await asyncio.to_thread(
            start_stack,
            self.root / "servers",
            environ={"KAFKA_PARTITIONS": str(PARTITIONS)},
            postgres_settings=None if self.fsync else {"fsync": "off"},
            kafka_broker=self.kafka_broker,
        )
        await asyncio.to_thread(migrate.upgrade, self.stack.database_url)
        await ensure_topics(self.stack.kafka_bootstrap_servers, PARTITIONS)
        self.ports = {name: free_port() for name in ("user", "stock", "trading", "engine")}
        env = {
            **os.environ,
            **self.stack.env(),
            "STOCKSIM_DATA_DIR": str(self.root),
            "STOCKSIM_ENV": "development",
            "KAFKA_PARTITIONS": str(PARTITIONS),
            "LOG_JSON": "false",
            "LOG_LEVEL": "WARNING",
            # Every simulated trader signs up and logs in from this one address.
            "USER_REGISTER_MAX_PER_IP": "1000000",
            "USER_LOGIN_MAX_PER_IP": "1000000",
            # The soak and the drills run traders as fast as the exchange answers.
            "TRADING_ORDER_RATE": "0",
            "TRADING_CANCEL_RATE": "0",
            "TRADING_JWKS_URL": f"http://127.0.0.1:{self.ports['user']}/.well-known/jwks.json",
            # A restarted engine takes its partitions over after the old session times out.
            "ENGINE_SESSION_TIMEOUT_MS": "2000",
            "ENGINE_HTTP_PORT": str(self.ports["engine"]),
            **self.extra_env,
        }
        logs = self.root / "logs"
        self.services = {
            "user": self._api("user", "user_service.app", env, logs),
            "stock": self._api("stock", "stock_service.app", env, logs),
            "trading": self._api("trading", "trading_service.app", env, logs, self.api_workers),
            "engine": ServiceProcess(
                "engine",
                [sys.executable, "-m", "trading_service.engine"],
                env,
                logs / "engine.log",
                self.ports["engine"],
                health_url=f"{self.engine_url}/health",
            ),
        }
        for name in ("user", "stock", "trading", "engine"):
            await self.start_service(name, timeout_s)

    def _api(
        self, name: str, module: str, env: dict[str, str], logs: Path, workers: int = 1
    ) -> ServiceProcess:
        port = self.ports[name]
        return ServiceProcess(
            name, _uvicorn(module, port, workers), env, logs / f"{name}.log", port,
            health_url=f"http://127.0.0.1:{port}/health",
        )  # fmt: skip

    async def stop(self) -> None:
        for service in self.services.values():
            await asyncio.to_thread(self._terminate, service)
        if self.stack is not None:
            await asyncio.to_thread(self.stack.stop)
        if self.own_root and not os.environ.get("STOCKSIM_KEEP"):
            shutil.rmtree(self.root, ignore_errors=True)

    @property
    def user_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['user']}"

    @property
    def trading_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['trading']}"

    @property
    def stock_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['stock']}"

    @property
    def engine_url(self) -> str:
        """The engine's probes and metrics (ENGINE_HTTP_PORT)."""
        return f"http://127.0.0.1:{self.ports['engine']}"

    @property
    def database_url(self) -> str:
        assert self.stack is not None
        return self.stack.database_url

    def cpu_seconds(self) -> dict[str, float]:
        """CPU seconds each running part has used so far (with its workers and backends)."""
        pids = {name: service.pid for name, service in self.services.items()}
        if self.stack is not None:
            pids |= {s.name: s.proc.pid for s in self.stack.servers if s.proc is not None}
        used = {name: tree_cpu_s(pid) for name, pid in pids.items() if pid is not None}
        return {name: s for name, s in used.items() if s is not None}

    def log_tails(self, lines: int = 15) -> str:
        return "\n".join(
            f"--- {name}.log\n{service.log_tail(lines)}" for name, service in self.services.items()
        )

    # --- one part at a time -----------------------------------------------------------------

    async def start_service(self, name: str, timeout_s: float = 60) -> None:
        service = self.services[name]
        service.start()
        await asyncio.to_thread(
            service.wait_healthy, time.monotonic() + timeout_s, threading.Event()
        )

    async def stop_service(self, name: str) -> None:
        await asyncio.to_thread(self._terminate, self.services[name])

    async def kill_service(self, name: str) -> None:
        """kill -9 the service and every worker of it (its own process group)."""
        service = self.services[name]
        if service.proc is not None and service.proc.poll() is None:
            os.killpg(service.proc.pid, signal.SIGKILL)
            service.proc.wait()

    def _terminate(self, service: ServiceProcess) -> None:
        if service.proc is None or service.proc.poll() is not None:
            return
        os.killpg(service.proc.pid, signal.SIGTERM)
        try:
            service.proc.wait(15)
        except Exception:
            os.killpg(service.proc.pid, signal.SIGKILL)
            service.proc.wait()

    @property
    def kafka_keeps_data(self) -> bool:
        assert self.stack is not None
        return self.stack.server("kafka").keeps_data

    async def kill_server(self, name: str) -> None:
        """kill -9: no chance to flush or close anything."""
        assert self.stack is not None
        await asyncio.to_thread(self.stack.server(name).kill)

    async def stop_server(self, name: str) -> None:
        """A clean stop: PostgreSQL's fast shutdown, Redis and the broker on SIGTERM."""
        assert self.stack is not None
        await asyncio.to_thread(self.stack.server(name).stop)

    async def start_server(self, name: str) -> None:
        """Start it again on the same port and data (Redis and Tansu keep nothing)."""
        assert self.stack is not None
        server = self.stack.server(name)
        await asyncio.to_thread(server.start)
        if name == "kafka":
            await ensure_topics(self.stack.kafka_bootstrap_servers, PARTITIONS)
            if not server.keeps_data:
                await self._forget_engine_log_positions()

    async def _forget_engine_log_positions(self) -> None:
        """What `make run` does on a broker that forgot its log: the engine starts at 0 again.

        The engine is stopped first so that it cannot write the old positions back; orders it
        had not processed are re-sent from PostgreSQL by the outbox sweep.
        """
        await self.stop_service("engine")
        db = create_db_engine(self.database_url, pool_size=1)
        try:
            async with db.begin() as conn:
                await conn.execute(text("DELETE FROM engine_offsets"))
        finally:
            await db.dispose()
        await self.start_service("engine")
