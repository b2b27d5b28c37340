"""The build's one extra step: the matching core compiled to C with mypyc (it ships with mypy).

The compiled modules are the same Python files (what a reader reads), built into extension
modules next to them (`make install`: in place; the image: into its install). Where no C compiler
is at hand, or STOCKSIM_PURE_PYTHON=1 is set, nothing is compiled and the pure-Python modules
run: the same behaviour, slower. `trading_service.engine.core.compiled()` tells which one runs
(tests/engine_core/test_compiled.py fails where a compiler is and nothing was compiled).
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The core's modules but model.py, which stays Python: mypyc cannot compile a generic dataclass
# (mypyc#827). The same list: the Makefile's CORE_COMPILED, tests/engine_core/test_compiled.py.
COMPILED = [
    "trading_service/engine/core/house.py",
    "trading_service/engine/core/book.py",
    "trading_service/engine/core/stops.py",
    "trading_service/engine/core/matching.py",
]


def c_compiler() -> bool:
    """Whether the C compiler Python was built with (or $CC) is on this machine."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shutil.which(cc.split()[0]) is not None


class AllOrNothing(build_ext):
    """The compiled modules call each other in C: if one fails to build, none is installed and
    the pure-Python modules run; the install goes on."""

    def build_extensions(self) -> None:
        try:
            super().build_extensions()
        except Exception as error:  # a compiler error, or no compiler after all
            for module in self.extensions:
                built = self.get_ext_fullpath(module.name)
                if os.path.exists(built):
                    os.remove(built)
            self.extensions = []
            print(f"the matching core is not compiled ({error}): pure Python", file=sys.stderr)


def extensions() -> list[object]:
    if os.environ.get("STOCKSIM_PURE_PYTHON") or not c_compiler():
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    try:
        # --config-file=: not pyproject.toml's settings, whose plugin (pydantic) the build has not
        return list(
            mypycify(
                ["--config-file=", *COMPILED], group_name="trading_service.engine.core.compiled"
            )
        )
    except (Exception, SystemExit) as error:  # mypyc's own check failed: it exits
        print(f"the matching core is not compiled ({error}): pure Python", file=sys.stderr)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": AllOrNothing})
