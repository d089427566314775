"""Ingestion of prediction events from a queue topic into the monitor.

A prediction event is a message of type ``"prediction"`` whose payload has ``model_id``,
``prediction_id``, ``timestamp`` (ISO 8601 with a UTC offset), ``features``, ``prediction``, and
optionally ``probability`` and ``label``. A label that arrives later is a message of type ``"label"``
with ``model_id``, ``prediction_id``, ``label`` and optionally ``timestamp``.

Recording is idempotent by ``prediction_id``, so a redelivered event is stored once. An event that
fails validation (unknown model, missing field, wrong type) is rejected with the reason and goes to
the dead-letter topic. After every ``check_every`` recorded predictions of a model, its recent window
is checked, and each new alert is published on the alerts topic as well as stored and logged.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.errors import NotFoundError, ValidationError
from workbench.messaging import Message, Queue
from workbench.messaging.base import ConsumeResult
from workbench.monitoring.monitor import Monitor

logger = logging.getLogger(__name__)

PREDICTION_TYPE = "prediction"
LABEL_TYPE = "label"
ALERT_TYPE = "alert"

_PREDICTION_FIELDS = ("model_id", "prediction_id", "timestamp", "features", "prediction")
_LABEL_FIELDS = ("model_id", "prediction_id", "label")


@dataclass(frozen=True)
class IngestOptions:
    """Source topic, consumer group and check frequency of the ingestion consumer.

    Attributes
    ----------
    topic : str
        Topic of prediction and label events.
    group : str
        Consumer group; consumers of one group share the work.
    alerts_topic : str or None
        Topic that new alerts are published on; None publishes none.
    check_every : int
        Recorded predictions of a model between two checks of its window; 0 never checks.
    window : str
        Window that a check reads, such as ``last:1000``.
    """

    topic: str = "predictions"
    group: str = "workbench-ingest"
    alerts_topic: str | None = "alerts"
    check_every: int = 500
    window: str = "last:1000"


class PredictionConsumer:
    """Consume prediction and label events and record them through a :class:`Monitor`."""

    def __init__(self, queue: Queue, monitor: Monitor, options: IngestOptions | None = None) -> None:
        self.queue = queue
        self.monitor = monitor
        self.options = options or IngestOptions()
        self.recorded: Counter[str] = Counter()
        self.labels = 0
        if self.options.alerts_topic:
            self.monitor.alert_sinks.append(self._publish_alert)

    def run(self, *, stop: threading.Event | None = None, max_messages: int | None = None,
            idle_timeout: float | None = None) -> ConsumeResult:
        """Consume until ``stop`` is set, ``max_messages`` were settled or the topic stays idle."""
        logger.info("consuming %s as group %s", self.options.topic, self.options.group)
        result = self.queue.consume(self.options.topic, self.options.group, self.handle, stop=stop,
                                    max_messages=max_messages, idle_timeout=idle_timeout)
        logger.info("stopped consuming %s: %d handled, %d dead-lettered, %d retried", self.options.topic,
                    result.handled, result.dead_lettered, result.retried)
        return result

    def handle(self, message: Message) -> None:
        """Record one event; raise ValidationError for an event that can never be recorded."""
        payload = message.payload
        if message.type == LABEL_TYPE:
            _require(payload, _LABEL_FIELDS, message)
            _reject_unknown_model(self.monitor.record_label, payload["model_id"], payload["prediction_id"],
                                  payload["label"], timestamp=payload.get("timestamp"))
            self.labels += 1
            return
        if message.type != PREDICTION_TYPE:
            raise ValidationError(
                f"Message {message.message_id} has type {message.type!r}; this topic takes "
                f"{PREDICTION_TYPE!r} and {LABEL_TYPE!r} events.",
                field="type", value=message.type,
            )

        _require(payload, _PREDICTION_FIELDS, message)
        model_id = payload["model_id"]
        _reject_unknown_model(self.monitor.record, model_id, payload["features"], payload["prediction"],
                              payload.get("probability"), label=payload.get("label"),
                              prediction_id=payload["prediction_id"], timestamp=payload["timestamp"])
        self.recorded[model_id] += 1
        if self.options.check_every and self.recorded[model_id] % self.options.check_every == 0:
            self.monitor.status(model_id, self.options.window)

    def _publish_alert(self, alert: dict[str, Any]) -> None:
        payload = {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in alert.items()}
        self.queue.publish(self.options.alerts_topic, Message(payload, type=ALERT_TYPE, key=alert["model_id"]))


def _reject_unknown_model(function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Call ``function``, turning an unknown model into a rejection: retrying the event cannot help."""
    try:
        function(*args, **kwargs)
    except NotFoundError as exc:
        raise ValidationError(str(exc), field="model_id", value=exc.key) from exc


def _require(payload: dict[str, Any], fields: tuple[str, ...], message: Message) -> None:
    missing = [name for name in fields if payload.get(name) is None]
    if missing:
        raise ValidationError(
            f"{message.type} event {message.message_id} lacks {missing}; an event has {list(fields)}.",
            field=missing[0], value=None,
        )
