"""The Kafka backend, through kafka-python 3.0 or newer.

URL: ``kafka://host:9092[,host2:9092]``; a broker without a port gets 9092. Security settings such as
``security_protocol`` or SASL credentials go in ``client_options``, not in the URL.

Publishing uses one idempotent producer with ``acks="all"``; :meth:`KafkaQueue.publish` returns
after the broker acknowledged the message. A topic that does not exist is created with
``partitions`` partitions before the first message goes to it, so a consumer group that subscribes
later still reads every message: a group with no committed offset starts at the earliest offset.

Consuming joins the consumer group with auto-commit off and takes one record per poll. After the
handler returned, the offset of the next record is committed synchronously for that partition. When
a rebalance takes partitions away, a rebalance listener commits what was processed and not yet
committed. It never commits a record whose handler has not returned. A handler that runs longer than
``max_poll_interval_ms`` (default 300000 ms) makes the group rebalance, and the record is delivered
again, possibly to another consumer; raise the option for handlers that run that long.

kafka-python reconnects by itself, waiting ``reconnect_backoff_ms`` and doubling up to
``reconnect_backoff_max_ms``. Connecting a new client retries with the same capped exponential
backoff and logs every failed attempt at WARNING.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from workbench.errors import ConfigError, MessagingError, PublishError, ValidationError
from workbench.messaging.base import (
    ConsumeResult,
    Handler,
    Outcome,
    Queue,
    QueueStatus,
    stop_requested,
    wait_or_stop,
)
from workbench.messaging.envelope import Message
from workbench.store.urls import mask_url

try:
    import kafka.errors as kafka_errors
    from kafka import (
        AsyncConsumerRebalanceListener,
        KafkaConsumer,
        KafkaProducer,
        OffsetAndMetadata,
        TopicPartition,
    )
    from kafka.admin import KafkaAdminClient, OffsetSpec
except ImportError as exc:  # kafka-python missing, or a 2.x release without the async rebalance listener
    _IMPORT_ERROR: ImportError | None = exc
    AsyncConsumerRebalanceListener = object
else:
    _IMPORT_ERROR = None

logger = logging.getLogger(__name__)

DEFAULT_PORT = 9092
DEFAULT_PUBLISH_TIMEOUT = 30.0

#: Maximum duration of one poll in milliseconds, so that a set stop event ends consume within about that time.
MAX_POLL_MS = 500

#: Maximum duration of one connection attempt in milliseconds, within which kafka-python retries by
#: itself. While no broker responds, a set stop event is seen within about this time.
CONNECT_ATTEMPT_MS = 2000

#: Seconds that status() waits for a broker that does not respond.
STATUS_TIMEOUT = 5.0

#: Kafka's rule for topic names (org.apache.kafka.common.internals.Topic).
_TOPIC_NAME = re.compile(r"[a-zA-Z0-9._-]{1,249}")

_T = TypeVar("_T")


class KafkaQueue(Queue):
    """Queue on a Kafka cluster.

    Parameters
    ----------
    url : str
        ``kafka://host:9092[,host2:9092]``.
    max_deliveries : int, optional
        Deliveries of a message whose handler keeps failing before it is dead-lettered.
    publish_timeout : float
        Seconds that a publish waits for the acknowledgement, connecting included, when the call
        gives no timeout. The producer also gives up on a record after this time, so a per-call
        timeout longer than this does not wait longer.
    partitions, replication_factor : int
        Of the topics this queue creates; existing topics keep theirs.
    max_poll_interval_ms : int
        Maximum time a handler may run before the group considers this consumer dead and rebalances.
    max_poll_records : int
        Records fetched per poll (default 1). Each is still handled and committed one at a time, but
        the time between two polls becomes the sum of their handler times, which must stay below
        ``max_poll_interval_ms``. Raise it for fast handlers to read more per round trip.
    session_timeout_ms : int
        Time without heartbeats after which the group drops a consumer that died without leaving.
    reconnect_backoff_ms, reconnect_backoff_max_ms : int
        First and longest wait between connection attempts to a broker.
    linger_ms : int
        Time the producer waits to fill a batch; 0 sends as soon as the network is free.
    client_id : str
        Name the brokers log for this client.
    client_options : mapping, optional
        More settings that KafkaProducer, KafkaConsumer and KafkaAdminClient all accept, such as
        ``security_protocol`` and ``sasl_mechanism``.
    client_log_level : int or None
        Level set on the ``kafka`` logger when no one has set one, because kafka-python logs every
        connection and group step at INFO. None leaves the logger alone.
    """

    def __init__(
        self,
        url: str,
        *,
        max_deliveries: int | None = None,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
        partitions: int = 1,
        replication_factor: int = 1,
        max_poll_interval_ms: int = 300_000,
        max_poll_records: int = 1,
        session_timeout_ms: int = 45_000,
        reconnect_backoff_ms: int = 100,
        reconnect_backoff_max_ms: int = 10_000,
        linger_ms: int = 0,
        client_id: str = "workbench",
        client_options: Mapping[str, Any] | None = None,
        client_log_level: int | None = logging.WARNING,
    ) -> None:
        if _IMPORT_ERROR is not None:
            raise ConfigError(
                f"The Kafka queue needs kafka-python 3.0 or newer ({_IMPORT_ERROR}); install it with "
                "`pip install 'kafka-python>=3.0'`.", name="WORKBENCH_QUEUE_URL", value=mask_url(url))
        _check_positive("publish_timeout", publish_timeout)
        _check_positive("partitions", partitions)
        _check_positive("max_poll_records", max_poll_records)
        _check_positive("replication_factor", replication_factor)

        self.url = url
        self.servers = parse_bootstrap_servers(url)
        if max_deliveries is not None:
            self.max_deliveries = max_deliveries
        self.publish_timeout = float(publish_timeout)
        self.partitions = partitions
        self.max_poll_records = max_poll_records
        self.replication_factor = replication_factor
        self.max_poll_interval_ms = max_poll_interval_ms
        self.session_timeout_ms = session_timeout_ms
        self.reconnect_backoff_ms = reconnect_backoff_ms
        self.reconnect_backoff_max_ms = reconnect_backoff_max_ms
        self.linger_ms = linger_ms
        self.client_id = client_id
        self.client_options = dict(client_options or {})

        kafka_logger = logging.getLogger("kafka")
        if client_log_level is not None and kafka_logger.level == logging.NOTSET:
            kafka_logger.setLevel(client_log_level)

        self._lock = threading.RLock()
        self._producer: KafkaProducer | None = None
        self._admin: KafkaAdminClient | None = None
        self._api_version: tuple[int, ...] | None = None
        self._topics: set[str] = set()
        self._groups: set[tuple[str, str]] = set()
        self._closed = False

    @property
    def servers_text(self) -> str:
        """The bootstrap servers, comma-separated, for messages."""
        return ",".join(self.servers)

    # Publishing --------------------------------------------------------------------------------------

    def publish(self, topic: str, message: Message, *, timeout: float | None = None) -> None:
        self.publish_many(topic, [message], timeout=timeout)

    def publish_many(self, topic: str, messages: Iterable[Message], *, timeout: float | None = None) -> int:
        records = [(message.message_id, message.key, message.headers, message.to_json()) for message in messages]
        self._send(topic, records, timeout)
        return len(records)

    def publish_raw(self, topic: str, body: bytes, *, key: str | None = None,
                    headers: Mapping[str, str] | None = None, timeout: float | None = None) -> None:
        self._send(topic, [(None, key, headers or {}, body)], timeout)

    def _send(self, topic: str, records: list[tuple[str | None, str | None, Mapping[str, str], bytes]],
              timeout: float | None) -> None:
        """Send all records, then wait for every acknowledgement, so the sends are pipelined."""
        _check_topic(topic)
        if not records:
            return
        seconds = self.publish_timeout if timeout is None else timeout
        deadline = time.monotonic() + seconds
        first_id = records[0][0]
        try:
            producer = self._connect(deadline)
            self._ensure_topic(topic, deadline)
        except MessagingError as exc:
            raise PublishError(f"Publishing to Kafka topic {topic!r} failed: {exc}", topic=topic,
                               message_id=first_id) from exc

        futures = []
        for message_id, key, headers, body in records:
            try:
                future = producer.send(topic, value=body, key=_encode(key), headers=_encode_headers(headers))
            except kafka_errors.KafkaError as exc:
                raise PublishError(
                    f"Kafka producer for {self.servers_text} could not queue message {message_id} for topic "
                    f"{topic!r} ({exc}).", topic=topic, message_id=message_id) from exc
            futures.append((message_id, future))

        failures = []
        for message_id, future in futures:
            try:
                future.get(timeout=max(deadline - time.monotonic(), 0.0))
            except kafka_errors.KafkaError as exc:
                failures.append((message_id, exc))
        if failures:
            raise self._publish_failure(topic, seconds, len(futures), failures)

    def _publish_failure(self, topic: str, seconds: float, sent: int,
                         failures: list[tuple[str | None, Exception]]) -> PublishError:
        message_id, exc = failures[0]
        if isinstance(exc, kafka_errors.KafkaTimeoutError):
            reason = f"was not confirmed by {self.servers_text} within {seconds:g} s"
        else:
            reason = f"was rejected by {self.servers_text} ({exc})"
        label = f"message {message_id}" if message_id else "the message"
        if sent > 1:
            label = f"{len(failures)} of {sent} messages failed; the first, {label},"
        return PublishError(
            f"Publishing to Kafka topic {topic!r} failed: {label} {reason}. Treat it as not sent; publishing "
            "it again may store a duplicate, which consumers drop by message_id.", topic=topic,
            message_id=message_id)

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
        """Deliver the messages of ``topic`` to ``handler`` as a member of consumer group ``group``.

        The idle time counts from the start of polling, and again from the moment the group first
        assigns partitions to this consumer, so a slow group join does not end a drain early.

        While no broker responds, connecting is retried until ``stop`` is set, which returns an empty
        result. With ``idle_timeout``, it is retried for the longer of ``idle_timeout`` and
        ``publish_timeout``, and then raises MessagingError.
        """
        _check_topic(topic)
        _check_group(group)
        result = ConsumeResult()
        if stop_requested(stop):
            return result

        deadline = None if idle_timeout is None else time.monotonic() + max(idle_timeout, self.publish_timeout)
        if self._connect(deadline, stop) is None:
            return result
        self._ensure_topic(topic, deadline)
        with self._lock:
            self._groups.add((topic, group))

        session = _GroupSession(self, topic, group, handler)
        logger.info("consuming Kafka topic %s as group %s from %s", topic, group, self.servers_text)
        try:
            session.run(result, max_messages, idle_timeout, stop)
        finally:
            session.close()
        logger.info("stopped consuming Kafka topic %s as group %s: %s", topic, group, result.to_dict())
        return result

    def _new_consumer(self, group: str) -> KafkaConsumer:
        # api_version is passed so the constructor does not connect: a KafkaConsumer whose eager
        # bootstrap fails raises without stopping its IO thread (kafka-python 3.0.12).
        return KafkaConsumer(
            bootstrap_servers=self.servers,
            client_id=self.client_id,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_poll_records,
            max_poll_interval_ms=self.max_poll_interval_ms,
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=min(3000, self.session_timeout_ms // 3),
            reconnect_backoff_ms=self.reconnect_backoff_ms,
            reconnect_backoff_max_ms=self.reconnect_backoff_max_ms,
            api_version=self._api_version,
            **self.client_options,
        )

    # Status and lifecycle ----------------------------------------------------------------------------

    def watch(self, topic: str, group: str | None = None) -> None:
        # Kafka reports lag per consumer group, so a topic without a group adds nothing to status().
        if group is not None:
            with self._lock:
                self._groups.add((topic, group))

    def status(self) -> QueueStatus:
        """Return whether a broker responds and the lag of each (topic, group) this queue consumed.

        A group's lag on a topic is the sum over partitions of the end offset minus the committed
        offset, or minus the earliest offset where the group has not committed. It is keyed
        ``"<topic> (group <group>)"``.
        """
        url = mask_url(self.url)
        # NOTE: if the broker fails after the admin client connected, only kafka-python's request_timeout_ms
        # bounds this call. The tests cover a broker that never responded, not one that went away.
        try:
            self._connect(time.monotonic() + STATUS_TIMEOUT)
            admin = self._admin_client(time.monotonic() + STATUS_TIMEOUT)
            with self._lock:
                consumed = sorted(self._groups)
            depth = {f"{topic} (group {group})": _group_lag(admin, topic, group) for topic, group in consumed}
        except (MessagingError, kafka_errors.KafkaError, OSError) as exc:
            return QueueStatus(backend="kafka", url=url, connected=False, detail=str(exc))
        version = ".".join(str(part) for part in self._api_version or ())
        return QueueStatus(backend="kafka", url=url, connected=True, depth=depth,
                           detail=f"bootstrap servers {self.servers_text}; broker API {version} as kafka-python detected it")

    def close(self) -> None:
        """Send what the producer still holds, waiting up to publish_timeout, and close the clients."""
        with self._lock:
            producer, admin = self._producer, self._admin
            self._producer, self._admin, self._closed = None, None, True
        if producer is not None:
            try:
                producer.close(timeout=self.publish_timeout)  # flushes first
            except kafka_errors.KafkaError as exc:
                # Only records whose publish call already raised PublishError can still be pending.
                logger.error("Kafka producer for %s could not send its pending messages within %g s (%s)",
                             self.servers_text, self.publish_timeout, exc)
        if admin is not None:
            admin.close()

    # Connecting --------------------------------------------------------------------------------------

    def _connect(self, deadline: float | None, stop: threading.Event | None = None) -> KafkaProducer | None:
        """Return the producer, creating it first, and learn the broker's API version from it.

        The producer is the first client because a KafkaProducer that fails to connect leaves no
        thread behind. Returns None when ``stop`` was set before a broker responded.
        """
        with self._lock:
            if self._closed:
                raise MessagingError(f"The Kafka queue for {self.servers_text} is closed; open a new one.")
            if self._producer is not None:
                return self._producer
        producer = self._retry_connect("producer", self._new_producer, deadline, stop)
        if producer is None:
            return None
        with self._lock:
            if self._producer is None and not self._closed:
                self._producer = producer
                self._api_version = tuple(producer.config["api_version"])
                return producer
            existing = self._producer
        producer.close(timeout=0)  # another thread connected first, or close() ran meanwhile
        if existing is None:
            raise MessagingError(f"The Kafka queue for {self.servers_text} is closed; open a new one.")
        return existing

    def _new_producer(self, bootstrap_timeout_ms: int) -> KafkaProducer:
        publish_ms = int(self.publish_timeout * 1000)
        request_timeout_ms = min(30_000, publish_ms)
        return KafkaProducer(
            bootstrap_servers=self.servers,
            client_id=self.client_id,
            acks="all",
            enable_idempotence=True,
            linger_ms=self.linger_ms,
            request_timeout_ms=request_timeout_ms,
            delivery_timeout_ms=max(publish_ms, request_timeout_ms + self.linger_ms),
            max_block_ms=publish_ms,
            reconnect_backoff_ms=self.reconnect_backoff_ms,
            reconnect_backoff_max_ms=self.reconnect_backoff_max_ms,
            bootstrap_timeout_ms=bootstrap_timeout_ms,
            **self.client_options,
        )

    def _admin_client(self, deadline: float | None) -> KafkaAdminClient:
        with self._lock:
            if self._admin is not None:
                return self._admin

        def create(bootstrap_timeout_ms: int) -> KafkaAdminClient:
            # NOTE: KafkaAdminClient always connects in its constructor and, if that fails, leaves its IO
            # thread running (kafka-python 3.0.12). It is only created after the producer connected.
            return KafkaAdminClient(
                bootstrap_servers=self.servers,
                client_id=self.client_id,
                request_timeout_ms=int(min(30.0, self.publish_timeout) * 1000),
                reconnect_backoff_ms=self.reconnect_backoff_ms,
                reconnect_backoff_max_ms=self.reconnect_backoff_max_ms,
                api_version=self._api_version,
                bootstrap_timeout_ms=bootstrap_timeout_ms,
                **self.client_options,
            )

        admin = self._retry_connect("admin client", create, deadline, None)
        with self._lock:
            if self._admin is None and not self._closed:
                self._admin = admin
                return admin
            existing = self._admin
        admin.close()
        if existing is None:
            raise MessagingError(f"The Kafka queue for {self.servers_text} is closed; open a new one.")
        return existing

    def _retry_connect(self, what: str, create: Callable[[int], _T], deadline: float | None,
                       stop: threading.Event | None) -> _T | None:
        """Call ``create`` with a bootstrap timeout in ms until it connects, backing off exponentially.

        Raises MessagingError when ``deadline`` passes first, and returns None when ``stop`` is set.
        """
        started = time.monotonic()
        backoff = self.reconnect_backoff_ms / 1000
        attempt = 0
        while True:
            attempt += 1
            try:
                attempt_ms = min(_remaining_ms(deadline, default=CONNECT_ATTEMPT_MS), CONNECT_ATTEMPT_MS)
                return create(max(attempt_ms, 1))
            except kafka_errors.KafkaTimeoutError as exc:  # kafka-python 3 raises this when no broker responds
                error = exc
            except kafka_errors.KafkaError as exc:
                raise MessagingError(f"Kafka {what} for {self.servers_text} failed ({exc}).") from exc

            if deadline is not None and time.monotonic() >= deadline:
                logger.warning("Kafka %s could not reach %s (attempt %d): %s; giving up after %.1f s",
                               what, self.servers_text, attempt, error, time.monotonic() - started)
                raise MessagingError(
                    f"no Kafka broker of {self.servers_text} responded within {time.monotonic() - started:.1f} s "
                    f"({attempt} attempts, last: {error}). Check that the brokers run and that the queue URL "
                    "names them.") from error
            pause = backoff if deadline is None else min(backoff, max(deadline - time.monotonic(), 0.0))
            logger.warning("Kafka %s could not reach %s (attempt %d): %s; retrying in %.1f s",
                           what, self.servers_text, attempt, error, pause)
            wait_or_stop(stop, pause)
            if stop_requested(stop):
                return None
            backoff = min(backoff * 2, self.reconnect_backoff_max_ms / 1000)

    def _ensure_topic(self, topic: str, deadline: float | None) -> None:
        """Create ``topic`` unless this queue has already created or found it."""
        with self._lock:
            if topic in self._topics:
                return
        admin = self._admin_client(deadline)
        spec = {topic: {"num_partitions": self.partitions, "replication_factor": self.replication_factor}}
        try:
            admin.create_topics(spec, wait_for_metadata=True)
        except kafka_errors.TopicAlreadyExistsError:
            pass
        except kafka_errors.KafkaError as exc:
            raise MessagingError(f"creating Kafka topic {topic!r} on {self.servers_text} failed ({exc}).") from exc
        else:
            logger.info("created Kafka topic %s with %d partitions on %s", topic, self.partitions,
                        self.servers_text)
        with self._lock:
            self._topics.add(topic)


class _GroupSession:
    """One consumer in a group for one consume() call: polling, delivery counts and commits."""

    def __init__(self, queue: KafkaQueue, topic: str, group: str, handler: Handler) -> None:
        self.queue = queue
        self.topic = topic
        self.group = group
        self.handler = handler
        self.pending = _PendingOffsets()
        #: Deliveries so far of each record, by (partition, offset), while its handler keeps failing.
        self.deliveries: dict[tuple[int, int], int] = {}
        self.consumer = queue._new_consumer(group)
        self.consumer.subscribe([topic], listener=_CommitOnRevoke(self.consumer, self.pending, group))

    def run(self, result: ConsumeResult, max_messages: int | None, idle_timeout: float | None,
            stop: threading.Event | None) -> None:
        idle_since = time.monotonic()
        assigned = False
        while not stop_requested(stop) and (max_messages is None or result.settled < max_messages):
            poll_ms = MAX_POLL_MS
            if idle_timeout is not None:
                remaining = idle_timeout - (time.monotonic() - idle_since)
                poll_ms = int(min(poll_ms, max(remaining, 0.0) * 1000))
            batch = self.consumer.poll(timeout_ms=poll_ms, max_records=self.queue.max_poll_records)
            if not assigned and self.consumer.assignment():
                assigned, idle_since = True, time.monotonic()
            if not batch:
                if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                    break
                continue

            self.deliver_batch(batch, result, max_messages, stop)
            idle_since = time.monotonic()

    def deliver_batch(self, batch: dict[Any, list[Any]], result: ConsumeResult, max_messages: int | None,
                      stop: threading.Event | None) -> None:
        """Deliver the records of one poll in order, one at a time.

        A retry seeks its partition back, so the partition's later records of this poll are left for the
        next poll, which fetches again from the retried offset. Records left when ``stop`` is set or
        ``max_messages`` is reached were not committed, so the group receives them again later.
        """
        for records in batch.values():
            for record in records:
                if stop_requested(stop) or (max_messages is not None and result.settled >= max_messages):
                    return
                outcome = self.deliver(record)
                result.add(outcome)
                if outcome is Outcome.RETRY:
                    break

    def deliver(self, record: Any) -> Outcome:
        """Hand one record to the handler, then commit past it or seek back to it for a retry."""
        position = (record.partition, record.offset)
        self.deliveries[position] = self.deliveries.get(position, 0) + 1
        outcome = self.queue.handle_delivery(
            self.topic, record.value or b"", self.handler, key=_decode(record.key),
            headers={name: _decode(value) or "" for name, value in record.headers or []},
            deliveries=self.deliveries[position])

        partition = TopicPartition(record.topic, record.partition)
        if outcome is Outcome.RETRY:
            self.consumer.seek(partition, record.offset)
            return outcome

        del self.deliveries[position]
        leader_epoch = record.leader_epoch if record.leader_epoch is not None else -1
        self.pending.add(partition, OffsetAndMetadata(record.offset + 1, "", leader_epoch))
        self.commit()
        return outcome

    def commit(self) -> None:
        """Commit the processed offsets synchronously, and keep them for the next try if that fails."""
        offsets = self.pending.snapshot()
        try:
            self.consumer.commit(offsets=offsets)
        except kafka_errors.KafkaError as exc:
            # The next commit or the revoke listener retries these offsets. If neither succeeds the
            # group delivers the records again, which at-least-once delivery allows.
            logger.warning(
                "committing offsets %s for group %s failed (%s); will retry. If a handler ran longer than "
                "max_poll_interval_ms (%d ms), raise that option.", _offsets_text(offsets), self.group, exc,
                self.queue.max_poll_interval_ms)
        else:
            self.pending.confirm(offsets)

    def close(self) -> None:
        """Leave the group without committing consumed positions; the revoke listener commits processed ones."""
        try:
            self.consumer.close(autocommit=False)
        except kafka_errors.KafkaError as exc:
            logger.warning("closing the Kafka consumer of group %s failed (%s)", self.group, exc)


class _PendingOffsets:
    """Offsets of processed records whose commit the broker has not confirmed yet, per partition."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offsets: dict[Any, Any] = {}

    def add(self, partition: Any, offset: Any) -> None:
        with self._lock:
            self._offsets[partition] = offset

    def snapshot(self) -> dict[Any, Any]:
        with self._lock:
            return dict(self._offsets)

    def confirm(self, committed: Mapping[Any, Any]) -> None:
        """Forget the offsets that ``committed`` covers."""
        with self._lock:
            for partition, offset in committed.items():
                if partition in self._offsets and self._offsets[partition].offset <= offset.offset:
                    del self._offsets[partition]

    def take(self, partitions: Iterable[Any]) -> dict[Any, Any]:
        """Remove and return the offsets of ``partitions``."""
        with self._lock:
            return {partition: self._offsets.pop(partition) for partition in partitions
                    if partition in self._offsets}


