"""Start whichever of PostgreSQL, Redis and Kafka are not configured, and say where they are.

A server is embedded only when its variable (DATABASE_URL, REDIS_URL, KAFKA_BOOTSTRAP_SERVERS)
is unset, so pointing any of them at a real server replaces that part of the stack.
The embedded broker is Apache Kafka (durable, the production broker; its jars come from Maven
Central on first use) unless STOCKSIM_KAFKA=tansu asks for Tansu (memory only, no Java, starts
in milliseconds). The servers start at once, in parallel: the JVM's start dominates.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from devstack.apache_kafka import ApacheKafka
from devstack.servers import EmbeddedKafka, EmbeddedPostgres, EmbeddedRedis, Server, free_port

KAFKA_BROKERS = ("apache", "tansu")
DEFAULT_KAFKA_BROKER = "apache"


@dataclass
class Stack:
    database_url: str
    redis_url: str
    kafka_bootstrap_servers: str
    servers: list[Server] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
        }

    def server(self, name: str) -> Server:
        return next(s for s in self.servers if s.name == name)

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()

    def wait_ready(self, *names: str) -> None:
        """Wait until the named embedded servers (all, if none named) serve; stop all if one
        never does. Servers configured by URL are not ours to wait for."""
        waiting = [s for s in self.servers if not names or s.name in names]
        try:
            _each_at_once(waiting, "wait_ready")
        except BaseException:
            self.stop()
            raise


def start_stack(
    data_dir: Path,
    environ: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
    postgres_settings: dict[str, str] | None = None,
    kafka_broker: str | None = None,
) -> Stack:
    """`launch_stack`, then wait until every server serves."""
    stack = launch_stack(data_dir, environ, ports, postgres_settings, kafka_broker)
    stack.wait_ready()
    return stack


def launch_stack(
    data_dir: Path,
    environ: Mapping[str, str] | None = None,
    ports: Mapping[str, int] | None = None,
    postgres_settings: dict[str, str] | None = None,
    kafka_broker: str | None = None,
) -> Stack:
    """Start the missing servers under `data_dir`, all at once, without waiting until they serve
    (Stack.wait_ready does); `ports` maps server name to port (0: any free).

    `kafka_broker` is "apache" or "tansu"; unset, STOCKSIM_KAFKA decides (default "apache").
    Apache Kafka's controller listens on `ports["kafka-controller"]`.
    """
    env = os.environ if environ is None else environ
    ports = ports or {}
    kafka_broker = kafka_broker or env.get("STOCKSIM_KAFKA") or DEFAULT_KAFKA_BROKER
    if kafka_broker not in KAFKA_BROKERS:
        raise ValueError(f"STOCKSIM_KAFKA must be one of {KAFKA_BROKERS}, not {kafka_broker!r}")
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o755)  # PostgreSQL runs as an unprivileged user when we are root

    def port(name: str) -> int:
        return ports.get(name) or free_port()

    database_url = env.get("DATABASE_URL")
    redis_url = env.get("REDIS_URL")
    kafka = env.get("KAFKA_BOOTSTRAP_SERVERS")
    pg: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    broker: ApacheKafka | EmbeddedKafka | None = None
    if not database_url:
        pg = EmbeddedPostgres(data_dir / "postgres", port("postgres"), settings=postgres_settings)
        database_url = pg.url
    if not redis_url:
        redis = EmbeddedRedis(data_dir, port("redis"))
        redis_url = redis.url
    if not kafka:
        if kafka_broker == "apache":
            partitions = int(env.get("KAFKA_PARTITIONS") or 4)
            broker = ApacheKafka(data_dir, port("kafka"), port("kafka-controller"), partitions)
        else:
            broker = EmbeddedKafka(data_dir, port("kafka"))
        kafka = broker.bootstrap_servers
    wanted: list[Server] = [s for s in (pg, redis, broker) if s is not None]
    try:
        _each_at_once(wanted, "prepare")
        for server in wanted:
            server.launch()  # on this thread: see Server.start
    except BaseException:
        for server in reversed(wanted):
            server.stop()
        raise
    return Stack(database_url, redis_url, kafka, wanted)


def _each_at_once(servers: list[Server], step: str) -> None:
    """Run one start step of every server on its own thread; raise the first failure."""
    with ThreadPoolExecutor(max(1, len(servers))) as pool:
        outcomes = [pool.submit(getattr(server, step)) for server in servers]
    failed = [exc for exc in (f.exception() for f in outcomes) if exc is not None]
    if failed:
        raise failed[0]
