"""/docs works offline: every script, style and image of the OpenAPI page comes from the service
itself, and its CSP names no other origin."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from stock_service.app import create_app as create_stock_app
from tests.hostile.conftest import user_settings
from tests.stock_service.conftest import make_settings
from trading_service.app import create_app as create_trading_app
from trading_service.config import TradingSettings
from user_service.app import create_app as create_user_app


def _apps(tmp_path: Path, trading: TradingSettings) -> dict[str, FastAPI]:
    return {
        "user": create_user_app(user_settings()),
        "trading": create_trading_app(trading),
        "stock": create_stock_app(make_settings(tmp_path, ["DOCSA"])),
    }


@pytest.mark.parametrize("service", ["user", "trading", "stock"])
async def test_the_openapi_page_loads_only_same_origin_assets(
    service: str, tmp_path: Path, hostile_trading_settings: TradingSettings
) -> None:
    app = _apps(tmp_path, hostile_trading_settings)[service]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://service"
    ) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "http" not in csp and "*" not in csp and "script-src 'self';" in csp
        assert "<script>" not in page.text  # no inline script for the CSP to allow
        urls = re.findall(r'(?:src|href|data-openapi-url)="([^"]*)"', page.text)
        assert len(urls) >= 4, page.text
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 0, url
        scripts = re.findall(r'<script src="([^"]*)"', page.text)
        assert any(s.endswith("swagger-ui-bundle.js") for s in scripts), scripts
        spec = await client.get(re.findall(r'data-openapi-url="([^"]*)"', page.text)[0])
        assert spec.json()["info"]["title"] == app.title
        # Nothing of the package beyond what the page needs, and no CDN-backed ReDoc page.
        assert (await client.get("/docs/assets/index.html")).status_code == 404
        assert (await client.get("/redoc")).status_code == 404