class _CommitOnRevoke(AsyncConsumerRebalanceListener):
    """Commit the processed offsets of partitions that a rebalance or close() takes away.

    kafka-python 3 runs listeners on the consumer's IO thread, where the blocking commit() raises
    RuntimeError, so this listener is async and awaits commit_async() instead.
    """

    def __init__(self, consumer: KafkaConsumer, pending: _PendingOffsets, group: str) -> None:
        self._consumer = consumer
        self._pending = pending
        self._group = group

    async def on_partitions_revoked(self, revoked: Any) -> None:
        offsets = self._pending.take(revoked)
        if not offsets:
            return
        try:
            await self._consumer.commit_async(offsets=offsets)
        except kafka_errors.KafkaError as exc:
            logger.warning("committing offsets %s for group %s on revocation failed (%s); those records "
                           "will be delivered again", _offsets_text(offsets), self._group, exc)
        else:
            logger.info("committed offsets %s for group %s on revocation", _offsets_text(offsets), self._group)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        logger.info("group %s assigned partitions %s", self._group, sorted(assigned))

    async def on_partitions_lost(self, lost: Any) -> None:
        # The group already gave these partitions to another member, so a commit would be rejected.
        dropped = self._pending.take(lost)
        logger.warning("group %s lost partitions %s without committing %s; those records will be delivered "
                       "again", self._group, sorted(lost), _offsets_text(dropped) or "nothing")


