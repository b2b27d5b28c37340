"""The seed of every price path: the operator's STOCK_SEED, or else a secret of this system's own.

Each shock is a hash of (seed, symbol, seq), and symbol and seq are public: with a known seed
anyone can compute the next tick of every symbol. So unless STOCK_SEED asks for a reproducible
(and therefore predictable) market, a fresh system draws 256 random bits once and keeps them in
its data dir, readable by its owner only, so a restart continues the same path.
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

log = logging.getLogger(__name__)

SEED_BITS = 256


class SeedFileError(ValueError):
    """The seed file exists but holds no seed: a new one would change every future path."""


def market_seed(configured: int | None, path: Path) -> int:
    """`configured` when set; else the seed kept at `path`, drawn and written on first use."""
    if configured is not None:
        return configured
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    seed = secrets.randbits(SEED_BITS)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once cannot both write; mode 600 from the start.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path)
    with os.fdopen(fd, "w") as f:
        f.write(f"{seed}\n")
        f.flush()
        os.fsync(f.fileno())
    log.info("drew a new secret price seed", extra={"path": str(path)})
    return seed


def _read(path: Path) -> int:
    text = path.read_text()
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        # Anyone who reads it can predict every price: keep it to the owner.
        path.chmod(0o600)
        log.warning(
            "made the price seed file readable by its owner only", extra={"path": str(path)}
        )
    try:
        return int(text.strip())
    except ValueError:
        raise SeedFileError(
            f"{path} holds no seed; restore it, or move it away to start unpredictable new paths"
        ) from None
