"""The matching core runs compiled by mypyc where `make install` could compile it (setup.py), and
the Python files run the same tests: the image runs them (no C compiler there)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from trading_service.engine import core

CORE = Path(core.__file__).parent
# setup.py's COMPILED: all of them compiled or none (compiled modules call each other in C)
COMPILED = ["house", "book", "stops", "matching"]
PURE = bool(os.environ.get("STOCKSIM_PURE_PYTHON"))


def built(module: str) -> list[Path]:
    return list(CORE.glob(f"{module}{sysconfig.get_config_var('EXT_SUFFIX')}"))


def test_which_core_runs() -> None:
    cc = (sysconfig.get_config_var("CC") or "cc").split()[0]
    present = [m for m in COMPILED if built(m)]
    assert present in ([], COMPILED), f"only {present} compiled: run make install"
    if PURE:
        assert not core.compiled()
    else:
        assert core.compiled() == bool(present)
        if shutil.which(cc) and not present:
            pytest.fail(f"{cc} is here but the core is not compiled: make install compiles it")


@pytest.mark.skipif(not core.compiled(), reason="the core is not compiled")
def test_compiled_modules_are_newer_than_their_source() -> None:
    """A compiled module older than its .py would run the old code: `make` compiles again."""
    for module in COMPILED:
        source = CORE / f"{module}.py"
        (so,) = built(module)
        assert so.stat().st_mtime >= source.stat().st_mtime, f"{so.name} is older: make install"


@pytest.mark.skipif(PURE or not core.compiled(), reason="the Python files run here already")
def test_the_python_files_pass_the_core_tests() -> None:
    tests = Path(__file__).parent
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
         *(str(tests / name) for name in (
             "test_compiled.py", "test_book.py", "test_matching.py",
             "test_refbook_equivalence.py",
         ))],
        env={**os.environ, "STOCKSIM_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