def parse_bootstrap_servers(url: str) -> list[str]:
    """Return the ``host:port`` list of a ``kafka://host:9092[,host2:9092]`` URL.

    Raises
    ------
    ConfigError
        If the scheme is not kafka, no broker is named, a port is invalid, or the URL carries a
        password, a path or a query.

    >>> parse_bootstrap_servers("kafka://broker-a:9093,broker-b")
    ['broker-a:9093', 'broker-b:9092']
    """
    parts = urlsplit(url)
    fix = "use kafka://host:9092[,host2:9092]"
    if parts.scheme.lower() != "kafka":
        raise _url_error(url, f"is not a Kafka URL; {fix}")
    if "@" in parts.netloc:
        raise _url_error(url, "carries credentials, which Kafka URLs do not take; pass security_protocol and "
                              "sasl_* settings in client_options")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise _url_error(url, f"has a path or query, which Kafka URLs do not take; {fix}")

    servers = []
    for entry in parts.netloc.split(","):
        entry = entry.strip()
        if not entry:
            continue
        if entry.startswith("["):  # an IPv6 address such as [::1]:9092
            host, _, rest = entry.partition("]")
            host, port_text = host + "]", rest.removeprefix(":")
        elif ":" in entry:
            host, port_text = entry.rsplit(":", 1)
        else:
            host, port_text = entry, ""
        if not port_text:
            port_text = str(DEFAULT_PORT)
        if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise _url_error(url, f"has an invalid broker {entry!r}; {fix}")
        servers.append(f"{host}:{int(port_text)}")
    if not servers:
        raise _url_error(url, f"names no broker; {fix}")
    return servers


