"""The RabbitMQ queue: topics kept as RabbitMQ streams, read by consumer groups through pika.

Layout on the broker, all durable:

- A topic ``t`` is a ``topic`` exchange ``t`` bound with ``#`` to a stream queue ``t``
  (``x-queue-type: stream``, RabbitMQ 3.9 or later). A message's ``key`` is its routing key, so other
  applications can bind their own queues to the exchange by key.
- A consumer group ``g`` of ``t`` stores the offset of its next message in the classic queue
  ``workbench.group-offset/<g>/<t>``, whose ``x-max-length: 1`` keeps only the newest offset.
- A consumer of ``g`` reads ``t`` only while it has the token of the queue
  ``workbench.group-token/<g>/<t>``, which has a single active consumer. A second consumer of the
  group waits, without polling, until RabbitMQ hands it the token when the first one's connection
  closes. So one consumer of a group reads a topic at a time, as in the embedded queue.

A stream is a log that consuming does not empty, which is what the queue contract needs. Every group
gets every message of a topic, including those published before the group first consumed, and a new
group starts at the first message the stream still keeps. Classic queues would give that only to groups
whose queue existed when the message was published. ``<topic>.dead-letter`` is a topic like any other.

Publishing sends persistent messages (``delivery_mode=2``) with ``mandatory=True`` on a channel in
confirm mode, and returns once RabbitMQ confirmed all of them. A negative confirm (``basic.nack``), a
returned (unroutable) message or ``publish_timeout`` without a confirm raises
:class:`~workbench.errors.PublishError`. Confirms are pipelined: :meth:`RabbitMQQueue.publish_many`
sends every message before it waits, and tracks ``basic.ack`` with ``multiple=True``.

Consuming subscribes to the stream at the group's stored offset (``x-stream-offset``) with a prefetch
of ``prefetch`` messages and manual acks, which a stream needs to pace its deliveries. The handler runs
in the thread that called :meth:`RabbitMQQueue.consume`, while the connection's I/O loop runs in a
thread of its own, so heartbeats flow while a slow handler runs. After the handler returned, the
consuming thread hands the ack and the new offset to the I/O loop through ``add_callback_threadsafe``,
and the loop acknowledges all messages handled since its last turn with one ``basic.ack`` with
``multiple=True``. At most one offset write is in flight at a time and a newer offset replaces one
still waiting, so a consumer that dies may see the last few handled messages again.

A message whose handler raises is handled again at once by the same consumer, as the embedded queue
does. Republishing it would append a copy that every other group would also read. The count of
deliveries lives in the consumer's memory, so it restarts at 1 when a consumer restarts.

A lost connection is opened again with exponential backoff (0.5 s, doubled per failed attempt up to
``reconnect_max_delay``), logged at WARNING on every attempt and at INFO once it succeeds. A publisher
with nothing to send waits for its next publish before it reconnects. Messages that were sent but not
confirmed when the connection dropped are sent again on the new one, so a consumer may see duplicates,
and handlers must be idempotent anyway.

NOTE: streams write to the operating system's page cache without fsync and count on replication for
safety (RabbitMQ's streams guide, "Data Safety"). On a single-node broker a confirmed message survives
a restart or a crash of RabbitMQ, but not necessarily a power loss or a kernel crash.
NOTE: a stream keeps every message until a retention limit removes it. Set ``max_age`` or
``max_length_bytes``, or a RabbitMQ policy, where topics grow without bound.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple
from urllib.parse import quote

import pika
import pika.exceptions
from pika import spec
from pika.adapters.select_connection import IOLoop

from workbench.errors import ConfigError, MessagingError, PublishError, ValidationError
from workbench.messaging.base import ConsumeResult, Handler, Outcome, Queue, QueueStatus, stop_requested
from workbench.messaging.envelope import Message
from workbench.store.urls import mask_url

logger = logging.getLogger(__name__)

DEFAULT_PUBLISH_TIMEOUT = 30.0
DEFAULT_PREFETCH = 1
DEFAULT_CONNECTION_TIMEOUT = 10.0
DEFAULT_RECONNECT_MAX_DELAY = 30.0
#: First pause before a reconnect attempt, in seconds. It doubles on every failed attempt.
RECONNECT_INITIAL_DELAY = 0.5
#: Seconds a consumer waits for its group's token before it logs that another consumer has the group.
TOKEN_WAIT_NOTICE_SECONDS = 1.0
#: Seconds between reopenings of a channel that RabbitMQ closed with an error.
CHANNEL_RETRY_SECONDS = 1.0
#: Maximum wait of a consuming thread for a delivery before it checks ``stop`` and ``idle_timeout``.
POLL_SECONDS = 0.1
#: Maximum time, in seconds, that one turn of the I/O loop spends handing messages to pika, so that
#: heartbeats and confirms are handled between turns. Shorter turns were slower: with turns of 1,000
#: messages, publishing 20,000 as benchmarks/bench_rabbitmq.py does had about 40 % lower throughput on a
#: busy 2-core machine, and RabbitMQ 3.10 sent several times as many confirm frames. 0.5 s is well
#: inside a 2 s heartbeat timeout.
PUBLISH_TURN_SECONDS = 0.5
#: Messages sent between two looks at the clock during a turn.
_MESSAGES_PER_CLOCK_CHECK = 256

#: Header in which RabbitMQ gives the offset of a message read from a stream.
STREAM_OFFSET_HEADER = "x-stream-offset"
#: Reply codes of a failed declaration that a retry cannot mend: ACCESS_REFUSED, PRECONDITION_FAILED.
_SETUP_ERRORS = (403, 406)
_OFFSET_QUEUE_PREFIX = "workbench.group-offset/"
_TOKEN_QUEUE_PREFIX = "workbench.group-token/"
#: AMQP 0-9-1 limits queue and exchange names and routing keys to 255 bytes.
_MAX_NAME_BYTES = 255

_COMMIT_PROPERTIES = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Persistent)
_TOKEN_PROPERTIES = pika.BasicProperties(delivery_mode=pika.DeliveryMode.Transient)
_TOKEN_QUEUE_ARGUMENTS = {"x-single-active-consumer": True, "x-max-length": 1}


# Connection loop -------------------------------------------------------------------------------------


class _ConnectionLoop:
    """One pika SelectConnection served by an I/O loop in its own thread, reopened when it drops.

    Every attribute is owned by the I/O thread unless noted. Other threads reach it only through
    :meth:`call`, which wraps pika's ``add_callback_threadsafe``.
    """

    def __init__(self, parameters: pika.URLParameters, *, masked_url: str, role: str,
                 reconnect_max_delay: float) -> None:
        self._parameters = parameters
        self.masked_url = masked_url
        self._role = role
        self._reconnect_max_delay = reconnect_max_delay
        self._ioloop = IOLoop()
        self._connection: pika.SelectConnection | None = None
        self._closing = False
        self._reconnect_timer: object | None = None
        #: Failed attempts since the connection was last open.
        self._failures = 0
        self._was_connected = False
        #: Text of the last connection error, which other threads read for their messages.
        self.last_error = ""
        self._thread = threading.Thread(target=self._run, name=f"workbench-rabbitmq-{role}", daemon=True)

    # Thread-safe entry points

    def start(self) -> None:
        self._thread.start()

    def call(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the I/O thread."""
        self._ioloop.add_callback_threadsafe(callback)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None) -> bool:
        """Wait for the I/O thread to end and return whether it did."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Close the connection and end the I/O thread without waiting for pending work."""
        if self.alive():
            self.call(self._shut_down)

    # I/O thread

    def _run(self) -> None:
        self._connect()
        try:
            self._ioloop.start()
        except Exception as exc:  # the thread must report why it ended
            logger.exception("RabbitMQ %s I/O loop at %s failed", self._role, self.masked_url)
            self.last_error = _describe(exc)
            self._loop_failed(exc)
        finally:
            self._ioloop.close()

    def _connect(self) -> None:
        self._reconnect_timer = None
        if self._closing:
            return
        self._connection = pika.SelectConnection(
            self._parameters, on_open_callback=self._on_open, on_open_error_callback=self._on_open_error,
            on_close_callback=self._on_closed, custom_ioloop=self._ioloop,
        )

    def _on_open(self, connection: pika.SelectConnection) -> None:
        if self._was_connected:
            logger.info("reconnected to RabbitMQ at %s (%s) at attempt %d", self.masked_url, self._role,
                        self._failures + 1)
        elif self._failures:
            logger.info("connected to RabbitMQ at %s (%s) at attempt %d", self.masked_url, self._role,
                        self._failures + 1)
        else:
            logger.debug("connected to RabbitMQ at %s (%s)", self.masked_url, self._role)
        self._failures = 0
        self._was_connected = True
        self.last_error = ""
        connection.add_on_connection_blocked_callback(self._on_blocked)
        connection.add_on_connection_unblocked_callback(self._on_unblocked)
        self._opened(connection)

    def _on_open_error(self, connection: pika.SelectConnection, error: BaseException) -> None:
        self._connection = None
        self.last_error = _describe(error)
        if self._closing:
            self._ioloop.stop()
            return
        self._failures += 1
        verb = "reconnect" if self._was_connected else "connection"
        if not self._needs_connection():
            logger.warning("%s attempt %d to RabbitMQ at %s (%s) failed: %s; trying again when there is work",
                           verb, self._failures, self.masked_url, self._role, self.last_error)
            return
        delay = self._backoff()
        logger.warning("%s attempt %d to RabbitMQ at %s (%s) failed: %s; attempt %d in %.1f s", verb,
                       self._failures, self.masked_url, self._role, self.last_error, self._failures + 1, delay)
        self._reconnect_timer = self._ioloop.call_later(delay, self._connect)

    def _on_closed(self, connection: pika.SelectConnection, reason: BaseException) -> None:
        self._connection = None
        self._lost()
        if self._closing:
            self._ioloop.stop()
            return
        self.last_error = _describe(reason)
        self._failures = 0
        if not self._needs_connection():
            logger.warning("connection to RabbitMQ at %s (%s) lost: %s; reconnecting when there is work",
                           self.masked_url, self._role, self.last_error)
            return
        delay = self._backoff()
        logger.warning("connection to RabbitMQ at %s (%s) lost: %s; reconnect attempt 1 in %.1f s",
                       self.masked_url, self._role, self.last_error, delay)
        self._reconnect_timer = self._ioloop.call_later(delay, self._connect)

    def _connect_if_idle(self) -> None:
        """Start connecting unless a connection is open, opening, or waiting for its next attempt."""
        if self._connection is None and self._reconnect_timer is None and not self._closing:
            self._connect()

    def _backoff(self) -> float:
        """Return the pause before the next attempt: 0.5 s, doubled per failed attempt, capped."""
        return min(RECONNECT_INITIAL_DELAY * 2 ** self._failures, self._reconnect_max_delay)

    def _on_blocked(self, connection: pika.SelectConnection, frame: Any) -> None:
        logger.warning("RabbitMQ at %s blocked the %s connection (%s); publishing waits until it unblocks",
                       self.masked_url, self._role, getattr(frame.method, "reason", "no reason given"))

    def _on_unblocked(self, connection: pika.SelectConnection, frame: Any) -> None:
        logger.info("RabbitMQ at %s unblocked the %s connection", self.masked_url, self._role)

    def _shut_down(self) -> None:
        self._closing = True
        if self._reconnect_timer is not None:
            self._ioloop.remove_timeout(self._reconnect_timer)
            self._reconnect_timer = None
        connection = self._connection
        if connection is None:
            self._ioloop.stop()
        elif not (connection.is_closing or connection.is_closed):
            # Closing ends in _on_closed, or in _on_open_error while the connection is still opening.
            connection.close()

    # Hooks for subclasses, called on the I/O thread

    def _opened(self, connection: pika.SelectConnection) -> None:
        raise NotImplementedError

    def _needs_connection(self) -> bool:
        """Return whether to reconnect now. If not, :meth:`_connect_if_idle` reconnects later."""
        return True

    def _lost(self) -> None:
        """Forget the channels of a connection that closed."""

    def _loop_failed(self, error: BaseException) -> None:
        """Release waiting threads after the I/O loop raised."""


