"""`python -m stock_service`: serve on STOCK_HOST:STOCK_PORT (default 127.0.0.1:8003)."""

from __future__ import annotations

import uvicorn

from shared.serving import uvicorn_options
from stock_service.app import create_app
from stock_service.config import StockSettings


def main() -> None:
    settings = StockSettings()
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        **uvicorn_options(),
    )


if __name__ == "__main__":
    main()
