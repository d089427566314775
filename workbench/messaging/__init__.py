"""Messaging: one queue interface over an embedded default, RabbitMQ and Kafka, chosen by URL.

- ``local:///relative/folder`` or ``local:////absolute/folder``: the embedded queue (SQLite; the
  SQLAlchemy convention of three slashes and a relative path, four for an absolute one).
- ``amqp://user:password@host:5672/vhost``: RabbitMQ through pika.
- ``kafka://host:9092[,host2:9092]``: Kafka through kafka-python.
"""

from __future__ import annotations

from typing import Any

from workbench.errors import ConfigError
from workbench.messaging.base import (
    DEAD_LETTER_SUFFIX,
    ConsumeResult,
    Handler,
    Outcome,
    Queue,
    QueueStatus,
    dead_letter_topic,
)
from workbench.messaging.envelope import Message
from workbench.store.urls import mask_url, url_scheme

SCHEMES = ("local", "amqp", "kafka")


def open_queue(url: str, **options: Any) -> Queue:
    """Open the queue at ``url``; ``options`` go to the backend's constructor.

    Raises
    ------
    ConfigError
        If the scheme is not supported or the URL lacks a part the backend needs.
    """
    scheme = url_scheme(url)
    if scheme == "local":
        prefix = "local:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ConfigError(f"Queue URL {mask_url(url)!r} has no folder; use local:///path/to/queue.",
                              name="WORKBENCH_QUEUE_URL", value=mask_url(url))
        from workbench.messaging.local import LocalQueue

        return LocalQueue(url[len(prefix):], url=url, **options)
    if scheme in ("amqp", "amqps"):
        from workbench.messaging.rabbitmq import RabbitMQQueue

        return RabbitMQQueue(url, **options)
    if scheme == "kafka":
        from workbench.messaging.kafka import KafkaQueue

        return KafkaQueue(url, **options)
    raise ConfigError(
        f"Queue URL {mask_url(url)!r} has an unsupported scheme {scheme!r}; supported: {', '.join(SCHEMES)}.",
        name="WORKBENCH_QUEUE_URL", value=mask_url(url),
    )


__all__ = [
    "DEAD_LETTER_SUFFIX",
    "SCHEMES",
    "ConsumeResult",
    "Handler",
    "Message",
    "Outcome",
    "Queue",
    "QueueStatus",
    "dead_letter_topic",
    "open_queue",
]
