"""The engine's `executions` channel, decoded once per process and handed to every listener.

The feed owns no Redis connection: the hub's one subscription per process (realtime/hub.py,
which resubscribes when Redis goes away) taps every message into it. So the request waiters
(orders/executions.py), the WebSocket streams and the Alpaca streams share that subscription
and one decode of each message, instead of a subscription and a JSON parse each.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from trading_service.messages import EXECUTIONS_CHANNEL, Executions, MalformedMessage

log = logging.getLogger(__name__)

Listener = Callable[[Executions], None]

_CHANNEL = EXECUTIONS_CHANNEL.encode()


class ExecutionsFeed:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        """Listeners are called in the order they were added, synchronously, on every message."""
        self._listeners.append(listener)

    def tap(self, channel: bytes, data: bytes) -> None:
        """The hub's tap: called with every message of its subscription."""
        if channel != _CHANNEL:
            return
        try:
            executions = Executions.decode(data)
        except MalformedMessage:
            log.warning("skipping a malformed executions message", exc_info=True)
            return
        for listener in self._listeners:
            try:
                listener(executions)
            except Exception:
                # One consumer's bug must not keep the others (a waiting request) from the news.
                log.exception("an executions listener failed", extra={"listener": repr(listener)})
