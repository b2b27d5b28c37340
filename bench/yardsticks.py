"""The shared yardsticks (`../shared/bench`: refbook.py, stream.py), found from the repository.

They live next to the repository, not in it: `../shared/bench` from the repository root (CI), or
from the main checkout when this is a git worktree of it. `STOCKSIM_SHARED_BENCH` overrides both.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ENV = "STOCKSIM_SHARED_BENCH"
REPO = Path(__file__).resolve().parents[1]


def _main_checkout() -> Path | None:
    """The main working tree when REPO is a linked worktree (its .git is a file)."""
    try:
        common = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--path-format=absolute", "--git-common-dir"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(common).parent if common else None


def shared_bench_dir() -> Path | None:
    """The folder holding refbook.py and stream.py, or None when there is none."""
    override = os.environ.get(ENV)
    if override:
        return Path(override) if (Path(override) / "refbook.py").is_file() else None
    candidates = [REPO.parent / "shared" / "bench"]
    main = _main_checkout()
    if main is not None:
        candidates.append(main.parent / "shared" / "bench")
    return next((c for c in candidates if (c / "refbook.py").is_file()), None)


def load() -> tuple[ModuleType, ModuleType]:
    """Import (refbook, stream); stream.py imports refbook by its plain name, hence sys.path."""
    folder = shared_bench_dir()
    if folder is None:
        raise FileNotFoundError(
            f"../shared/bench (refbook.py, stream.py) not found next to {REPO}; set {ENV}"
        )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module("refbook"), importlib.import_module("stream")
