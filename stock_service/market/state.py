"""The walk state on disk, so `seq` never goes backwards across restarts.

While running, the file is rewritten every `reserve` ticks at most, marked unclean: after a crash
the next start skips `reserve` steps along the same deterministic path, beyond any seq that
may have been published after the last save. An orderly shutdown writes the exact state.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stock_service.market.random_walk import WalkState

FORMAT_VERSION = 1


class StateFileError(ValueError):
    """The state file exists but cannot be read; starting over would re-use published seqs."""


@dataclass(frozen=True, slots=True)
class SavedState:
    seed: int
    clean: bool  # written by an orderly shutdown: nothing was published past these seqs
    reserve: int  # ticks that may have been published after this save if it is not clean
    walks: dict[str, WalkState]


def _encode(state: SavedState) -> dict[str, Any]:
    return {
        "version": FORMAT_VERSION,
        "seed": state.seed,
        "clean": state.clean,
        "reserve": state.reserve,
        # repr-exact floats: json round-trips them bit for bit, so a resumed walk stays on its path
        "walks": {s: {"seq": w.seq, "log_price": w.log_price} for s, w in state.walks.items()},
    }


def _decode(raw: Any) -> SavedState:
    if not isinstance(raw, dict) or raw.get("version") != FORMAT_VERSION:
        raise ValueError(f"expected a version {FORMAT_VERSION} state object")
    walks = {
        str(symbol): WalkState(seq=int(walk["seq"]), log_price=float(walk["log_price"]))
        for symbol, walk in raw["walks"].items()
    }
    return SavedState(
        seed=int(raw["seed"]),
        clean=bool(raw["clean"]),
        reserve=int(raw["reserve"]),
        walks=walks,
    )


def load_state(path: Path) -> SavedState | None:
    """The saved state, or None when there is none yet."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        return _decode(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise StateFileError(
            f"cannot read {path}: {exc}; move it away to start every walk over at seq 0"
        ) from exc


def save_state(path: Path, state: SavedState) -> None:
    """Write atomically: a crash leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_encode(state), f, separators=(",", ":"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
