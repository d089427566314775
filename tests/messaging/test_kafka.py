"""Kafka-only behaviour: crash recovery, rebalances, interoperability with plain kafka-python, outages.

Tests that take the ``kafka_url`` fixture need the broker that ``scripts/services/start.sh kafka``
starts. The others run without a broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.future import Future

from tests.messaging import conftest as _conftest
from workbench.errors import ConfigError, MessagingError, PublishError
from workbench.messaging import Message, open_queue
from workbench.messaging.kafka import KafkaQueue, _CommitOnRevoke, _PendingOffsets, parse_bootstrap_servers

REPO = Path(__file__).resolve().parents[2]

# Seconds to wait for messages that are already on the broker, which leaves time for slow group joins.
IDLE = 20.0




@pytest.fixture
def kafka_url() -> str:
    """The test broker's URL. Skips the test (or fails it with WORKBENCH_REQUIRE_SERVICES=1) when the broker is down."""
    url = _conftest.SERVER_URLS["kafka"]
    _conftest.require_server("kafka", url)
    return url


@pytest.fixture
def servers(kafka_url) -> list[str]:
    return parse_bootstrap_servers(kafka_url)


def consume_all(queue, topic, group, count, idle=IDLE):
    seen = []
    queue.consume(topic, group, seen.append, max_messages=count, idle_timeout=idle)
    return seen


# URL parsing, no broker needed ---------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("kafka://127.0.0.1:9092", ["127.0.0.1:9092"]),
    ("kafka://broker-a", ["broker-a:9092"]),
    ("kafka://broker-a:9093,broker-b:9094", ["broker-a:9093", "broker-b:9094"]),
    ("kafka://broker-a, broker-b/", ["broker-a:9092", "broker-b:9092"]),
    ("kafka://[::1]:9095", ["[::1]:9095"]),
    ("KAFKA://broker-a:9092", ["broker-a:9092"]),
])
def test_parse_bootstrap_servers(url, expected):
    assert parse_bootstrap_servers(url) == expected


