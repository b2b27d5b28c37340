"""`python -m user_service`: serve the app on USER_HOST:USER_PORT."""

from __future__ import annotations

import uvicorn

from shared.serving import uvicorn_options
from user_service.app import create_app
from user_service.config import UserSettings


def main() -> None:
    settings = UserSettings()
    # log_config=None: uvicorn's records go through our JSON root handler.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        **uvicorn_options(),
    )


if __name__ == "__main__":
    main()
