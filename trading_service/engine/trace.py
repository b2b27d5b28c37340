"""The engine's log line per order message, under the request id and account that sent it.

An operator holding a request id from the API (the X-Request-ID response header) finds the
engine's line for the same order by that id.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from shared.request_context import bound
from trading_service.engine.accounting import Settlement
from trading_service.messages import CancelRequest, NewOrder, ReplaceRequest

log = logging.getLogger("trading_service.engine.orders")


def log_order_messages(decoded: Sequence[tuple[Any, Any]], settlement: Settlement) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    status = {o.id: o.status for o in settlement.orders}
    for record, message in decoded:
        if isinstance(message, NewOrder):
            kind, order_id, account = "new", message.order.id, message.order.account_id
        elif isinstance(message, CancelRequest | ReplaceRequest):
            kind = "cancel" if isinstance(message, CancelRequest) else "replace"
            order_id, account = message.order_id, message.account_id
        else:
            continue
        with bound(message.request_id, account):
            log.info(
                "order message processed",
                extra={
                    "kind": kind,
                    "order_id": str(order_id),
                    # None: nothing changed in this batch (a duplicate, or an order left resting)
                    "status": status.get(order_id),
                    "partition": record.partition,
                    "offset": record.offset,
                },
            )
