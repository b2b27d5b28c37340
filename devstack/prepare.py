"""Bring PostgreSQL and Kafka to what the services expect: migrations applied, topics created.

`make run` calls it before starting the services; the compose file's one-shot `migrate` service
runs it as `python -m devstack.prepare` against the configured servers.
"""

from __future__ import annotations

import asyncio
import logging

from shared import migrate
from shared.config import CommonSettings
from shared.kafka import ensure_topics
from shared.logging import configure_logging

log = logging.getLogger(__name__)


def prepare(database_url: str, kafka_bootstrap_servers: str, partitions: int) -> None:
    migrate.upgrade(database_url)
    asyncio.run(ensure_topics(kafka_bootstrap_servers, partitions))


def main() -> None:
    settings = CommonSettings()
    configure_logging("prepare", settings.log_level, settings.log_json)
    prepare(settings.database_url, settings.kafka_bootstrap_servers, settings.kafka_partitions)
    log.info("migrations applied and topics present")


if __name__ == "__main__":
    main()
