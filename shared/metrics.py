"""Prometheus metrics of the HTTP services: requests by route template and status, latency.

Every service serves `GET /metrics` (Prometheus text format). Routes are labelled with their
template (`/orders/{order_id}`), never the raw path, so a client cannot create label values.

Several uvicorn workers: each worker process counts on its own. Set PROMETHEUS_MULTIPROC_DIR to
an empty folder (the same for all workers, wiped before each start) and `/metrics` of any worker
adds up all of them (prometheus-client's multiprocess mode); without it a scrape sees one worker.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.request_context import accept_request_id, access_log, account_id, request_id

UNMATCHED = "<unmatched>"

# Latency buckets from a cached read (ms) to an order that waits for the engine (seconds).
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter(
    "stocksim_http_requests_total",
    "HTTP requests answered, by service, method, route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "stocksim_http_request_duration_seconds",
    "Time from request to the end of the response, by service, method and route template.",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)


# Collectors that read live state at scrape time (the engine's lag, the price feed): shown by
# the process that holds the state, in multiprocess mode too.
_LIVE: list[Collector] = []


def register_live(collector: Collector) -> Collector:
    REGISTRY.register(collector)
    _LIVE.append(collector)
    return collector


def render_metrics() -> tuple[bytes, str]:
    """The exposition text of this process, or of all workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        for collector in _LIVE:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class RequestTelemetry:
    """Per request, in one middleware: binds the request id (the client's `X-Request-ID` when
    well-formed, else a new one) for every log line written inside, and resets both ids after;
    echoes it in the response; writes the access line; counts and times every HTTP request
    (WebSockets have their own gauges, but their lines carry the id too)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # Per (method, route, status): the label children, found once (labels() locks and
        # hashes its arguments every time).
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        raw = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                raw = value.decode("latin-1")
                break
        rid = accept_request_id(raw)
        tokens = (request_id.set(rid), account_id.set(None))
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering
        echoed = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if kind == "http":
                elapsed = time.perf_counter() - started
                method = scope["method"]
                if access_log.isEnabledFor(logging.INFO):
                    access_log.info(
                        "request",
                        extra={
                            "method": method,
                            "path": scope["path"],
                            "status": status,
                            "ms": round(1000 * elapsed, 1),
                        },
                    )
                self._count(method, route_template(scope), status, elapsed)
            request_id.reset(tokens[0])
            account_id.reset(tokens[1])

    def _count(self, method: str, route: str, status: int, elapsed: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = (
                HTTP_REQUESTS.labels(self.service, method, route, str(status)),
                HTTP_LATENCY.labels(self.service, method, route),
            )
        children[0].inc()
        children[1].observe(elapsed)


def install_metrics(app: FastAPI, service: str) -> None:
    """The request middleware (request id, access line, figures) and `GET /metrics`."""
    app.add_middleware(RequestTelemetry, service=service)  # outermost: every line has the id

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        description="Prometheus text exposition format (see ops/grafana/stocksim.json).",
        response_class=Response,
    )
    async def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)