# Publishing ------------------------------------------------------------------------------------------


class _Batch:
    """Messages of one publish call, done once all were confirmed, one failed or the caller gave up."""

    def __init__(self, count: int) -> None:
        self.size = count
        self.remaining = count
        self.error: str | None = None
        self.done = threading.Event()
        self._lock = threading.Lock()

    def finish(self, error: str | None = None) -> None:
        with self._lock:
            if not self.done.is_set():
                self.error = error
                self.done.set()

    def abandon(self, error: str) -> bool:
        """Mark the batch failed unless it finished, and return whether it was still pending."""
        with self._lock:
            if self.done.is_set():
                return False
            self.error = error
            self.done.set()
            return True


class _Outgoing(NamedTuple):
    batch: _Batch
    topic: str
    key: str
    body: bytes
    properties: pika.BasicProperties


class _Publisher(_ConnectionLoop):
    """Publisher that sends messages on a confirm-mode channel and declares topics on a second channel.

    Declaring on a channel of its own keeps a failed declaration (RabbitMQ closes the channel) from
    dropping the confirms that the publishing channel waits for.
    """

    def __init__(self, parameters: pika.URLParameters, *, masked_url: str, reconnect_max_delay: float,
                 stream_arguments: dict[str, Any]) -> None:
        super().__init__(parameters, masked_url=masked_url, role="publisher",
                         reconnect_max_delay=reconnect_max_delay)
        self._stream_arguments = stream_arguments
        self._channel: Any = None
        self._admin: Any = None
        self._outbox: collections.deque[_Outgoing] = collections.deque()
        self._unconfirmed: dict[int, _Outgoing] = {}
        self._sequence = 0
        self._lowest_unconfirmed = 1
        self._declared: set[str] = set()
        self._declaring: str | None = None
        self._flush_scheduled = False
        self._pending_batches: set[_Batch] = set()
        self._pending_lock = threading.Lock()

    # Thread-safe entry points

    def submit(self, items: list[_Outgoing]) -> None:
        with self._pending_lock:
            self._pending_batches.add(items[0].batch)
        self.call(lambda: self._enqueue(items))

    def forget(self, batch: _Batch) -> None:
        with self._pending_lock:
            self._pending_batches.discard(batch)

    def pending_batches(self) -> list[_Batch]:
        """Return the batches whose publish call still waits, for close() to wait on."""
        with self._pending_lock:
            return [batch for batch in self._pending_batches if not batch.done.is_set()]

    # I/O thread: channels

    def _opened(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_channel_open)
        connection.channel(on_open_callback=self._on_admin_open)

    def _on_channel_open(self, channel: Any) -> None:
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(self._on_return)
        channel.confirm_delivery(ack_nack_callback=self._on_confirm,
                                 callback=lambda frame: self._on_confirm_mode(channel))

    def _on_confirm_mode(self, channel: Any) -> None:
        self._channel = channel
        self._sequence = 0
        self._lowest_unconfirmed = 1
        self._schedule_flush()

    def _on_admin_open(self, channel: Any) -> None:
        channel.add_on_close_callback(self._on_admin_closed)
        self._admin = channel
        self._schedule_flush()

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is not self._channel and self._channel is not None:
            return
        self._channel = None
        self._resend_unconfirmed()
        connection = self._connection
        if self._closing or connection is None or not connection.is_open:
            return
        logger.warning("RabbitMQ at %s closed the publishing channel: %s; reopening it", self.masked_url,
                       _describe(reason))
        # The exchange or stream may have been deleted, so declare topics again.
        self._declared.clear()
        self._ioloop.call_later(CHANNEL_RETRY_SECONDS, self._reopen_channel)

    def _reopen_channel(self) -> None:
        connection = self._connection
        if connection is not None and connection.is_open and self._channel is None:
            connection.channel(on_open_callback=self._on_channel_open)

    def _on_admin_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is not self._admin:
            return
        self._admin = None
        topic, self._declaring = self._declaring, None
        connection = self._connection
        if topic is not None:
            self._fail_topic(topic, f"declaring the exchange and stream of topic {topic!r} failed: "
                                    f"{_describe(reason)}")
        if not self._closing and connection is not None and connection.is_open:
            connection.channel(on_open_callback=self._on_admin_open)

    def _lost(self) -> None:
        self._channel = None
        self._admin = None
        self._declaring = None
        self._declared.clear()
        self._resend_unconfirmed()

    def _loop_failed(self, error: BaseException) -> None:
        for batch in self.pending_batches():
            batch.finish(f"the RabbitMQ I/O loop failed: {_describe(error)}")

    def _needs_connection(self) -> bool:
        # An idle publisher reconnects on its next publish, so that a broker that went away for good
        # does not fill the log with attempts.
        waiting = [item for item in self._outbox if not item.batch.done.is_set()]
        self._outbox = collections.deque(waiting)
        return bool(waiting)

    # I/O thread: sending

    def _enqueue(self, items: list[_Outgoing]) -> None:
        self._outbox.extend(items)
        self._connect_if_idle()
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._ioloop.add_callback_threadsafe(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        channel = self._channel
        if channel is None or not channel.is_open:
            return
        outbox, unconfirmed, declared = self._outbox, self._unconfirmed, self._declared
        sequence = self._sequence
        turn_ends = time.monotonic() + PUBLISH_TURN_SECONDS
        sent = 0
        try:
            while outbox:
                if sent % _MESSAGES_PER_CLOCK_CHECK == 0 and sent and time.monotonic() > turn_ends:
                    break
                item = outbox[0]
                batch, topic, key, body, properties = item
                if batch.done.is_set():
                    # The batch failed or its caller gave up, so a message sent now would be reported as not sent.
                    outbox.popleft()
                    continue
                if topic not in declared:
                    self._declare(topic)
                    return
                outbox.popleft()
                channel.basic_publish(topic, key, body, properties, mandatory=True)
                sequence += 1
                unconfirmed[sequence] = item
                sent += 1
        finally:
            self._sequence = sequence
        if outbox:
            self._schedule_flush()

    def _declare(self, topic: str) -> None:
        channel = self._admin
        if self._declaring is not None or channel is None or not channel.is_open:
            return
        self._declaring = topic

        def bind(frame: Any) -> None:
            channel.queue_bind(topic, topic, routing_key="#", callback=declared)

        def declared(frame: Any) -> None:
            if channel is self._admin and self._declaring == topic:
                self._declaring = None
                self._declared.add(topic)
                self._schedule_flush()

        channel.exchange_declare(
            exchange=topic, exchange_type="topic", durable=True,
            callback=lambda frame: channel.queue_declare(topic, durable=True, arguments=self._stream_arguments,
                                                         callback=bind),
        )

    # I/O thread: confirms

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        last = method.delivery_tag
        first = self._lowest_unconfirmed if method.multiple else last
        unconfirmed = self._unconfirmed
        if isinstance(method, spec.Basic.Ack):
            for tag in range(first, last + 1):
                item = unconfirmed.pop(tag, None)
                if item is not None:
                    batch = item.batch
                    batch.remaining -= 1
                    if batch.remaining == 0:
                        batch.finish()
        else:
            for tag in range(first, last + 1):
                item = unconfirmed.pop(tag, None)
                if item is not None:
                    item.batch.finish(f"RabbitMQ rejected a message (basic.nack, delivery tag {tag})")
        lowest = self._lowest_unconfirmed
        while lowest <= self._sequence and lowest not in unconfirmed:
            lowest += 1
        self._lowest_unconfirmed = lowest

    def _on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        # RabbitMQ sends basic.return before the confirm of the same message (its publisher confirms
        # guide), so the batch is still pending here. Without a message id to match, every pending
        # message of the topic fails.
        reason = (f"RabbitMQ returned a message of topic {method.exchange!r} as unroutable "
                  f"({method.reply_code} {method.reply_text}); the topic's stream or binding is missing")
        self._declared.discard(method.exchange)
        for item in list(self._unconfirmed.values()):
            if item.topic == method.exchange and (properties.message_id is None
                                                  or item.properties.message_id == properties.message_id):
                item.batch.finish(reason)

    def _resend_unconfirmed(self) -> None:
        """Put sent but unconfirmed messages back at the head of the outbox, in their order."""
        if self._unconfirmed:
            self._outbox.extendleft(reversed(list(self._unconfirmed.values())))
            self._unconfirmed.clear()

    def _fail_topic(self, topic: str, reason: str) -> None:
        for item in self._outbox:
            if item.topic == topic:
                item.batch.finish(reason)
        self._schedule_flush()


# Consuming -------------------------------------------------------------------------------------------


class _Delivery(NamedTuple):
    generation: int
    delivery_tag: int
    offset: int
    key: str | None
    headers: dict[str, Any]
    body: bytes


class _Failure(NamedTuple):
    message: str


class _GroupConsumer(_ConnectionLoop):
    """Reader of one topic's stream for one consumer group, from the group's stored offset.

    Two channels serve it, and each step below runs in the callback of the one before. The token
    channel declares the group's token queue, adds a token to it and subscribes to it. Once a token
    arrives, this consumer has the group and opens the stream channel, which sets the prefetch and
    confirm mode, declares the topic's exchange, stream and binding, reads the stored offset and
    subscribes to the stream. With the token on a channel of its own, the stream channel can
    acknowledge with ``multiple=True`` without releasing the token.

    Deliveries go to :attr:`deliveries` for the consuming thread, and :meth:`settle` brings back the
    acks and the group's next offset. ``generation`` counts stream channels, so an ack meant for a
    channel that closed is dropped instead of sent on its successor.
    """

    def __init__(self, parameters: pika.URLParameters, *, masked_url: str, reconnect_max_delay: float,
                 topic: str, group: str, prefetch: int, stream_arguments: dict[str, Any]) -> None:
        super().__init__(parameters, masked_url=masked_url, role=f"consumer of {topic!r} for group {group!r}",
                         reconnect_max_delay=reconnect_max_delay)
        self.topic = topic
        self.group = group
        self._prefetch = prefetch
        self._stream_arguments = stream_arguments
        self._offset_queue = _offset_queue_name(topic, group)
        self._token_queue = _token_queue_name(topic, group)
        #: Deliveries and failures for the consuming thread.
        self.deliveries: queue.SimpleQueue[_Delivery | _Failure] = queue.SimpleQueue()
        #: Handled deliveries and their next offsets, from the consuming thread to the I/O thread.
        self._settlements: collections.deque[tuple[_Delivery, int | None]] = collections.deque()
        self._drain_scheduled = False
        self._token_channel: Any = None
        self._holds_group = False
        self._logged_waiting = False
        #: The stream channel, open only while this consumer has the group.
        self._channel: Any = None
        self._generation = 0
        self._ready = False
        self._finishing = False
        #: Messages published on the stream channel, which numbers its confirms.
        self._sequence = 0
        #: Offset after the last handled message, which is the one to store.
        self._next_offset: int | None = None
        self._commit_in_flight: int | None = None
        self._commit_tag = 0
        #: Offset stored and confirmed, which the consuming thread reads after the loop ended.
        self.committed: int | None = None

    # Thread-safe entry points

    def next_delivery(self, timeout: float) -> _Delivery | None:
        try:
            item = self.deliveries.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, _Failure):
            raise MessagingError(item.message)
        return item

    def settle(self, delivery: _Delivery, next_offset: int | None) -> None:
        """Acknowledge ``delivery`` and store ``next_offset`` as the group's position, unless None."""
        # One wake-up of the I/O loop serves every settlement queued before it runs, because each
        # add_callback_threadsafe writes to pika's wake-up socket. The I/O thread clears the flag before
        # it drains the queue, so a settlement queued after the drain schedules a new one.
        self._settlements.append((delivery, next_offset))
        if not self._drain_scheduled:
            self._drain_scheduled = True
            self.call(self._drain_settlements)

    def finish(self, timeout: float) -> None:
        """Store the last offset, close the connection and end the I/O thread, waiting up to ``timeout``."""
        if self.alive():
            self.call(self._begin_finish)
        if not self.join(timeout):
            self.stop()
            self.join(timeout)
        if self._commit_pending():
            logger.warning("offset %s of group %r on topic %r was not stored in RabbitMQ at %s (%s); the next "
                           "consumer of the group reads from offset %s again", self._next_offset, self.group,
                           self.topic, self.masked_url, self.last_error or "timed out", self.committed)

    # I/O thread: the group's token

    def _opened(self, connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=self._on_token_channel_open)

    def _on_token_channel_open(self, channel: Any) -> None:
        self._token_channel = channel
        channel.add_on_close_callback(self._on_token_channel_closed)
        channel.add_on_cancel_callback(lambda frame: self._on_cancelled(channel))
        channel.queue_declare(self._token_queue, durable=True, auto_delete=True, arguments=_TOKEN_QUEUE_ARGUMENTS,
                              callback=lambda frame: self._wait_for_group(channel))

    def _wait_for_group(self, channel: Any) -> None:
        # The token queue has a single active consumer, so only the consumer that has the group
        # receives a token. It keeps the token unacknowledged until its connection closes, and then
        # RabbitMQ hands the token to the next consumer in line. Every consumer adds a token so that one
        # exists, and x-max-length 1 drops the surplus.
        channel.basic_publish("", self._token_queue, b"", _TOKEN_PROPERTIES)
        channel.basic_consume(self._token_queue, lambda *delivery: self._on_token(channel), auto_ack=False)
        self._ioloop.call_later(TOKEN_WAIT_NOTICE_SECONDS, lambda: self._log_waiting(channel))

    def _log_waiting(self, channel: Any) -> None:
        if channel is self._token_channel and not self._holds_group:
            logger.info("consumer group %r of topic %r is held by another consumer; waiting for it",
                        self.group, self.topic)
            self._logged_waiting = True

    def _on_token(self, channel: Any) -> None:
        if channel is not self._token_channel or self._holds_group:
            return
        self._holds_group = True
        if self._logged_waiting:
            logger.info("consumer group %r took topic %r", self.group, self.topic)
            self._logged_waiting = False
        self._open_stream_channel()

    def _on_token_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is not self._token_channel:
            return
        self._token_channel = None
        self._holds_group = False
        connection = self._connection
        if self._closing or connection is None or not connection.is_open:
            return
        if self._finishing:
            self._shut_down()
            return
        # Without the token another consumer may take the group, so this one stops reading the stream.
        if self._channel is not None and self._channel.is_open:
            self._channel.close()
        if getattr(reason, "reply_code", None) in _SETUP_ERRORS:
            self._fail(reason)
            return
        logger.warning("RabbitMQ at %s closed the token channel of group %r on topic %r: %s; reopening it",
                       self.masked_url, self.group, self.topic, _describe(reason))
        self._ioloop.call_later(CHANNEL_RETRY_SECONDS, self._reopen_token_channel)

    def _reopen_token_channel(self) -> None:
        connection = self._connection
        if connection is not None and connection.is_open and self._token_channel is None and not self._closing:
            connection.channel(on_open_callback=self._on_token_channel_open)

    # I/O thread: the stream

    def _open_stream_channel(self) -> None:
        connection = self._connection
        if (connection is not None and connection.is_open and self._channel is None and self._holds_group
                and not self._closing):
            connection.channel(on_open_callback=self._on_channel_open)

    def _on_channel_open(self, channel: Any) -> None:
        self._generation += 1
        self._channel = channel
        self._ready = False
        self._sequence = 0
        self._commit_in_flight = None
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_cancel_callback(lambda frame: self._on_cancelled(channel))
        channel.add_on_return_callback(self._on_return)
        channel.basic_qos(prefetch_count=self._prefetch, callback=lambda frame: channel.confirm_delivery(
            ack_nack_callback=self._on_confirm, callback=lambda frame: self._declare_topic(channel)))

    def _declare_topic(self, channel: Any) -> None:
        topic = self.topic

        def declare_stream(frame: Any) -> None:
            channel.queue_declare(topic, durable=True, arguments=self._stream_arguments, callback=bind)

        def bind(frame: Any) -> None:
            channel.queue_bind(topic, topic, routing_key="#", callback=lambda frame: self._read_offset(channel))

        channel.exchange_declare(exchange=topic, exchange_type="topic", durable=True, callback=declare_stream)

    def _read_offset(self, channel: Any) -> None:
        def got(channel_: Any, method: Any, properties: Any, body: bytes) -> None:
            # Put the offset back at once, so that x-max-length 1 drops it when a newer one arrives.
            channel.basic_reject(method.delivery_tag, requeue=True)
            try:
                stored: int | None = int(body)
            except ValueError:
                logger.warning("ignoring invalid stored offset %r of group %r on topic %r", body[:40], self.group,
                               self.topic)
                stored = None
            self._subscribe(channel, stored)

        def read(frame: Any) -> None:
            channel.add_callback(lambda frame: self._subscribe(channel, None), [spec.Basic.GetEmpty], one_shot=True)
            channel.basic_get(self._offset_queue, got)

        channel.queue_declare(self._offset_queue, durable=True, arguments={"x-max-length": 1}, callback=read)

    def _subscribe(self, channel: Any, stored: int | None) -> None:
        if channel is not self._channel:
            return
        if stored is not None and (self.committed is None or stored > self.committed):
            self.committed = stored
        # After a reconnect this consumer may be ahead of what reached the broker, or another consumer
        # of the group may have gone further while this one was away.
        candidates = [offset for offset in (self.committed, self._next_offset) if offset is not None]
        start: int | str = max(candidates) if candidates else "first"
        generation = self._generation

        def deliver(channel_: Any, method: Any, properties: Any, body: bytes) -> None:
            headers = dict(properties.headers or {})
            offset = int(headers.pop(STREAM_OFFSET_HEADER, -1))
            self.deliveries.put(_Delivery(generation, method.delivery_tag, offset, method.routing_key or None,
                                          headers, body))

        channel.basic_consume(self.topic, deliver, auto_ack=False, arguments={STREAM_OFFSET_HEADER: start},
                              callback=lambda frame: self._on_consuming(start))

    def _on_consuming(self, start: int | str) -> None:
        logger.debug("group %r reads topic %r from offset %s", self.group, self.topic, start)
        self._ready = True
        self._flush_commit()

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is not self._channel:
            return
        was_ready = self._ready
        self._channel = None
        self._ready = False
        self._commit_in_flight = None
        connection = self._connection
        if self._closing or connection is None or not connection.is_open:
            return
        if self._finishing:
            self._shut_down()
            return
        if not was_ready and getattr(reason, "reply_code", None) in _SETUP_ERRORS:
            # Declaring failed, such as for a stream declared with other arguments. Retrying cannot help.
            self._fail(reason)
            return
        if not self._holds_group:
            return  # closed here because the token channel closed
        logger.warning("RabbitMQ at %s closed the channel of group %r on topic %r: %s; reopening it",
                       self.masked_url, self.group, self.topic, _describe(reason))
        self._ioloop.call_later(CHANNEL_RETRY_SECONDS, self._open_stream_channel)

    def _on_cancelled(self, channel: Any) -> None:
        # RabbitMQ cancels a consumer whose queue was deleted or moved. Subscribing again needs a new channel.
        logger.warning("RabbitMQ at %s cancelled a consumer of group %r on topic %r; subscribing again",
                       self.masked_url, self.group, self.topic)
        if channel.is_open:
            channel.close()

    def _fail(self, reason: BaseException) -> None:
        self.deliveries.put(_Failure(
            f"Consuming topic {self.topic!r} as group {self.group!r} from RabbitMQ at {self.masked_url} failed: "
            f"{_describe(reason)}."))

    def _lost(self) -> None:
        self._token_channel = None
        self._holds_group = False
        self._channel = None
        self._ready = False
        self._commit_in_flight = None

    def _loop_failed(self, error: BaseException) -> None:
        self.deliveries.put(_Failure(f"The RabbitMQ I/O loop of group {self.group!r} on topic {self.topic!r} "
                                     f"failed: {_describe(error)}."))

    # I/O thread: acks and offsets

    def _drain_settlements(self) -> None:
        self._drain_scheduled = False
        last_tag = 0
        while self._settlements:
            delivery, next_offset = self._settlements.popleft()
            if delivery.generation == self._generation:
                last_tag = max(last_tag, delivery.delivery_tag)
            if next_offset is not None and (self._next_offset is None or next_offset > self._next_offset):
                self._next_offset = next_offset
        channel = self._channel
        if last_tag and channel is not None and channel.is_open:
            # The consuming thread settles deliveries in the order they arrived, so every delivery up to
            # the last one is settled and one ack with multiple=True covers them.
            channel.basic_ack(last_tag, multiple=True)
        self._flush_commit()

    def _flush_commit(self) -> None:
        channel = self._channel
        if (self._commit_in_flight is not None or not self._commit_pending() or not self._ready or channel is None
                or not channel.is_open):
            self._finish_if_idle()
            return
        channel.basic_publish("", self._offset_queue, str(self._next_offset).encode(), _COMMIT_PROPERTIES,
                              mandatory=True)
        self._sequence += 1
        self._commit_tag = self._sequence
        self._commit_in_flight = self._next_offset

    def _on_confirm(self, frame: Any) -> None:
        method = frame.method
        confirms_commit = method.delivery_tag == self._commit_tag or (
            method.multiple and method.delivery_tag > self._commit_tag)
        if self._commit_in_flight is None or not confirms_commit:
            return
        offset, self._commit_in_flight = self._commit_in_flight, None
        if isinstance(method, spec.Basic.Ack):
            if self.committed is None or offset > self.committed:
                self.committed = offset
        else:
            logger.warning("RabbitMQ at %s rejected offset %s of group %r on topic %r; sending it again",
                           self.masked_url, offset, self.group, self.topic)
        self._flush_commit()

    def _on_return(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        logger.warning("RabbitMQ at %s returned a message to %s as unroutable (%s)", self.masked_url,
                       method.routing_key, method.reply_text)

    def _commit_pending(self) -> bool:
        """Return whether this consumer handled messages beyond the stored offset.

        Another consumer of the group may have stored a higher offset while this one was disconnected,
        and storing a lower one would move the group back.
        """
        return self._next_offset is not None and (self.committed is None or self._next_offset > self.committed)

    def _begin_finish(self) -> None:
        self._finishing = True
        self._finish_if_idle()

    def _finish_if_idle(self) -> None:
        if not self._finishing:
            return
        if self._commit_pending():
            # An offset is still to be stored, after a reconnect if need be. finish() bounds the wait.
            return
        self._shut_down()


# The queue -------------------------------------------------------------------------------------------


class RabbitMQQueue(Queue):
    """Queue on a RabbitMQ broker, with topics kept as streams (see the module notes).

    Nothing connects until the first publish, consume or status call. All publishing goes through one
    connection served by an I/O thread, and each :meth:`consume` call opens a connection of its own for
    its duration. :meth:`status` opens a short-lived connection.

    Parameters
    ----------
    url : str
        ``amqp://user:password@host:5672/vhost`` or ``amqps://…``. pika's URL query options such as
        ``?heartbeat=30`` apply too.
    prefetch : int
        Deliveries a consumer may hold unacknowledged (``basic.qos`` prefetch count). With 1, RabbitMQ
        sends each message only after the ack of the one before, so larger values consume faster.
    publish_timeout : float
        Seconds a publish waits for the broker's confirms, including any reconnect, before it raises
        :class:`~workbench.errors.PublishError`. It is also the maximum wait of :meth:`close` and of the
        end of :meth:`consume` for confirms still pending.
    heartbeat : int, optional
        AMQP heartbeat timeout in seconds. None accepts the broker's (60 s by default), and 0 turns
        heartbeats off.
    connection_timeout : float
        Seconds to open the TCP connection, and separately to complete the whole connection setup
        (pika's ``socket_timeout`` and ``stack_timeout``).
    blocked_connection_timeout : float, optional
        Seconds a connection may stay blocked by a broker resource alarm before pika closes it and
        this queue reconnects. None waits for as long as the alarm lasts.
    reconnect_max_delay : float
        Maximum pause between reconnect attempts, in seconds.
    max_deliveries : int, optional
        Deliveries of a message whose handler keeps failing before it is dead-lettered.
    max_age : str, optional
        Retention of new streams as RabbitMQ's ``x-max-age``, such as ``"7D"``. Every client of a topic
        must pass the same value, because RabbitMQ rejects a declaration whose arguments differ from the
        stream's (406 PRECONDITION_FAILED). Change the retention of existing streams with a policy.
    max_length_bytes : int, optional
        Retention of new streams by size, RabbitMQ's ``x-max-length-bytes``, with the same rule.
    """

    def __init__(
        self,
        url: str,
        *,
        prefetch: int = DEFAULT_PREFETCH,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
        heartbeat: int | None = None,
        connection_timeout: float = DEFAULT_CONNECTION_TIMEOUT,
        blocked_connection_timeout: float | None = None,
        reconnect_max_delay: float = DEFAULT_RECONNECT_MAX_DELAY,
        max_deliveries: int | None = None,
        max_age: str | None = None,
        max_length_bytes: int | None = None,
    ) -> None:
        self.url = url
        self.masked_url = _mask(url)
        _check_positive("prefetch", prefetch, integer=True)
        _check_positive("publish_timeout", publish_timeout)
        _check_positive("connection_timeout", connection_timeout)
        _check_positive("reconnect_max_delay", reconnect_max_delay)
        if heartbeat is not None and (not isinstance(heartbeat, int) or heartbeat < 0):
            raise ConfigError(f"heartbeat={heartbeat!r} is invalid; use whole seconds, 0 to turn heartbeats off, "
                              "or None for the broker's value.", name="heartbeat", value=heartbeat)
        if blocked_connection_timeout is not None:
            _check_positive("blocked_connection_timeout", blocked_connection_timeout)
        if max_deliveries is not None:
            _check_positive("max_deliveries", max_deliveries, integer=True)
            self.max_deliveries = max_deliveries

        self.prefetch = prefetch
        self.publish_timeout = float(publish_timeout)
        self.reconnect_max_delay = float(reconnect_max_delay)
        self._parameters = _connection_parameters(url, self.masked_url, heartbeat=heartbeat,
                                                  connection_timeout=connection_timeout,
                                                  blocked_connection_timeout=blocked_connection_timeout)
        self._stream_arguments: dict[str, Any] = {"x-queue-type": "stream"}
        if max_age is not None:
            self._stream_arguments["x-max-age"] = max_age
        if max_length_bytes is not None:
            _check_positive("max_length_bytes", max_length_bytes, integer=True)
            self._stream_arguments["x-max-length-bytes"] = max_length_bytes

        self._lock = threading.Lock()
        self._publisher: _Publisher | None = None
        self._closed = False
        #: Topics and (topic, group) offsets that this object used, for status(). _lock guards them.
        self._topics: set[str] = set()
        self._group_offsets: dict[tuple[str, str], int] = {}

    # Publishing --------------------------------------------------------------------------------------

    def publish(self, topic: str, message: Message, *, timeout: float | None = None) -> None:
        self.publish_many(topic, [message], timeout=timeout)

    def publish_many(self, topic: str, messages: Iterable[Message], *, timeout: float | None = None) -> int:
        # Every message is encoded before the I/O thread gets any. Handing them over in chunks while
        # encoding the next ones was slower: both threads then contend for the GIL.
        _check_topic(topic)
        batch_messages = list(messages)
        if not batch_messages:
            return 0
        wait = self._publish_wait(timeout)
        batch = _Batch(len(batch_messages))
        items = [_Outgoing(batch, topic, _routing_key(message.key), message.to_json(), _properties(message))
                 for message in batch_messages]
        publisher = self._ensure_publisher(topic)
        publisher.submit(items)
        message_id = batch_messages[0].message_id if len(batch_messages) == 1 else None
        self._wait_for_confirms(publisher, topic, batch, wait, message_id)
        return len(items)

    def publish_raw(self, topic: str, body: bytes, *, key: str | None = None,
                    headers: Mapping[str, str] | None = None, timeout: float | None = None) -> None:
        _check_topic(topic)
        wait = self._publish_wait(timeout)
        outgoing = _Outgoing(_Batch(1), topic, _routing_key(key), bytes(body), pika.BasicProperties(
            delivery_mode=pika.DeliveryMode.Persistent, headers=dict(headers or {}) or None))
        publisher = self._ensure_publisher(topic)
        publisher.submit([outgoing])
        self._wait_for_confirms(publisher, topic, outgoing.batch, wait, None)

    def _publish_wait(self, timeout: float | None) -> float:
        wait = self.publish_timeout if timeout is None else timeout
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait <= 0:
            raise ValidationError(f"Publish timeout {wait!r} is invalid; use a number of seconds above 0.",
                                  field="timeout", value=wait)
        return float(wait)

    def _wait_for_confirms(self, publisher: _Publisher, topic: str, batch: _Batch, wait: float,
                           message_id: str | None) -> None:
        count = "a message" if batch.size == 1 else f"{batch.size} messages"
        finished = batch.done.wait(wait)
        publisher.forget(batch)
        if not finished:
            cause = publisher.last_error or "the broker did not confirm in time"
            if batch.abandon(f"timed out after {wait:g} s ({cause})"):
                raise PublishError(
                    f"Publishing {count} to topic {topic!r} on RabbitMQ at {self.masked_url} timed out after "
                    f"{wait:g} s: {cause}. Treat them as not sent; a retry may store some twice.",
                    topic=topic, message_id=message_id)
        if batch.error is not None:
            raise PublishError(f"Publishing {count} to topic {topic!r} on RabbitMQ at {self.masked_url} failed: "
                               f"{batch.error}. Treat them as not sent; a retry may store some twice.",
                               topic=topic, message_id=message_id)

    def _ensure_publisher(self, topic: str) -> _Publisher:
        with self._lock:
            if self._closed:
                raise PublishError(f"The RabbitMQ queue at {self.masked_url} is closed; open a new one to publish.",
                                   topic=topic)
            self._topics.add(topic)
            if self._publisher is None or not self._publisher.alive():
                self._publisher = _Publisher(self._parameters, masked_url=self.masked_url,
                                             reconnect_max_delay=self.reconnect_max_delay,
                                             stream_arguments=self._stream_arguments)
                self._publisher.start()
            return self._publisher

    # Consuming ---------------------------------------------------------------------------------------

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
        _check_topic(topic)
        _check_group(topic, group)
        if self._closed:
            raise MessagingError(f"The RabbitMQ queue at {self.masked_url} is closed; open a new one to consume.")
        result = ConsumeResult()
        if stop_requested(stop):
            return result

        with self._lock:
            self._topics.add(topic)
        consumer = _GroupConsumer(self._parameters, masked_url=self.masked_url,
                                  reconnect_max_delay=self.reconnect_max_delay, topic=topic, group=group,
                                  prefetch=self.prefetch, stream_arguments=self._stream_arguments)
        consumer.start()
        next_offset: int | None = None
        idle_since = time.monotonic()
        try:
            while not stop_requested(stop) and (max_messages is None or result.settled < max_messages):
                delivery = consumer.next_delivery(POLL_SECONDS)
                if delivery is None:
                    if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                        break
                    continue
                if next_offset is not None and delivery.offset < next_offset:
                    # Delivered again after a reconnect, and already handled.
                    consumer.settle(delivery, None)
                    continue
                if not self._handle_with_retries(topic, delivery, handler, result, stop):
                    break
                next_offset = delivery.offset + 1
                consumer.settle(delivery, next_offset)
                idle_since = time.monotonic()
        finally:
            consumer.finish(self.publish_timeout)
            if consumer.committed is not None:
                with self._lock:
                    self._group_offsets[(topic, group)] = consumer.committed
        return result

    def _handle_with_retries(self, topic: str, delivery: _Delivery, handler: Handler, result: ConsumeResult,
                             stop: threading.Event | None) -> bool:
        """Handle one delivery until it is settled, and return False if ``stop`` was set between retries."""
        deliveries = 1
        while True:
            outcome = self.handle_delivery(topic, delivery.body, handler, key=delivery.key, headers=delivery.headers,
                                           deliveries=deliveries)
            result.add(outcome)
            if outcome is not Outcome.RETRY:
                return True
            if stop_requested(stop):
                return False
            deliveries += 1

    # Status and lifecycle ----------------------------------------------------------------------------

    def watch(self, topic: str, group: str | None = None) -> None:
        # NOTE: only the topic's stream depth is added. A group's depth needs its stored offset, and this
        # object reads that offset only when it consumes as that group.
        with self._lock:
            self._topics.add(topic)

    def status(self) -> QueueStatus:
        """Return whether the broker accepts a connection, and the messages kept per topic this object used.

        A topic's depth is the message count that RabbitMQ reports for its stream, which the broker
        refreshes every few seconds (about 5 s on RabbitMQ 3.10). A group's depth, for the groups that
        consumed here, is that count minus the group's stored offset. It is an estimate, exact only
        while no retention limit removed messages from the stream.
        """
        try:
            connection = pika.BlockingConnection(self._parameters)
        except (pika.exceptions.AMQPError, OSError) as exc:
            return QueueStatus(backend="rabbitmq", url=self.masked_url, connected=False,
                               detail=f"RabbitMQ at {self.masked_url} is unreachable: {_describe(exc)}")
        try:
            depth = self._stream_depths(connection)
        except (pika.exceptions.AMQPError, OSError) as exc:
            return QueueStatus(backend="rabbitmq", url=self.masked_url, connected=False,
                               detail=f"reading queue depths from RabbitMQ at {self.masked_url} failed: "
                                      f"{_describe(exc)}")
        finally:
            if connection.is_open:
                connection.close()
        return QueueStatus(backend="rabbitmq", url=self.masked_url, connected=True, depth=depth,
                           detail="topic depths are stream message counts, which RabbitMQ refreshes every few seconds")

    def _stream_depths(self, connection: pika.BlockingConnection) -> dict[str, int]:
        with self._lock:
            topics = sorted(self._topics)
            group_offsets = sorted(self._group_offsets.items())
        depth: dict[str, int] = {}
        channel = connection.channel()
        for topic in topics:
            try:
                declared = channel.queue_declare(topic, passive=True)
            except pika.exceptions.ChannelClosedByBroker:
                # 404: the stream does not exist yet, and a failed passive declare closes the channel.
                channel = connection.channel()
                continue
            depth[topic] = declared.method.message_count
        for (topic, group), offset in group_offsets:
            if topic in depth:
                depth[f"{topic} (group {group})"] = max(depth[topic] - offset, 0)
        channel.close()
        return depth

    def close(self) -> None:
        with self._lock:
            self._closed = True
            publisher, self._publisher = self._publisher, None
        if publisher is None:
            return
        deadline = time.monotonic() + self.publish_timeout
        for batch in publisher.pending_batches():
            batch.done.wait(max(deadline - time.monotonic(), 0))
        publisher.stop()
        if not publisher.join(self.publish_timeout):
            logger.warning("the RabbitMQ publisher thread for %s did not end within %g s", self.masked_url,
                           self.publish_timeout)


# Helpers ---------------------------------------------------------------------------------------------


def _connection_parameters(url: str, masked_url: str, *, heartbeat: int | None, connection_timeout: float,
                           blocked_connection_timeout: float | None) -> pika.URLParameters:
    try:
        parameters = pika.URLParameters(url)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"Queue URL {masked_url!r} is invalid: {exc}. Use amqp://user:password@host:5672/vhost.",
                          name="WORKBENCH_QUEUE_URL", value=masked_url) from exc
    if heartbeat is not None:
        parameters.heartbeat = heartbeat
    parameters.socket_timeout = connection_timeout
    parameters.stack_timeout = connection_timeout
    if blocked_connection_timeout is not None:
        parameters.blocked_connection_timeout = blocked_connection_timeout
    # Reconnects are this module's, with backoff and logging.
    parameters.connection_attempts = 1
    parameters.client_properties = {"connection_name": "workbench"}
    return parameters