@pytest.mark.parametrize(("url", "message"), [
    ("kafka://", "names no broker"),
    ("kafka://broker-a:notaport", "invalid broker"),
    ("kafka://broker-a:70000", "invalid broker"),
    ("kafka://user:secret@broker-a:9092", "credentials"),
    ("kafka://broker-a:9092/topic", "path or query"),
    ("amqp://broker-a:9092", "not a Kafka URL"),
])
def test_parse_bootstrap_servers_rejects(url, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_bootstrap_servers(url)

    assert "secret" not in str(caught.value)


def test_open_queue_returns_kafka_queue():
    queue = open_queue("kafka://127.0.0.1:1", publish_timeout=2)

    assert isinstance(queue, KafkaQueue)
    assert queue.servers == ["127.0.0.1:1"]
    assert queue.publish_timeout == 2.0


@pytest.mark.parametrize("option", ["publish_timeout", "partitions", "replication_factor", "max_poll_records"])
def test_queue_rejects_non_positive_option(option):
    with pytest.raises(ConfigError, match=option):
        KafkaQueue("kafka://127.0.0.1:1", **{option: 0})


# Rebalance listener, no broker needed ---------------------------------------------------------------


class RecordingConsumer:
    """Replaces a KafkaConsumer and records the offsets passed to commit_async."""

    def __init__(self):
        self.commits = []

    def commit_async(self, offsets):
        self.commits.append(dict(offsets))
        return Future().success(None)


def test_revoke_commits_revoked_pending_only():
    staying, revoked = TopicPartition("t", 0), TopicPartition("t", 1)
    pending = _PendingOffsets()
    pending.add(staying, OffsetAndMetadata(5, "", -1))
    pending.add(revoked, OffsetAndMetadata(8, "", -1))
    consumer = RecordingConsumer()
    listener = _CommitOnRevoke(consumer, pending, "g")

    asyncio.run(listener.on_partitions_revoked({revoked}))

    assert consumer.commits == [{revoked: OffsetAndMetadata(8, "", -1)}]
    assert pending.snapshot() == {staying: OffsetAndMetadata(5, "", -1)}


def test_revoke_without_pending_skips_commit():
    consumer = RecordingConsumer()
    listener = _CommitOnRevoke(consumer, _PendingOffsets(), "g")

    asyncio.run(listener.on_partitions_revoked({TopicPartition("t", 0)}))

    assert consumer.commits == []


def test_lost_partitions_drop_pending():
    partition = TopicPartition("t", 0)
    pending = _PendingOffsets()
    pending.add(partition, OffsetAndMetadata(3, "", -1))
    consumer = RecordingConsumer()
    listener = _CommitOnRevoke(consumer, pending, "g")

    asyncio.run(listener.on_partitions_lost({partition}))

    assert consumer.commits == []
    assert pending.snapshot() == {}


def test_confirm_keeps_newer_offsets():
    partition = TopicPartition("t", 0)
    pending = _PendingOffsets()
    pending.add(partition, OffsetAndMetadata(4, "", -1))
    committed = pending.snapshot()
    pending.add(partition, OffsetAndMetadata(5, "", -1))  # a later record finished meanwhile

    pending.confirm(committed)

    assert pending.snapshot() == {partition: OffsetAndMetadata(5, "", -1)}


# Unreachable broker, no broker needed --------------------------------------------------------------


def test_unreachable_publish_raises_in_time():
    queue = KafkaQueue("kafka://127.0.0.1:1", publish_timeout=3)
    message = Message({"n": 1})

    started = time.monotonic()
    with pytest.raises(PublishError, match="127.0.0.1:1") as caught:
        queue.publish("predictions", message)
    elapsed = time.monotonic() - started
    queue.close()

    assert 2.5 <= elapsed < 8.0
    assert caught.value.topic == "predictions"
    assert caught.value.message_id == message.message_id


def test_unreachable_broker_logs_each_attempt(caplog):
    queue = KafkaQueue("kafka://127.0.0.1:1", publish_timeout=2)

    with caplog.at_level(logging.WARNING, logger="workbench.messaging.kafka"), pytest.raises(PublishError):
        queue.publish("predictions", Message({"n": 1}))
    queue.close()

    attempts = [record for record in caplog.records
                if record.name == "workbench.messaging.kafka" and "could not reach 127.0.0.1:1" in record.message]
    assert attempts
    assert all(record.levelno == logging.WARNING for record in attempts)
    assert "attempt 1" in attempts[0].message


def test_unreachable_consume_raises_after_timeout():
    queue = KafkaQueue("kafka://127.0.0.1:1", publish_timeout=2)

    started = time.monotonic()
    with pytest.raises(MessagingError, match="127.0.0.1:1"):
        queue.consume("predictions", "g", lambda message: None, idle_timeout=1)
    elapsed = time.monotonic() - started
    queue.close()

    assert elapsed < 8.0


def test_unreachable_consume_returns_on_stop():
    queue = KafkaQueue("kafka://127.0.0.1:1")
    stop = threading.Event()
    timer = threading.Timer(1.0, stop.set)
    timer.start()

    started = time.monotonic()
    result = queue.consume("predictions", "g", lambda message: None, stop=stop)
    elapsed = time.monotonic() - started
    timer.join()
    queue.close()

    assert result.settled == 0
    assert elapsed < 12.0


def test_unreachable_status_reports_disconnected():
    queue = KafkaQueue("kafka://127.0.0.1:1")

    status = queue.status()
    queue.close()

    assert status.connected is False
    assert status.backend == "kafka"
    assert "127.0.0.1:1" in status.detail


def test_publish_after_close_raises():
    queue = KafkaQueue("kafka://127.0.0.1:1")
    queue.close()

    with pytest.raises(PublishError, match="closed"):
        queue.publish("predictions", Message({"n": 1}))


# Real broker --------------------------------------------------------------------------------------


def test_close_flushes_published_messages(kafka_url, topic):
    sent = [Message({"n": index}) for index in range(200)]
    queue = KafkaQueue(kafka_url)
    queue.publish_many(topic, sent)
    queue.close()

    reader = KafkaQueue(kafka_url)
    received = consume_all(reader, topic, "after-close", count=200)
    reader.close()

    assert [message.message_id for message in received] == [message.message_id for message in sent]


_KILLED_CONSUMER = r"""
import os, signal, sys
from workbench.messaging.kafka import KafkaQueue

url, topic, group, record_path = sys.argv[1:5]
queue = KafkaQueue(url, session_timeout_ms=6000)

def record_then_die(message):
    with open(record_path, "a", encoding="utf-8") as record:
        record.write(message.message_id + "\n")
        record.flush()
        os.fsync(record.fileno())
    os.kill(os.getpid(), signal.SIGKILL)

queue.consume(topic, group, record_then_die, idle_timeout=60)
"""


def test_killed_consumer_gets_event_again(kafka_url, topic, tmp_path):
    record_path = tmp_path / "processed.txt"
    event = Message({"prediction_id": "p-1"}, type="prediction")
    queue = KafkaQueue(kafka_url)
    queue.publish(topic, event)

    child = subprocess.run([sys.executable, "-c", _KILLED_CONSUMER, kafka_url, topic, "ingest", str(record_path)],
                           cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    processed_by_child = record_path.read_text(encoding="utf-8").split()
    # The dead member stays in the group until its 6 s session expires; the new one waits for that.
    again = consume_all(queue, topic, "ingest", count=1, idle=60.0)
    status = queue.status()
    queue.close()

    assert child.returncode == -signal.SIGKILL, child.stderr
    assert processed_by_child == [event.message_id]
    assert [message.message_id for message in again] == [event.message_id]
    assert status.depth[f"{topic} (group ingest)"] == 0


def test_plain_consumer_reads_workbench_envelope(kafka_url, servers, topic):
    sent = Message({"score": 0.25}, type="prediction", key="model-a", headers={"source": "unit"})
    queue = KafkaQueue(kafka_url)
    queue.publish(topic, sent)
    queue.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=servers, group_id=f"plain-{uuid.uuid4().hex}",
                             auto_offset_reset="earliest", enable_auto_commit=False)
    records = []
    deadline = time.monotonic() + IDLE
    while not records and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    consumer.close(autocommit=False)

    (record,) = records
    body = json.loads(record.value)
    assert body["message_id"] == sent.message_id
    assert body["type"] == "prediction"
    assert body["schema_version"] == sent.schema_version
    assert body["payload"] == {"score": 0.25}
    assert datetime.fromisoformat(body["created_at"]) == sent.created_at
    assert record.key == b"model-a"
    assert dict(record.headers) == {"source": b"unit"}


def test_workbench_reads_plain_producer_envelope(kafka_url, servers, topic):
    body = {"message_id": "plain-1", "type": "alert", "created_at": "2026-01-02T03:04:05+00:00",
            "schema_version": 1, "payload": {"level": "high"}}
    producer = KafkaProducer(bootstrap_servers=servers, acks="all")
    producer.send(topic, value=json.dumps(body).encode("utf-8"), key=b"model-b",
                  headers=[("origin", b"plain")]).get(timeout=30)
    producer.close()

    queue = KafkaQueue(kafka_url)
    (received,) = consume_all(queue, topic, "reader", count=1)
    queue.close()

    assert received.message_id == "plain-1"
    assert received.type == "alert"
    assert received.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert received.payload == {"level": "high"}
    assert received.key == "model-b"
    assert received.headers == {"origin": "plain"}


def test_status_reports_lag_per_group(kafka_url, topic):
    queue = KafkaQueue(kafka_url)
    queue.publish_many(topic, [Message({"n": index}) for index in range(3)])
    consume_all(queue, topic, "partial", count=1)

    status = queue.status()
    queue.close()

    assert status.connected is True
    assert status.depth == {f"{topic} (group partial)": 2}
    assert kafka_url.removeprefix("kafka://") in status.detail


def test_new_topic_gets_requested_partitions(kafka_url, servers, topic):
    queue = KafkaQueue(kafka_url, partitions=3)
    sent = [Message({"n": index}, key=f"model-{index % 3}") for index in range(9)]
    queue.publish_many(topic, sent)
    received = consume_all(queue, topic, "reader", count=9)
    queue.close()

    admin = KafkaAdminClient(bootstrap_servers=servers)
    (described,) = admin.describe_topics([topic])
    admin.close()

    assert len(described["partitions"]) == 3
    assert sorted(message.message_id for message in received) == sorted(message.message_id for message in sent)
    for key in ("model-0", "model-1", "model-2"):
        sent_order = [message.payload["n"] for message in sent if message.key == key]
        received_order = [message.payload["n"] for message in received if message.key == key]
        assert received_order == sent_order


def test_two_consumers_share_group(kafka_url, topic):
    sent = [Message({"n": index}, key=f"k{index % 4}") for index in range(40)]
    publisher = KafkaQueue(kafka_url, partitions=2)
    publisher.publish_many(topic, sent)
    seen: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def handle(message):
        time.sleep(0.05)  # keeps the first consumer busy while the second one joins
        with lock:
            seen.append(message.message_id)
            if {m.message_id for m in sent} <= set(seen):
                stop.set()

    queues = [KafkaQueue(kafka_url, session_timeout_ms=6000) for _ in range(2)]
    threads = [threading.Thread(target=queue.consume, args=(topic, "shared", handle),
                                kwargs={"stop": stop, "idle_timeout": 60.0}) for queue in queues]
    for thread in threads:
        thread.start()
        time.sleep(0.5)
    for thread in threads:
        thread.join(timeout=120)
    # A new member of the group finds nothing left: every offset was committed.
    leftover = consume_all(publisher, topic, "shared", count=None, idle=5.0)
    for queue in [publisher, *queues]:
        queue.close()

    assert not any(thread.is_alive() for thread in threads)
    assert set(seen) == {message.message_id for message in sent}
    assert leftover == []


def test_slow_handler_is_redelivered(kafka_url, topic):
    queue = KafkaQueue(kafka_url, max_poll_interval_ms=2000, session_timeout_ms=6000)
    event = Message({"prediction_id": "p-slow"})
    queue.publish(topic, event)
    calls = []

    def slow_once(message):
        calls.append(message.message_id)
        if len(calls) == 1:
            time.sleep(4.0)  # the group drops this consumer after 2 s and the commit fails

    result = queue.consume(topic, "slow", slow_once, max_messages=2, idle_timeout=10.0)
    depth = queue.status().depth
    queue.close()

    assert calls == [event.message_id, event.message_id]
    assert result.handled == 2
    assert depth[f"{topic} (group slow)"] == 0


def test_retry_inside_poll_batch_keeps_order(kafka_url, topic):
    queue = KafkaQueue(kafka_url, max_poll_records=50)
    queue.publish_many(topic, [Message({"n": index}) for index in range(5)])
    calls = []

    def fail_once_on_two(message):
        calls.append(message.payload["n"])
        if message.payload["n"] == 2 and calls.count(2) == 1:
            raise RuntimeError("temporary")

    result = queue.consume(topic, "batch", fail_once_on_two, max_messages=5, idle_timeout=IDLE)
    queue.close()

    assert calls == [0, 1, 2, 2, 3, 4]
    assert result.handled == 5