def _url_error(url: str, problem: str) -> ConfigError:
    return ConfigError(f"Queue URL {mask_url(url)!r} {problem}.", name="WORKBENCH_QUEUE_URL", value=mask_url(url))


def _group_lag(admin: KafkaAdminClient, topic: str, group: str) -> int:
    described = admin.describe_topics([topic])
    partitions = [TopicPartition(topic, partition["partition_index"])
                  for entry in described for partition in entry.get("partitions") or []]
    if not partitions:
        return 0
    committed = admin.list_group_offsets({group: partitions}).get(group, {})
    ends = admin.list_partition_offsets({partition: OffsetSpec.LATEST for partition in partitions})
    starts = admin.list_partition_offsets({partition: OffsetSpec.EARLIEST for partition in partitions})
    lag = 0
    for partition in partitions:
        done = committed.get(partition)
        start = done.offset if done is not None and done.offset >= 0 else starts[partition].offset
        lag += max(ends[partition].offset - start, 0)
    return lag


def _remaining_ms(deadline: float | None, *, default: int) -> int:
    if deadline is None:
        return default
    return int(max(deadline - time.monotonic(), 0.0) * 1000)


def _encode(text: str | None) -> bytes | None:
    return None if text is None else text.encode("utf-8")


def _decode(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", errors="replace")


def _encode_headers(headers: Mapping[str, str]) -> list[tuple[str, bytes]]:
    """Return Kafka headers: str names with UTF-8 bytes values."""
    return [(str(name), str(value).encode("utf-8")) for name, value in headers.items()]


def _offsets_text(offsets: Mapping[Any, Any]) -> str:
    return ", ".join(f"{partition.topic}[{partition.partition}]={offset.offset}"
                     for partition, offset in sorted(offsets.items()))


def _check_topic(topic: str) -> None:
    if not isinstance(topic, str) or topic in (".", "..") or not _TOPIC_NAME.fullmatch(topic):
        raise ValidationError(
            f"Topic {topic!r} is invalid; a Kafka topic has 1 to 249 characters from ASCII letters, digits, "
            "'.', '_' and '-', such as 'predictions'.", field="topic", value=topic)


def _check_group(group: str) -> None:
    if not isinstance(group, str) or not group.strip():
        raise ValidationError(f"Consumer group {group!r} is invalid; use a non-empty name such as 'ingest'.",
                              field="group", value=group)


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ConfigError(f"Kafka queue option {name}={value!r} is invalid; use a number above 0.",
                          name=name, value=value)
