"""The queue contract that every messaging backend implements.

Publishing returns only after the broker confirmed the message; an unconfirmed publish raises
:class:`~workbench.errors.PublishError` and is never reported as sent. Consuming is at-least-once:
a message is acknowledged (or its offset committed) only after the handler returned, so a consumer
that dies mid-message receives it again. Handlers must therefore be idempotent, as the prediction
ingestion is by ``prediction_id``.

What a handler's outcome does to a message is the same on every backend:

- the handler returns: the message is acknowledged;
- the body is not a valid envelope, or the handler raises :class:`~workbench.errors.ValidationError`:
  the message goes to the dead-letter topic ``<topic>.dead-letter`` with the reason in its headers,
  and is acknowledged;
- the handler raises anything else: the message is delivered again, up to ``max_deliveries`` times
  in all, then dead-lettered with the last error as the reason.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Self

from workbench.errors import ValidationError
from workbench.messaging.envelope import Message

logger = logging.getLogger(__name__)

Handler = Callable[[Message], None]

#: Deliveries of one message, the first included, before a failing handler sends it to the dead letters.
DEFAULT_MAX_DELIVERIES = 5

DEAD_LETTER_SUFFIX = ".dead-letter"

#: Headers that a dead-lettered message carries.
REASON_HEADER = "x-workbench-reason"
ORIGINAL_TOPIC_HEADER = "x-workbench-original-topic"
DELIVERIES_HEADER = "x-workbench-deliveries"


def stop_requested(stop: threading.Event | None) -> bool:
    """Return whether ``stop`` is set; None never stops."""
    return stop is not None and stop.is_set()


def wait_or_stop(stop: threading.Event | None, seconds: float) -> None:
    """Sleep ``seconds``, returning early when ``stop`` is set."""
    if stop is None:
        time.sleep(seconds)
    else:
        stop.wait(seconds)


def dead_letter_topic(topic: str) -> str:
    """Return the dead-letter topic of ``topic``."""
    return topic + DEAD_LETTER_SUFFIX


class Outcome(enum.Enum):
    """Outcome of one delivery."""

    ACKNOWLEDGED = "acknowledged"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"


@dataclass
class ConsumeResult:
    """Counts of one :meth:`Queue.consume` call."""

    handled: int = 0
    dead_lettered: int = 0
    retried: int = 0

    @property
    def settled(self) -> int:
        """Deliveries that were acknowledged or dead-lettered."""
        return self.handled + self.dead_lettered

    def add(self, outcome: Outcome) -> None:
        """Count one delivery's outcome."""
        if outcome is Outcome.ACKNOWLEDGED:
            self.handled += 1
        elif outcome is Outcome.DEAD_LETTERED:
            self.dead_lettered += 1
        else:
            self.retried += 1

    def to_dict(self) -> dict[str, int]:
        """Return the counts."""
        return asdict(self)


@dataclass(frozen=True)
class QueueStatus:
    """State of a queue connection.

    Attributes
    ----------
    backend : str
        ``"local"``, ``"rabbitmq"`` or ``"kafka"``.
    url : str
        The URL with any password masked.
    connected : bool
        Whether the broker responded.
    depth : dict
        Topic (or queue) to messages waiting, where the broker reports it, or consumer lag on Kafka.
    detail : str
        Error text when not connected, or extra broker facts.
    """

    backend: str
    url: str
    connected: bool
    depth: dict[str, int] = field(default_factory=dict)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return asdict(self)