def _mask(url: str) -> str:
    """Return ``url`` with its password masked, also when the URL is too malformed for mask_url."""
    try:
        return mask_url(url)
    except ValueError:
        scheme, separator, rest = url.partition("://")
        _, at, host = rest.rpartition("@")
        return f"{scheme}{separator}***@{host}" if at else url


def _describe(error: BaseException) -> str:
    """Return the innermost cause of a pika error as ``Type: text``, unwrapping pika's wrapper exceptions."""
    seen = 0
    while seen < 5:
        seen += 1
        if getattr(error, "exceptions", None):
            error = error.exceptions[-1]
        elif isinstance(getattr(error, "exception", None), BaseException):
            error = error.exception
        elif error.args and isinstance(error.args[0], BaseException):
            error = error.args[0]
        else:
            break
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _properties(message: Message) -> pika.BasicProperties:
    return pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
                                message_id=message.message_id, headers=dict(message.headers) or None)


def _routing_key(key: str | None) -> str:
    key = key or ""
    if len(key.encode("utf-8")) > _MAX_NAME_BYTES:
        raise ValidationError(f"Message key of {len(key.encode('utf-8'))} bytes is too long for a RabbitMQ "
                              f"routing key; use at most {_MAX_NAME_BYTES} bytes.", field="key", value=key[:40])
    return key


