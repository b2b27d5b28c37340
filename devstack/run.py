"""`make run`: the whole exchange on one machine, no Docker.

Starts the servers that no URL points at (PostgreSQL, Redis, a Kafka broker), migrates, creates
the topics, then the user, stock and trading services and the matching engine. Ctrl-C or SIGTERM
stops everything; if any process dies, everything stops and the exit code is 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text

from devstack.servers import free_port
from devstack.settings import DevStackSettings
from devstack.stack import Stack, launch_stack
from devstack.supervisor import ChildFailed, ServiceProcess, Supervisor
from shared import migrate
from shared.db import create_db_engine
from shared.kafka import ensure_topics
from shared.logging import configure_logging
from shared.serving import uvicorn_flags

log = logging.getLogger("devstack")

STATE_FILE = "run.json"
WEB_DIR = Path(__file__).resolve().parents[1] / "web"
# What the web build depends on: a newer file than dist/index.html means rebuild.
WEB_INPUTS = ("src", "index.html", "package.json", "package-lock.json", "vite.config.ts")


def _check_ports_free(host: str, ports: dict[str, int]) -> None:
    for name, port in ports.items():
        with socket.socket() as s:
            # as servers do: a port left in TIME_WAIT by the last run is free to listen on
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((host, port))
            except OSError as exc:
                raise RuntimeError(
                    f"port {port} for {name} is taken ({exc.strerror}): is another `make run` "
                    f"running? Stop it, or choose other ports (see devstack/settings.py)."
                ) from exc


async def _forget_engine_offsets(database_url: str) -> None:
    # The engine's stored positions point into a log this fresh broker never had; it would seek
    # past the end and skip new orders. Nothing is lost: acknowledged orders are in PostgreSQL and
    # the trading service re-publishes the ones the engine has not processed.
    engine = create_db_engine(database_url, pool_size=1)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text("DELETE FROM engine_offsets"))
    finally:
        await engine.dispose()
    if result.rowcount:
        log.info(
            "the embedded broker starts empty: forgot %d stored engine offsets", result.rowcount
        )


def _newest_mtime(paths: list[Path]) -> float:
    newest = 0.0
    for path in paths:
        files = path.rglob("*") if path.is_dir() else [path]
        newest = max([newest, *(f.stat().st_mtime for f in files if f.is_file())])
    return newest


def build_web(web: Path = WEB_DIR) -> None:
    """Builds the web page when missing or stale; without Node.js the API still runs."""
    page = web / "dist" / "index.html"
    inputs = [web / name for name in WEB_INPUTS]
    if page.exists() and page.stat().st_mtime >= _newest_mtime(inputs):
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        log.warning(
            "the web page (http://HOST:TRADING_PORT/) is %s and Node.js is not installed: install "
            "Node.js 20+ with npm (Debian: apt-get install nodejs npm), then run `make web`; the "
            "API works without it",
            "stale" if page.exists() else "not built",
        )
        return
    lock = web / "node_modules" / ".package-lock.json"
    steps = [[npm, "run", "build"]]
    if not lock.exists() or lock.stat().st_mtime < (web / "package-lock.json").stat().st_mtime:
        steps.insert(0, [npm, "ci", "--no-audit", "--no-fund"])
    log.info("building the web page: %s", " then ".join(" ".join(s[1:]) for s in steps))
    for step in steps:
        done = subprocess.run(step, cwd=web, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            log.warning(
                "could not build the web page (%s exited %d); the API runs without it:\n%s",
                " ".join(step[1:]),
                done.returncode,
                (done.stdout + done.stderr)[-2000:],
            )
            return


def _service(
    name: str, module: str, port: int, settings: DevStackSettings, env: dict[str, str]
) -> ServiceProcess:
    argv = [
        sys.executable, "-m", "uvicorn", f"{module}:app",
        "--host", settings.host, "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--timeout-graceful-shutdown", "10", *uvicorn_flags(),
    ]  # fmt: skip
    return ServiceProcess(
        name, argv, env, settings.data_dir.resolve() / "logs" / f"{name}.log", port,
        health_url=f"http://{_local(settings.host)}:{port}/health",
    )  # fmt: skip


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _child_env(
    settings: DevStackSettings, stack: Stack, data_dir: Path, engine_port: int
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(stack.env())
    env.update(
        STOCKSIM_DATA_DIR=str(data_dir),
        ENGINE_HTTP_PORT=str(engine_port),
        KAFKA_PARTITIONS=str(settings.kafka_partitions),
        USER_PORT=str(settings.user_port),
        TRADING_PORT=str(settings.trading_port),
        STOCK_PORT=str(settings.stock_port),
    )
    env.setdefault(
        "TRADING_JWKS_URL",
        f"http://{_local(settings.host)}:{settings.user_port}/.well-known/jwks.json",
    )
    # The web page's sign-in goes through the trading service to the user service.
    env.setdefault(
        "TRADING_USER_SERVICE_URL", f"http://{_local(settings.host)}:{settings.user_port}"
    )
    return env


def _banner(
    settings: DevStackSettings, stack: Stack, data_dir: Path, elapsed_s: float, engine_port: int
) -> str:
    host = _local(settings.host)
    ports = (settings.user_port, settings.trading_port, settings.stock_port)
    lines = [
        "",
        f"stocksim is running (started in {elapsed_s:.1f} s). Ctrl-C stops everything.",
        "",
        f"  user service     http://{host}:{settings.user_port}     "
        f"docs http://{host}:{settings.user_port}/docs",
        f"  trading service  http://{host}:{settings.trading_port}     "
        f"docs http://{host}:{settings.trading_port}/docs",
        f"  web page         http://{host}:{settings.trading_port}/",
        f"  stock service    http://{host}:{settings.stock_port}     "
        f"docs http://{host}:{settings.stock_port}/docs",
        "  matching engine  running (python -m trading_service.engine)     "
        f"http://127.0.0.1:{engine_port}/readyz",
        "",
        "  metrics (Prometheus; dashboard ops/grafana/stocksim.json):",
        "    " + "  ".join(f"http://{host}:{port}/metrics" for port in ports),
        f"    http://127.0.0.1:{engine_port}/metrics",
        "  probes: /livez and /readyz on every port above",
        "",
        f"  PostgreSQL  {stack.database_url}",
        f"  Redis       {stack.redis_url}",
        f"  Kafka       {stack.kafka_bootstrap_servers}",
        f"  data dir    {data_dir}",
        f"  logs        {data_dir / 'logs'}/*.log",
        "",
    ]
    return "\n".join(lines)


def _write_state(path: Path, stack: Stack, supervisor: Supervisor) -> None:
    """Who is running, for scripts that must check that nothing survives a stop."""
    state = {
        "supervisor": os.getpid(),
        "children": {c.name: c.pid for c in supervisor.children},
        "servers": {s.name: s.proc.pid for s in stack.servers if s.proc is not None},
    }
    path.write_text(json.dumps(state, indent=2))


def run(settings: DevStackSettings) -> int:
    started_at = time.monotonic()
    data_dir = settings.data_dir.resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(settings.start_timeout_s, settings.stop_timeout_s)
    supervisor.install_signal_handlers()
    configured = settings.configured_urls()
    ports = {
        "postgres": settings.pg_port,
        "redis": settings.redis_port,
        "kafka": settings.kafka_port,
        "kafka-controller": settings.kafka_controller_port,
    }
    embedded = {
        "postgres": "DATABASE_URL" not in configured,
        "redis": "REDIS_URL" not in configured,
        "kafka": "KAFKA_BOOTSTRAP_SERVERS" not in configured,
        "kafka-controller": "KAFKA_BOOTSTRAP_SERVERS" not in configured
        and settings.kafka_broker == "apache",
    }
    # The engine's probe and metrics port (ENGINE_HTTP_PORT; 0: any free one, as in tests).
    engine_port = settings.engine_port or free_port()
    service_ports = {
        "user service": settings.user_port,
        "trading service": settings.trading_port,
        "stock service": settings.stock_port,
        "engine probes": engine_port,
    }
    state_path = data_dir / STATE_FILE
    stack: Stack | None = None
    try:
        _check_ports_free(
            settings.host, service_ports | {n: p for n, p in ports.items() if embedded[n]}
        )
        stack = launch_stack(
            data_dir,
            environ={**configured, "KAFKA_PARTITIONS": str(settings.kafka_partitions)},
            ports=ports,
            kafka_broker=settings.kafka_broker,
        )
        # The broker (a JVM) takes longest: migrate, build the page and start the user service
        # (PostgreSQL only) while it starts.
        stack.wait_ready("postgres", "redis")
        if supervisor.stopping.is_set():
            return 0
        log.info("PostgreSQL ready in %.1f s; migrating", time.monotonic() - started_at)
        migrate.upgrade(stack.database_url)
        build_web()
        env = _child_env(settings, stack, data_dir, engine_port)
        # The user service first: it creates the JWT signing key the trading service trusts.
        user = [_service("user", "user_service.app", settings.user_port, settings, env)]
        supervisor.spawn(user)
        _write_state(state_path, stack, supervisor)
        stack.wait_ready("kafka")
        log.info("Kafka ready in %.1f s", time.monotonic() - started_at)
        asyncio.run(ensure_topics(stack.kafka_bootstrap_servers, settings.kafka_partitions))
        if any(s.name == "kafka" and not s.keeps_data for s in stack.servers):
            asyncio.run(_forget_engine_offsets(stack.database_url))
        supervisor.wait_healthy(user)
        rest = [
            _service("stock", "stock_service.app", settings.stock_port, settings, env),
            _service("trading", "trading_service.app", settings.trading_port, settings, env),
            ServiceProcess(
                "engine",
                [sys.executable, "-m", "trading_service.engine"],
                env,
                data_dir / "logs" / "engine.log",
            ),
        ]
        supervisor.spawn(rest)
        _write_state(state_path, stack, supervisor)
        supervisor.wait_healthy(rest)
        if supervisor.stopping.is_set():
            return 0
        print(
            _banner(settings, stack, data_dir, time.monotonic() - started_at, engine_port),
            flush=True,
        )
        died = supervisor.watch()
        if died is None:
            return 0
        raise ChildFailed(died)
    except ChildFailed as exc:
        log.error("%s; its last log lines:\n%s", exc, exc.child.log_tail())
        log.error("stopping everything because %s failed", exc.child.name)
        return 1
    except Exception as exc:
        if supervisor.stopping.is_set():
            return 0  # interrupted while starting
        log.error("could not start: %s", exc, exc_info=not isinstance(exc, RuntimeError | OSError))
        return 1
    finally:
        supervisor.stop_all()
        if stack is not None:
            stack.stop()
        with contextlib.suppress(FileNotFoundError):
            state_path.unlink()
        log.info("stopped")


def main() -> None:
    settings = DevStackSettings()
    configure_logging("devstack", settings.log_level, as_json=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per health poll otherwise
    sys.exit(run(settings))


if __name__ == "__main__":
    main()
