"""Tests of prediction ingestion from a queue topic into the monitor, on the embedded queue."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from workbench.config import load_settings
from workbench.messaging import Message, dead_letter_topic, open_queue
from workbench.messaging.base import REASON_HEADER
from workbench.monitoring import Monitor, compute_baseline
from workbench.monitoring.ingest import IngestOptions, PredictionConsumer
from workbench.store import open_store

MODEL_ID = "ingest-model:1"


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


@pytest.fixture
def queue(settings):
    opened = open_queue(settings.queue_url)
    yield opened
    opened.close()


def prediction_event(index, x=0.1, **changes):
    payload = {"model_id": MODEL_ID, "prediction_id": f"evt-{index}", "timestamp": f"2026-09-07T10:{index % 60:02d}:00Z",
               "features": {"x": x, "site": "A"}, "prediction": 1, "probability": [0.3, 0.7]}
    payload.update(changes)
    return Message(payload, type="prediction")


def dead_letters(queue, topic="predictions"):
    seen = []
    queue.consume(dead_letter_topic(topic), "inspect", seen.append, idle_timeout=0.3)
    return seen


def test_events_are_recorded(queue, monitor):
    queue.publish_many("predictions", [prediction_event(index) for index in range(3)])

    PredictionConsumer(queue, monitor).run(idle_timeout=0.3)

    assert monitor.store.count_predictions(MODEL_ID) == 3


def test_redelivered_event_is_stored_once(queue, monitor):
    queue.publish_many("predictions", [prediction_event(1), prediction_event(1)])

    result = PredictionConsumer(queue, monitor).run(idle_timeout=0.3)

    assert result.handled == 2
    assert monitor.store.count_predictions(MODEL_ID) == 1


def test_late_label_event_is_joined(queue, monitor):
    queue.publish("predictions", prediction_event(1))
    queue.publish("predictions", Message({"model_id": MODEL_ID, "prediction_id": "evt-1", "label": 0}, type="label"))

    PredictionConsumer(queue, monitor).run(idle_timeout=0.3)

    assert monitor.load_window(MODEL_ID, "all")["label"].tolist() == [0]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (prediction_event(1, model_id=None), "lacks ['model_id']"),
        (prediction_event(2, x="abc"), "numeric and got 'abc'"),
        (prediction_event(3, model_id="unknown:9"), "'unknown:9' is not registered"),
        (Message({"text": "hello"}, type="chat"), "has type 'chat'"),
    ],
    ids=["missing-model-id", "non-numeric-feature", "unknown-model", "wrong-type"],
)
def test_invalid_event_goes_to_dead_letter(queue, monitor, event, reason):
    queue.publish("predictions", event)
    queue.publish("predictions", prediction_event(10))

    result = PredictionConsumer(queue, monitor).run(idle_timeout=0.3)
    (dead,) = dead_letters(queue)

    assert reason in dead.headers[REASON_HEADER]
    assert result.dead_lettered == 1
    assert monitor.store.count_predictions(MODEL_ID) == 1


def test_malformed_json_goes_to_dead_letter(queue, monitor):
    queue.publish_raw("predictions", b'{"model_id": "ingest-model:1", ')
    queue.publish("predictions", prediction_event(10))

    result = PredictionConsumer(queue, monitor).run(idle_timeout=0.3)

    assert result.dead_lettered == 1
    assert result.handled == 1


def test_new_alert_is_published(queue, monitor):
    # Values far outside the reference N(0, 1) so the window drifts.
    queue.publish_many("predictions", [prediction_event(index, x=8.0 + index / 100) for index in range(40)])
    options = IngestOptions(check_every=40, window="last:40")

    PredictionConsumer(queue, monitor, options).run(idle_timeout=0.3)
    alerts = []
    queue.consume("alerts", "inspect", alerts.append, idle_timeout=0.3)

    assert [alert.payload["kind"] for alert in alerts] == ["drift"]
    assert alerts[0].payload["model_id"] == MODEL_ID


def test_sigterm_finishes_current_message(tmp_path, queue, monitor, settings):
    queue.publish_many("predictions", [prediction_event(index) for index in range(3)])
    env = {**os.environ, "WORKBENCH_DATA_DIR": str(tmp_path / "data"), "MODEL_MONITORING_ENABLED": "true"}
    env.pop("WORKBENCH_STORE_URL", None)
    env.pop("WORKBENCH_QUEUE_URL", None)
    process = subprocess.Popen([sys.executable, "-m", "workbench.cli", "consume", "predictions", "--json"],
                               env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    # Bounded wait until the three events are stored, then ask the consumer to stop.
    for _ in range(200):
        if monitor.store.count_predictions(MODEL_ID) == 3:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=30)

    assert process.returncode == 0, stderr.decode()
    assert json.loads(stdout)["handled"] == 3