def _check_topic(topic: str) -> None:
    if not isinstance(topic, str) or not topic.strip():
        raise ValidationError(f"Topic {topic!r} is invalid; use a non-empty name such as 'predictions'.",
                              field="topic", value=topic)
    if len(topic.encode("utf-8")) > _MAX_NAME_BYTES:
        raise ValidationError(f"Topic of {len(topic.encode('utf-8'))} bytes is too long for RabbitMQ; use at most "
                              f"{_MAX_NAME_BYTES} bytes.", field="topic", value=topic[:40])
    if topic.startswith(("amq.", _OFFSET_QUEUE_PREFIX, _TOKEN_QUEUE_PREFIX)):
        raise ValidationError(f"Topic {topic!r} is invalid: names that start with 'amq.' are reserved by RabbitMQ "
                              "and names that start with 'workbench.group-' by this queue.", field="topic",
                              value=topic)


def _check_group(topic: str, group: str) -> None:
    if not isinstance(group, str) or not group.strip():
        raise ValidationError(f"Consumer group {group!r} is invalid; use a non-empty name such as 'ingest'.",
                              field="group", value=group)
    length = len(_offset_queue_name(topic, group).encode("utf-8"))
    if length > _MAX_NAME_BYTES:
        raise ValidationError(f"Topic {topic[:40]!r} and group {group[:40]!r} make a RabbitMQ queue name of "
                              f"{length} bytes; shorten them to at most {_MAX_NAME_BYTES} bytes together with "
                              f"the prefix {_OFFSET_QUEUE_PREFIX!r}.", field="group", value=group)


def _offset_queue_name(topic: str, group: str) -> str:
    # The group is percent-encoded, so the first "/" after it ends it and no two pairs share a name.
    return f"{_OFFSET_QUEUE_PREFIX}{quote(group, safe='')}/{topic}"


def _token_queue_name(topic: str, group: str) -> str:
    return f"{_TOKEN_QUEUE_PREFIX}{quote(group, safe='')}/{topic}"


def _check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        unit = "a whole number" if integer else "a number"
        raise ConfigError(f"{name}={value!r} is invalid; use {unit} above 0.", name=name, value=value)
