"""The one request middleware (shared/metrics.py RequestTelemetry) of every service: request id
bound and echoed, the access line with it, the request counted and timed by route template,
the ids reset after; a request that raises is still counted (500) and logged."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI
from starlette.middleware import Middleware

from shared.errors import install_error_handlers
from shared.metrics import HTTP_LATENCY, HTTP_REQUESTS, RequestTelemetry, install_metrics
from shared.request_context import (
    REQUEST_ID_HEADER,
    account_id,
    bind_account,
    install_log_context,
    request_id,
)


def make_app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_metrics(app, "telemetry-test")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, object]:
        bind_account("acct-1")
        logging.getLogger("telemetry-test").info("inside")
        return {"id": thing_id, "rid": request_id.get()}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return app


def count(route: str, status: str) -> float:
    value: float = HTTP_REQUESTS.labels("telemetry-test", "GET", route, status)._value.get()
    return value


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_one_middleware_does_the_id_the_access_line_and_the_figures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_context()
    caplog.set_level(logging.INFO)
    app = make_app()
    telemetry = [m for m in app.user_middleware if m.cls is RequestTelemetry]
    assert len(app.user_middleware) == 1 and isinstance(telemetry[0], Middleware)
    before = count("/things/{thing_id}", "200")
    async with client(app) as c:
        given = await c.get("/things/7", headers={REQUEST_ID_HEADER: "rid-7"})
        made = await c.get("/things/8", headers={REQUEST_ID_HEADER: "bad id with spaces"})
    assert given.headers[REQUEST_ID_HEADER] == "rid-7" == given.json()["rid"]
    assert made.headers[REQUEST_ID_HEADER] == made.json()["rid"] != "bad id with spaces"
    assert len(made.headers[REQUEST_ID_HEADER]) == 32
    assert count("/things/{thing_id}", "200") == before + 2  # the template, not the path
    assert HTTP_LATENCY.labels("telemetry-test", "GET", "/things/{thing_id}")._sum.get() > 0
    inside = [r for r in caplog.records if r.getMessage() == "inside"]
    assert next((r.request_id, r.account_id) for r in inside) == ("rid-7", "acct-1")  # type: ignore[attr-defined]
    access = [r for r in caplog.records if r.name == "stocksim.access"]
    assert next((r.request_id, r.path, r.status) for r in access) == ("rid-7", "/things/7", 200)  # type: ignore[attr-defined]
    assert request_id.get() is None and account_id.get() is None  # reset after


async def test_a_request_that_raises_is_counted_and_logged_as_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_context()
    caplog.set_level(logging.INFO)
    before = count("/boom", "500")
    async with client(make_app()) as c:
        response = await c.get("/boom", headers={REQUEST_ID_HEADER: "rid-boom"})
    assert response.status_code == 500 and response.json()["error"] == "internal_error"
    assert count("/boom", "500") == before + 1
    access = [r for r in caplog.records if r.name == "stocksim.access"]
    assert [(r.request_id, r.status) for r in access] == [("rid-boom", 500)]  # type: ignore[attr-defined]
