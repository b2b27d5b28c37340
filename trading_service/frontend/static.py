"""Serves the built web page (web/dist) at / : same origin as the API and the WebSocket.

The page is optional: without a build, / explains how to make one and the API works as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

DEFAULT_DIST = Path(__file__).resolve().parents[2] / "web" / "dist"

# Everything from this origin; nothing from elsewhere (the page runs offline by design).
# Inline styles: the chart library sets style attributes on the elements it creates.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}

NOT_BUILT = """<!doctype html><meta charset="utf-8"><title>stocksim</title>
<h1>The web page is not built</h1>
<p>Run <code>make web</code> (needs Node.js 20+ and npm), then reload. The API works without it:
see <a href="/docs">/docs</a>.</p>
"""


class HashedAssets(StaticFiles):
    """Vite names assets by content hash, so a browser may keep them forever."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    async def check_config(self) -> None:
        # Not built (yet): answer 404 for assets rather than failing; a later build is served.
        if self.directory is not None and await anyio.Path(self.directory).is_dir():
            await super().check_config()


def install_frontend(app: FastAPI, dist: Path | None = None) -> None:
    dist = dist or Path(os.environ.get("TRADING_WEB_DIST", DEFAULT_DIST))

    @app.get("/", include_in_schema=False)
    async def index() -> Response:
        page = dist / "index.html"
        if not page.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-cache"})
        return FileResponse(page, media_type="text/html", headers=PAGE_HEADERS)

    assets = HashedAssets(directory=dist / "assets", check_dir=False)
    # Compressed here only: API responses are small and latency-bound.
    app.mount("/assets", GZipMiddleware(assets, minimum_size=1024), name="assets")
