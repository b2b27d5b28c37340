"""A day in a query string, as the API documents it: YYYY-MM-DD and nothing else."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from pydantic import BeforeValidator

_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _iso_day_only(value: Any) -> Any:
    """Pydantic also reads "0.0" or "1700000000" as Unix time, which nobody means by a day."""
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a day as YYYY-MM-DD, e.g. 2026-12-01")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_day_only)]