class Queue(ABC):
    """Publish and consume enveloped messages on named topics."""

    url: str
    max_deliveries: int = DEFAULT_MAX_DELIVERIES

    @abstractmethod
    def publish(self, topic: str, message: Message, *, timeout: float | None = None) -> None:
        """Send one message and wait until the broker confirmed it.

        Raises :class:`~workbench.errors.PublishError` if the broker rejected it or did not confirm it
        within ``timeout`` seconds (the backend's default when None).
        """

    def publish_many(self, topic: str, messages: Iterable[Message], *, timeout: float | None = None) -> int:
        """Send messages and wait until the broker confirmed all of them; return how many were sent.

        Backends override this to keep confirmations pipelined instead of waiting for each message.
        """
        count = 0
        for message in messages:
            self.publish(topic, message, timeout=timeout)
            count += 1
        return count

    @abstractmethod
    def consume(
        self,
        topic: str,
        group: str,
        handler: Handler,
        *,
        max_messages: int | None = None,
        idle_timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> ConsumeResult:
        """Deliver the messages of ``topic`` to ``handler`` as a member of consumer group ``group``.

        Returns when ``stop`` is set (after finishing the current message), after ``max_messages``
        deliveries were settled, or when no message arrived for ``idle_timeout`` seconds.
        """

    def watch(self, topic: str, group: str | None = None) -> None:
        """Include ``topic``, and the lag of ``group`` on it, in :meth:`status` where the broker reports them.

        A broker reports depth and lag per topic and group, so a fresh queue object reports none until it
        publishes, consumes or is given them here. The embedded queue reports every topic without this call.
        """

    @abstractmethod
    def status(self) -> QueueStatus:
        """Return the connection state and, where the broker reports them, queue depth or lag."""

    @abstractmethod
    def close(self) -> None:
        """Send what is pending and release connections."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Shared handling of one delivery -----------------------------------------------------------------

    def handle_delivery(
        self,
        topic: str,
        body: bytes,
        handler: Handler,
        *,
        key: str | None = None,
        headers: Mapping[str, Any] | None = None,
        deliveries: int = 1,
    ) -> Outcome:
        """Parse and hand one delivery to ``handler`` and decide its outcome (see the module notes).

        ``deliveries`` counts this delivery, the first being 1. Dead-lettering publishes to
        ``<topic>.dead-letter`` before returning, so the caller may acknowledge afterwards.
        """
        try:
            message = Message.from_json(body, key=key, headers=headers)
        except ValidationError as exc:
            self._dead_letter(topic, body, key, headers, f"invalid envelope: {exc}", deliveries)
            return Outcome.DEAD_LETTERED

        try:
            handler(message)
        except ValidationError as exc:
            self._dead_letter(topic, body, key, headers, f"rejected by handler: {exc}", deliveries)
            return Outcome.DEAD_LETTERED
        except Exception as exc:  # noqa: BLE001 - any handler failure is retried, then dead-lettered
            if deliveries >= self.max_deliveries:
                reason = f"handler failed {deliveries} times, last with {type(exc).__name__}: {exc}"
                self._dead_letter(topic, body, key, headers, reason, deliveries)
                return Outcome.DEAD_LETTERED
            logger.warning("handler failed on message %s of topic %s (delivery %d of %d): %s: %s",
                           message.message_id, topic, deliveries, self.max_deliveries, type(exc).__name__, exc)
            return Outcome.RETRY
        return Outcome.ACKNOWLEDGED

    def _dead_letter(self, topic: str, body: bytes, key: str | None, headers: Mapping[str, Any] | None,
                     reason: str, deliveries: int) -> None:
        target = dead_letter_topic(topic)
        out_headers = {str(name): str(value) for name, value in (headers or {}).items()}
        out_headers.update({REASON_HEADER: reason, ORIGINAL_TOPIC_HEADER: topic, DELIVERIES_HEADER: str(deliveries)})
        self.publish_raw(target, body, key=key, headers=out_headers)
        logger.warning("message of topic %s moved to %s: %s", topic, target, reason)

    @abstractmethod
    def publish_raw(self, topic: str, body: bytes, *, key: str | None = None,
                    headers: Mapping[str, str] | None = None, timeout: float | None = None) -> None:
        """Send a body as it is, confirmed like :meth:`publish`; used for dead letters of invalid bodies."""
