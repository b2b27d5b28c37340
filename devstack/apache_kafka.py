"""Apache Kafka (the production broker) from Maven Central, run in KRaft combined mode.

Neither Debian nor PyPI packages the broker, so its jars are resolved once with the machine's
`mvn` into a per-version cache and run with the machine's JDK (17+). CI uses it to run the
Kafka-marked tests against the real broker; `STOCKSIM_KAFKA=apache` makes `make run` use it too.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from devstack.servers import Server, free_port, wait_for_port

KAFKA_VERSION = "4.1.1"
_SCALA = "2.13"
_LOG4J_VERSION = "2.24.3"
# Kafka's own pom pins slf4j 1.7, which cannot find the slf4j2 binding: ask for slf4j 2.
_SLF4J_VERSION = "2.0.17"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>stocksim</groupId>
  <artifactId>apache-kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>{slf4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.kafka</groupId><artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_LOG4J2_YAML = """Configuration:
  Appenders:
    File:
      name: file
      fileName: "{log_file}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
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


def ensure_libs(version: str = KAFKA_VERSION, cache: Path | None = None) -> Path:
    """Return a folder holding the broker's runtime jars, resolving them with `mvn` if needed."""
    home = (cache or cache_root()) / f"kafka-{version}"
    libs = home / "libs"
    if (home / "libs.complete").exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Apache Kafka needs Maven (`mvn`) to fetch its jars from Maven Central")
    with _exclusive(home / ".lock"):
        if (home / "libs.complete").exists():
            return libs
        with tempfile.TemporaryDirectory(dir=home) as work:
            pom = Path(work) / "pom.xml"
            pom.write_text(
                _POM.format(kafka=version, scala=_SCALA, log4j=_LOG4J_VERSION, slf4j=_SLF4J_VERSION)
            )
            staged = Path(work) / "libs"
            result = subprocess.run(
                [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
                 "-DincludeScope=runtime", f"-DoutputDirectory={staged}"],
                capture_output=True, text=True, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if result.returncode != 0:
                raise RuntimeError(f"mvn could not resolve Apache Kafka {version}:\n"
                                   f"{result.stdout[-4000:]}{result.stderr[-4000:]}")  # fmt: skip
            shutil.rmtree(libs, ignore_errors=True)
            staged.rename(libs)
        (home / "libs.complete").touch()
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
        version: str = KAFKA_VERSION,
        heap: str = "512m",
    ) -> None:
        super().__init__(port, data_dir / "apache-kafka" / "kafka.out")
        self.home = data_dir / "apache-kafka"
        self.controller_port = controller_port or free_port()
        self.partitions = partitions
        self.version = version
        self.heap = heap

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

    def _java(self, libs: Path, main: str, *args: str) -> list[str]:
        return [
            "java", f"-Xmx{self.heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={self.home}",
            "-cp", f"{libs}/*", main, *args,
        ]  # fmt: skip

    def start(self) -> None:
        libs = ensure_libs(self.version)
        self.home.mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        config.write_text(self._properties())
        (self.home / "log4j2.yaml").write_text(
            _LOG4J2_YAML.format(log_file=self.home / "server.log")
        )
        if not (self.home / "logs" / "meta.properties").exists():
            result = subprocess.run(
                # `--cluster-id=...` in one word: an id may begin with "-", which argparse would
                # take for an option (1 start in 64 failed that way).
                self._java(libs, "kafka.tools.StorageTool", "format",
                           f"--cluster-id={random_cluster_id()}", "-c", str(config)),
                capture_output=True, text=True, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            if result.returncode != 0:
                raise RuntimeError(f"kafka storage format failed: {result.stdout}{result.stderr}")
        self._spawn(self._java(libs, "kafka.Kafka", str(config)))
        wait_for_port(self.port, 90, self.proc)
