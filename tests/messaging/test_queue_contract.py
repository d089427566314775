"""Behaviour every queue backend must show, run over the embedded queue, RabbitMQ and Kafka."""

from __future__ import annotations

import threading

import pytest

from workbench.errors import ValidationError
from workbench.messaging import Message, dead_letter_topic, open_queue
from workbench.messaging.base import DELIVERIES_HEADER, ORIGINAL_TOPIC_HEADER, REASON_HEADER

# Seconds a consume call waits for a message that should already be there; generous for a broker
# that is still assigning partitions, and never reached when the contract holds.
IDLE = 10.0


def collect(queue, topic, group="g", count=None, idle=IDLE):
    """Consume until ``count`` messages were settled (or the topic stays idle); return the messages."""
    seen = []
    queue.consume(topic, group, seen.append, max_messages=count, idle_timeout=idle)
    return seen


def test_publish_then_consume_in_order(queue, topic):
    sent = [Message({"n": index}, type="test") for index in range(5)]
    queue.publish_many(topic, sent)

    received = collect(queue, topic, count=5)

    assert [message.payload["n"] for message in received] == [0, 1, 2, 3, 4]


def test_envelope_fields_round_trip(queue, topic):
    sent = Message({"score": 0.25}, type="prediction", key="model-a", headers={"source": "unit"})
    queue.publish(topic, sent)

    (received,) = collect(queue, topic, count=1)

    assert received.message_id == sent.message_id
    assert received.type == "prediction"
    assert received.created_at == sent.created_at
    assert received.payload == {"score": 0.25}
    assert received.headers.get("source") == "unit"


def test_group_resumes_after_committed_offset(queue, topic):
    queue.publish_many(topic, [Message({"n": index}) for index in range(4)])

    first = collect(queue, topic, count=2)
    rest = collect(queue, topic, count=2)

    assert [message.payload["n"] for message in first + rest] == [0, 1, 2, 3]


def test_two_groups_each_get_every_message(queue, topic):
    queue.publish_many(topic, [Message({"n": index}) for index in range(3)])

    group_a = collect(queue, topic, group="a", count=3)
    group_b = collect(queue, topic, group="b", count=3)

    assert len(group_a) == 3
    assert len(group_b) == 3


def test_invalid_body_goes_to_dead_letter(queue, topic):
    queue.publish_raw(topic, b"{not json")
    queue.publish(topic, Message({"n": 1}))

    result_seen = []
    result = queue.consume(topic, "g", result_seen.append, max_messages=2, idle_timeout=IDLE)

    assert result.dead_lettered == 1
    assert [message.payload["n"] for message in result_seen] == [1]
    assert result.handled == 1


def test_rejected_message_carries_reason(queue, topic):
    queue.publish(topic, Message({"n": 1}))

    def reject(message):
        raise ValidationError("feature 'x' is numeric and got 'abc'", field="x", value="abc")

    queue.consume(topic, "g", reject, max_messages=1, idle_timeout=IDLE)
    raw = []
    queue.consume(dead_letter_topic(topic), "inspect", raw.append, max_messages=1, idle_timeout=IDLE)

    (dead,) = raw
    assert "numeric and got 'abc'" in dead.headers[REASON_HEADER]
    assert dead.headers[ORIGINAL_TOPIC_HEADER] == topic
    assert dead.payload == {"n": 1}


def test_failing_handler_is_retried_then_dead_lettered(queue, topic):
    queue.max_deliveries = 3
    queue.publish(topic, Message({"n": 1}))
    attempts = []

    def fail(message):
        attempts.append(message.message_id)
        raise RuntimeError("model server down")

    result = queue.consume(topic, "g", fail, max_messages=1, idle_timeout=IDLE)
    dead = collect(queue, dead_letter_topic(topic), group="inspect", count=1)

    assert len(attempts) == 3
    assert result.dead_lettered == 1
    assert dead[0].headers[DELIVERIES_HEADER] == "3"


def test_handler_failure_once_then_success(queue, topic):
    queue.publish(topic, Message({"n": 1}))
    calls = []

    def flaky(message):
        calls.append(message.payload["n"])
        if len(calls) == 1:
            raise RuntimeError("temporary")

    result = queue.consume(topic, "g", flaky, max_messages=1, idle_timeout=IDLE)

    assert calls == [1, 1]
    assert result.handled == 1


def test_unacknowledged_message_is_redelivered(queue, topic):
    queue.publish(topic, Message({"n": 1}))

    class Crash(BaseException):
        """Stands for a consumer process dying inside the handler."""

    def crash(message):
        raise Crash

    with pytest.raises(Crash):
        queue.consume(topic, "g", crash, max_messages=1, idle_timeout=IDLE)
    again = collect(queue, topic, count=1)

    assert [message.payload["n"] for message in again] == [1]


def test_stop_event_ends_consume(queue, topic):
    stop = threading.Event()
    stop.set()

    result = queue.consume(topic, "g", lambda message: None, stop=stop, idle_timeout=IDLE)

    assert result.settled == 0


def test_idle_timeout_ends_empty_consume(queue, topic):
    result = queue.consume(topic, "g", lambda message: None, idle_timeout=0.5)

    assert result.settled == 0


def test_status_reports_connected(queue, topic):
    queue.publish(topic, Message({"n": 1}))

    status = queue.status()

    assert status.connected is True


def test_status_masks_password(queue):
    status = queue.status()

    assert "guest:guest" not in status.url


def test_status_reports_watched_topic(queue, topic):
    queue.publish_many(topic, [Message({"n": index}) for index in range(3)])
    # A new queue object reports no topic until watch() names it, as `workbench messaging status --topic` does.
    fresh = open_queue(queue.url)
    fresh.watch(topic, "watcher")

    status = fresh.status()
    fresh.close()

    assert any(name.startswith(topic) for name in status.depth)
