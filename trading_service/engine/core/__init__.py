"""The matching core: order books and price-time matching in plain Python, with no I/O.

Prices are integer ticks (cents), quantities whole shares. Callers translate to and from
Decimal at the edges.

`make install` compiles house, book, stops and matching to C with mypyc where a C compiler is at
hand (setup.py): the same files, ~1.2-1.4x faster on the benchmark's streams. Where
nothing was compiled, or with STOCKSIM_PURE_PYTHON=1 in the environment, the Python files run
(same behaviour). `compiled()` tells which.
"""

import os
import sys
from importlib.machinery import (
    BYTECODE_SUFFIXES,
    EXTENSION_SUFFIXES,
    SOURCE_SUFFIXES,
    FileFinder,
    SourceFileLoader,
    SourcelessFileLoader,
)

if os.environ.get("STOCKSIM_PURE_PYTHON"):
    # This package's modules from their .py files even where compiled ones lie beside them: the
    # import system looks up the modules of a package through the finder cached for its folder.
    sys.path_importer_cache[__path__[0]] = FileFinder(
        __path__[0], (SourceFileLoader, SOURCE_SUFFIXES), (SourcelessFileLoader, BYTECODE_SUFFIXES)
    )


def compiled() -> bool:
    """Whether the matching runs compiled by mypyc, rather than as the Python files."""
    from trading_service.engine.core import matching

    return (matching.__file__ or "").endswith(tuple(EXTENSION_SUFFIXES))
