"""The OpenAPI page (Swagger UI) served by each service itself, from the `swagger-ui-bundle`
package: no CDN, so it works offline and its CSP allows this origin only.

FastAPI's own /docs and /redoc load their scripts from a CDN and run an inline script; apps are
created with both off and call `install_api_docs` instead.
"""

from __future__ import annotations

import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from shared.errors import NotFound

DOCS_PATH = "/docs"
ASSETS_PATH = f"{DOCS_PATH}/assets"
# Only what the page loads; the package's demo index.html and initializer stay unserved.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
    "favicon-32x32.png": "image/png",
}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"}

PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="{assets}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{docs}/init.js" data-openapi-url="{openapi}"></script>
</body>
</html>
"""

# A file, not an inline script, so the CSP needs no 'unsafe-inline' for scripts.
INIT_JS = """window.ui = SwaggerUIBundle({
  url: document.currentScript.dataset.openapiUrl,
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


def install_api_docs(app: FastAPI) -> None:
    """GET /docs: Swagger UI for the app's OpenAPI document, every byte from this service."""
    assets_dir = Path(str(swagger_ui_path))

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        page = PAGE.format(
            title=html.escape(f"{app.title} - API"),
            assets=html.escape(root + ASSETS_PATH),
            docs=html.escape(root + DOCS_PATH),
            openapi=html.escape(root + (app.openapi_url or "/openapi.json")),
        )
        return HTMLResponse(page, headers=HEADERS)

    @app.get(f"{DOCS_PATH}/init.js", include_in_schema=False)
    async def init_js() -> Response:
        return Response(INIT_JS, media_type="text/javascript", headers=HEADERS)

    @app.get(ASSETS_PATH + "/{name}", include_in_schema=False)
    async def asset(name: str) -> FileResponse:
        media_type = ASSETS.get(name)
        if media_type is None:
            raise NotFound(f"no docs asset {name!r}")
        return FileResponse(
            assets_dir / name,
            media_type=media_type,
            headers=HEADERS | {"Cache-Control": "public, max-age=86400"},
        )
