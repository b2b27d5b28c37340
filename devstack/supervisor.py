"""Child processes of `make run`: start in order, wait until healthy, watch, stop together."""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from devstack.servers import Server

log = logging.getLogger(__name__)

# An engine with no HTTP port counts as started once it has stayed up this long.
_ENGINE_GRACE_S = 1.5


class ChildFailed(RuntimeError):
    """A child exited, or never became healthy."""

    def __init__(self, child: ServiceProcess, reason: str | None = None) -> None:
        super().__init__(f"{child.name} {reason or f'exited with code {child.returncode}'}")
        self.child = child


class ServiceProcess(Server):
    """One of our own processes (an API or the engine), logging to its own file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        port: int = 0,
        health_url: str | None = None,
    ) -> None:
        super().__init__(port, log_path)
        self.name = name
        self.argv = argv
        self.env = env
        self.health_url = health_url

    def start(self) -> None:
        self._spawn(self.argv, env=self.env)

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_healthy(self, deadline: float, stopping: threading.Event) -> None:
        """Return once /health answers 200 (or, without one, once the process stayed up)."""
        if self.health_url is None:
            stopping.wait(_ENGINE_GRACE_S)
            if not self.alive():
                raise ChildFailed(self)
            return
        with httpx.Client(timeout=2.0) as client:
            while not stopping.is_set():
                if not self.alive():
                    raise ChildFailed(self)
                try:
                    if client.get(self.health_url).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise ChildFailed(self, f"did not answer {self.health_url} in time")
                stopping.wait(0.2)


class Supervisor:
    """Runs the children until a signal asks to stop or one of them dies."""

    def __init__(self, start_timeout_s: float, stop_timeout_s: float) -> None:
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.children: list[ServiceProcess] = []
        self.stopping = threading.Event()

    def install_signal_handlers(self) -> None:
        def request_stop(signum: int, _frame: object) -> None:
            log.info("received %s: stopping", signal.Signals(signum).name)
            self.stopping.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)

    def spawn(self, group: Sequence[ServiceProcess]) -> None:
        for child in group:
            if self.stopping.is_set():
                return
            log.info("starting %s (log: %s)", child.name, child.log_path)
            child.start()
            self.children.append(child)

    def wait_healthy(self, group: Sequence[ServiceProcess]) -> None:
        """Wait until every member of a group is healthy; raise ChildFailed otherwise."""
        deadline = time.monotonic() + self.start_timeout_s
        for child in group:
            if child.proc is not None:
                child.wait_healthy(deadline, self.stopping)

    def watch(self) -> ServiceProcess | None:
        """Block until asked to stop (None) or a child dies (that child)."""
        while not self.stopping.wait(0.25):
            for child in self.children:
                if not child.alive():
                    return child
        return None

    def stop_all(self) -> None:
        """SIGTERM every child at once, SIGKILL whichever has not exited by the timeout."""
        running = [c for c in self.children if c.alive()]
        for child in running:
            assert child.proc is not None
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in running:
            assert child.proc is not None
            try:
                child.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %ss: killing it", child.name, self.stop_timeout_s)
                child.proc.kill()
                child.proc.wait()
