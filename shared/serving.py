"""The uvicorn options every service runs with, wherever it is started (devstack, compose,
`python -m`, the load and fault systems, tests): security settings, so they live in one place.

- No proxy headers: uvicorn would otherwise replace the client address with the one a local
  client wrote in `X-Forwarded-For`, and per-address limits could be dodged. The one switch for
  running behind a proxy is the app's own `USER_TRUST_FORWARDED_FOR` (user_service/throttle.py
  reads the rightmost hop, the one the proxy appended).
- WebSocket frames: refused from the frame header (close code 1009) before the payload is
  read; uvicorn's default would buffer up to 16 MiB of it first.
"""

from __future__ import annotations

from typing import Any

# No client message of the WebSocket protocol comes near this (trading_service/realtime).
WS_MAX_MESSAGE_BYTES = 64 * 1024
# uvicorn's own sans-io WebSockets, letting the stream write frames it encoded once for many
# clients straight to the socket (trading_service/realtime/ws_protocol.py).
WS_PROTOCOL = "trading_service.realtime.ws_protocol:StreamProtocol"


def uvicorn_options() -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` / `uvicorn.Config`."""
    return {"proxy_headers": False, "ws_max_size": WS_MAX_MESSAGE_BYTES, "ws": WS_PROTOCOL}


def uvicorn_flags() -> list[str]:
    """The same options as `uvicorn` command-line flags."""
    return ["--no-proxy-headers", "--ws-max-size", str(WS_MAX_MESSAGE_BYTES), "--ws", WS_PROTOCOL]
