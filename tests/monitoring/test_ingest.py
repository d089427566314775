"""Tests of prediction ingestion from a queue topic into the monitor, over every queue backend.

The embedded queue always runs. RabbitMQ and Kafka run against the servers that
``scripts/services/start.sh`` starts on 127.0.0.1 (the URLs of ``tests/messaging/conftest.py``), and
are skipped when their server is down, or fail with ``WORKBENCH_REQUIRE_SERVICES=1``. Every test
reads and writes topics of its own, so tests never see each other's messages, and the store is a
SQLite file in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import numpy as np
import pandas as pd
import pytest

from tests.messaging.conftest import SERVER_URLS, require_server
from workbench.config import load_settings
from workbench.messaging import Message, dead_letter_topic, open_queue
from workbench.messaging.base import ORIGINAL_TOPIC_HEADER, REASON_HEADER, Outcome
from workbench.monitoring import Monitor, compute_baseline
from workbench.monitoring.ingest import IngestOptions, PredictionConsumer
from workbench.store import open_store

MODEL_ID = "ingest-model:1"

# Seconds a consume call waits for a message that should already be on the topic. Every call also
# stops after the number of messages the test expects, so this bound is reached only when a message
# is missing. It is generous because a Kafka consumer takes a few seconds to join its group.
IDLE = 20.0

# Seconds the SIGTERM test waits for the consumer process to store the events: starting Python,
# connecting and, on Kafka, joining the group.
STORED_WAIT = 60.0


@pytest.fixture
def settings(tmp_path):
    return load_settings({"WORKBENCH_DATA_DIR": str(tmp_path / "data")}, dotenv_path=None)


@pytest.fixture
def monitor(settings):
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=300), "site": rng.choice(["A", "B"], size=300)})
    labels = rng.integers(0, 2, size=300)
    baseline = compute_baseline(reference, labels=labels, predictions=labels, classes=[0, 1])
    opened = Monitor(store=open_store(settings.store_url), settings=settings)
    opened.registry.register("ingest-model", "1", baseline_statistics=baseline)
    return opened


@pytest.fixture(params=["local", "rabbitmq", "kafka"])
def queue_url(request, settings):
    """URL of each queue backend: the embedded queue in the data folder, then the test brokers."""
    backend = request.param
    if backend == "local":
        return settings.queue_url
    url = SERVER_URLS[backend]
    require_server(backend, url)
    return url


@pytest.fixture
def queue(queue_url):
    opened = open_queue(queue_url)
    yield opened
    opened.close()


@pytest.fixture
def options():
    """Ingestion options whose event and alert topics no other test uses."""
    suffix = uuid.uuid4().hex[:12]
    return IngestOptions(topic=f"test-predictions-{suffix}", alerts_topic=f"test-alerts-{suffix}")


def prediction_event(index, x=0.1, **changes):
    payload = {"model_id": MODEL_ID, "prediction_id": f"evt-{index}",
               "timestamp": f"2026-09-07T10:{index % 60:02d}:00Z", "features": {"x": x, "site": "A"},
               "prediction": 1, "probability": [0.3, 0.7]}
    payload.update(changes)
    return Message(payload, type="prediction")


def label_event(index, label):
    return Message({"model_id": MODEL_ID, "prediction_id": f"evt-{index}", "label": label}, type="label")


def consume(queue, topic, count):
    """Return the first ``count`` messages of ``topic``, read as a new consumer group."""
    seen = []
    group = f"inspect-{uuid.uuid4().hex[:8]}"
    queue.consume(topic, group, seen.append, max_messages=count, idle_timeout=IDLE)
    return seen


def test_events_are_recorded(queue, monitor, options):
    queue.publish_many(options.topic, [prediction_event(index) for index in range(3)])

    result = PredictionConsumer(queue, monitor, options).run(max_messages=3, idle_timeout=IDLE)

    assert result.handled == 3
    assert monitor.store.count_predictions(MODEL_ID) == 3


def test_redelivered_event_is_stored_once(queue, monitor, options):
    queue.publish_many(options.topic, [prediction_event(1), prediction_event(1)])

    result = PredictionConsumer(queue, monitor, options).run(max_messages=2, idle_timeout=IDLE)

    assert result.handled == 2
    assert monitor.store.count_predictions(MODEL_ID) == 1


def test_replay_by_second_group_stores_nothing_new(queue, monitor, options):
    queue.publish_many(options.topic, [prediction_event(index) for index in range(3)])
    PredictionConsumer(queue, monitor, options).run(max_messages=3, idle_timeout=IDLE)
    replay = IngestOptions(topic=options.topic, group="replay", alerts_topic=options.alerts_topic)

    result = PredictionConsumer(queue, monitor, replay).run(max_messages=3, idle_timeout=IDLE)

    assert result.handled == 3
    assert monitor.store.count_predictions(MODEL_ID) == 3


def test_event_redelivered_after_crash_is_stored_once(queue, monitor, options):
    queue.publish(options.topic, prediction_event(1))

    class Crash(BaseException):
        """Death of the consumer process after the row was stored and before the acknowledgement."""

    class CrashingConsumer(PredictionConsumer):
        def handle(self, message):
            super().handle(message)
            raise Crash

    with pytest.raises(Crash):
        CrashingConsumer(queue, monitor, options).run(max_messages=1, idle_timeout=IDLE)
    result = PredictionConsumer(queue, monitor, options).run(max_messages=1, idle_timeout=IDLE)

    assert result.handled == 1
    assert monitor.store.count_predictions(MODEL_ID) == 1


def test_late_label_event_is_joined(queue, monitor, options):
    queue.publish(options.topic, prediction_event(1))
    queue.publish(options.topic, label_event(1, 0))

    consumer = PredictionConsumer(queue, monitor, options)
    consumer.run(max_messages=2, idle_timeout=IDLE)

    assert consumer.labels == 1
    assert monitor.load_window(MODEL_ID, "all")["label"].tolist() == [0]


def test_label_before_prediction_is_joined(queue, monitor, options):
    queue.publish(options.topic, label_event(1, 1))
    queue.publish(options.topic, prediction_event(1))

    PredictionConsumer(queue, monitor, options).run(max_messages=2, idle_timeout=IDLE)

    assert monitor.load_window(MODEL_ID, "all")["label"].tolist() == [1]


def read_raw(queue, topic, count, monkeypatch):
    """Read ``count`` deliveries of ``topic`` as a new group, as (body, headers) before any parsing.

    A dead letter of a malformed body cannot be parsed, so reading it with a handler would only move it
    on to ``<topic>.dead-letter.dead-letter``. This replaces the queue's per-delivery step, which every
    backend calls with the body and headers as the broker delivered them.
    """
    seen = []

    def keep(topic, body, handler, *, key=None, headers=None, deliveries=1):
        texts = {str(name): value.decode() if isinstance(value, bytes) else str(value)
                 for name, value in (headers or {}).items()}
        seen.append((bytes(body), texts))
        return Outcome.ACKNOWLEDGED

    with monkeypatch.context() as patch:
        patch.setattr(queue, "handle_delivery", keep)
        queue.consume(topic, f"inspect-{uuid.uuid4().hex[:8]}", lambda message: None, max_messages=count,
                      idle_timeout=IDLE)
    return seen


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (prediction_event(1, model_id=None), "lacks ['model_id']"),
        (prediction_event(2, x="abc"), "numeric and got 'abc'"),
        (prediction_event(3, model_id="unknown:9"), "'unknown:9' is not registered"),
        (Message({"text": "hello"}, type="chat"), "has type 'chat'"),
        (label_event(4, 7), "label=7 is not one of the model's classes [0, 1]"),
        (b'{"model_id": "ingest-model:1", ', "invalid envelope: Message body is not valid JSON"),
    ],
    ids=["missing-model-id", "non-numeric-feature", "unknown-model", "wrong-type", "unknown-label-class",
         "malformed-json"],
)
def test_invalid_event_goes_to_dead_letter(queue, monitor, options, monkeypatch, event, reason):
    body = event if isinstance(event, bytes) else event.to_json()
    queue.publish_raw(options.topic, body)
    queue.publish(options.topic, prediction_event(10))

    result = PredictionConsumer(queue, monitor, options).run(max_messages=2, idle_timeout=IDLE)
    ((dead_body, dead_headers),) = read_raw(queue, dead_letter_topic(options.topic), 1, monkeypatch)

    assert result.dead_lettered == 1
    assert result.handled == 1
    assert monitor.store.count_predictions(MODEL_ID) == 1
    assert dead_body == body
    assert reason in dead_headers[REASON_HEADER]
    assert dead_headers[ORIGINAL_TOPIC_HEADER] == options.topic


def test_unhashable_model_id_is_rejected_at_once(queue, monitor, options):
    queue.publish(options.topic, prediction_event(1, model_id=["ingest-model:1"]))

    result = PredictionConsumer(queue, monitor, options).run(max_messages=1, idle_timeout=IDLE)

    assert result.retried == 0
    assert result.dead_lettered == 1


def test_new_alert_is_published(queue, monitor, options):
    # Values far outside the reference N(0, 1) so the window drifts.
    queue.publish_many(options.topic, [prediction_event(index, x=8.0 + index / 100) for index in range(40)])
    checked = IngestOptions(topic=options.topic, alerts_topic=options.alerts_topic, check_every=40,
                            window="last:40")

    PredictionConsumer(queue, monitor, checked).run(max_messages=40, idle_timeout=IDLE)
    (alert,) = consume(queue, options.alerts_topic, 1)

    assert [stored["kind"] for stored in monitor.alerts(MODEL_ID)] == ["drift"]
    assert alert.type == "alert"
    assert alert.payload["kind"] == "drift"
    assert alert.payload["model_id"] == MODEL_ID
    assert "x" in alert.payload["features"]


def test_sigterm_finishes_current_message(tmp_path, queue_url, queue, monitor, options):
    queue.publish_many(options.topic, [prediction_event(index) for index in range(3)])
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data"), "WORKBENCH_QUEUE_URL": queue_url,
           "MODEL_MONITORING_ENABLED": "true"}
    env.pop("WORKBENCH_STORE_URL", None)
    command = [sys.executable, "-m", "workbench.cli", "consume", "predictions", "--topic", options.topic,
               "--alerts-topic", options.alerts_topic, "--json"]
    process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # Bounded wait until the three events are stored, then ask the consumer to stop.
    deadline = time.monotonic() + STORED_WAIT
    while monitor.store.count_predictions(MODEL_ID) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr.decode()
    assert monitor.store.count_predictions(MODEL_ID) == 3
    assert json.loads(stdout)["handled"] == 3
