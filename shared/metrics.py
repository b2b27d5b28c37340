"""Prometheus metrics of the HTTP services: requests by route template and status, latency.

Every service serves `GET /metrics` (Prometheus text format). Routes are labelled with their
template (`/orders/{order_id}`), never the raw path, so a client cannot create label values.

Several uvicorn workers: each worker process counts on its own. Set PROMETHEUS_MULTIPROC_DIR to
an empty folder (the same for all workers, wiped before each start) and `/metrics` of any worker
adds up all of them (prometheus-client's multiprocess mode); without it a scrape sees one worker.
"""

from __future__ import annotations

import os
import time

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

from shared.request_context import RequestId

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


class RequestMetrics:
    """Counts and times every HTTP request (WebSockets have their own gauges)."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = route_template(scope)
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(time.perf_counter() - started)


def install_metrics(app: FastAPI, service: str) -> None:
    """The request middlewares (request id and access line, figures) and `GET /metrics`."""
    app.add_middleware(RequestMetrics, service=service)
    app.add_middleware(RequestId)  # outermost: every line of the request carries its id

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
