"""Time ingestion of prediction events from a queue topic into the store, per queue backend.

The model has two classes and a baseline of 30 features (24 numeric, 6 categorical) computed from
5,000 seeded reference rows. Each run publishes N prediction events (``--events``, default 5,000)
drawn from the same distribution to a new topic, and then times
``PredictionConsumer(...).run(max_messages=N)``. Publishing has its own column and is not part of the
ingest time. Every run uses a new SQLite store in a temporary folder, which is deleted at the end.

The ingest rate is N divided by the time from calling ``run`` until the N-th event is stored. So
it includes connecting and, on Kafka, joining the consumer group, but not the consumer's shutdown
and no idle wait. The startup column is the time until the first event is stored, and the steady
rate counts the events after the first over the time from the first to the last.

The floor is the same work without a queue: ``Monitor.record`` called once per event, with the same
fields, on a new store. The main runs set ``check_every=0``, so no drift check runs. One more run per
backend keeps the default ``check_every=500`` (window ``last:1000``) and is printed apart. Its events
come from the reference distribution, so any alert it raises is a false alarm of the drift tests at
their 5 % level. With the fixed seed and 5,000 events, the last window flags two numeric features,
so that run stores one drift alert.

Backends: the embedded queue in the temporary folder, RabbitMQ at WORKBENCH_TEST_AMQP_URL (default
amqp://guest:guest@127.0.0.1:5672/) and Kafka at WORKBENCH_TEST_KAFKA_URL (default
kafka://127.0.0.1:9092), as ``scripts/services/start.sh`` starts them. A backend whose server does not
accept a connection is skipped with a message. The topics, streams and consumer groups that a run
creates on a broker are deleted at the end.

Run: ``.venv/bin/python benchmarks/bench_ingest.py [--events N] [--repeats R] [--backends B,...] [--json]``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from bench_drift import machine_info, positive_int

from workbench.config import load_settings
from workbench.messaging import Message, dead_letter_topic, open_queue
from workbench.monitoring import Monitor, compute_baseline
from workbench.monitoring.baseline import BaselineStatistics
from workbench.monitoring.ingest import IngestOptions, PredictionConsumer
from workbench.store import open_store
from workbench.store.urls import mask_url

SEED = 20_260_915
CLASSES = ["benign", "malignant"]
NUMERIC_FEATURES = 24
CATEGORY_COUNTS = (3, 4, 5, 7, 9, 12)
REFERENCE_ROWS = 5_000
MODEL_NAME, MODEL_VERSION = "bench-ingest", 1
BACKENDS = ("local", "rabbitmq", "kafka")
SERVER_URLS = {
    "rabbitmq": os.environ.get("WORKBENCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    "kafka": os.environ.get("WORKBENCH_TEST_KAFKA_URL", "kafka://127.0.0.1:9092"),
}
DEFAULT_PORTS = {"rabbitmq": 5672, "kafka": 9092}

#: Seconds the consumer waits for its next event before it gives up. With max_messages it returns
#: as soon as every event is stored, so this bound only ends a run that lost events.
IDLE_TIMEOUT_S = 60.0

#: Predictions of a model between two checks of its window in the run labelled as the default.
DEFAULT_CHECK_EVERY = IngestOptions().check_every


# Data ------------------------------------------------------------------------------------------------


def make_features(rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``rows`` rows of 24 normal features with different means and scales, and 6 categorical ones."""
    columns: dict[str, Any] = {}
    for index in range(NUMERIC_FEATURES):
        columns[f"numeric_{index}"] = rng.normal(10.0 * index, 1.0 + index / 4, rows)
    for count in CATEGORY_COUNTS:
        columns[f"category_{count}"] = rng.choice([f"c{value}" for value in range(count)], size=rows)
    return pd.DataFrame(columns)


def make_baseline() -> BaselineStatistics:
    rng = np.random.default_rng(SEED)
    reference = make_features(REFERENCE_ROWS, rng)
    malignant = rng.random(REFERENCE_ROWS)
    predictions = np.where(malignant >= 0.5, CLASSES[1], CLASSES[0])
    return compute_baseline(reference, labels=predictions, predictions=predictions,
                            probabilities=np.column_stack([1.0 - malignant, malignant]), classes=CLASSES)


def make_events(count: int) -> list[Message]:
    """Return ``count`` prediction events of the model, one second apart, drawn like the reference."""
    rng = np.random.default_rng(SEED + 1)
    records = make_features(count, rng).to_dict("records")
    malignant = rng.random(count)
    start = datetime(2026, 9, 7, tzinfo=UTC)
    model_id = f"{MODEL_NAME}:{MODEL_VERSION}"
    events = []
    for index, features in enumerate(records):
        payload = {
            "model_id": model_id,
            "prediction_id": f"bench-{index}",
            "timestamp": (start + timedelta(seconds=index)).isoformat(),
            "features": {name: value.item() if isinstance(value, np.generic) else value
                         for name, value in features.items()},
            "prediction": CLASSES[int(malignant[index] >= 0.5)],
            "probability": [1.0 - float(malignant[index]), float(malignant[index])],
        }
        events.append(Message(payload, type="prediction", key=model_id))
    return events


# Runs ------------------------------------------------------------------------------------------------


@dataclass
class Workspace:
    """A new SQLite store with the model registered, in its own folder."""

    folder: Path
    monitor: Monitor = field(init=False)
    model_id: str = field(init=False)

    def open(self, baseline: BaselineStatistics) -> Workspace:
        self.folder.mkdir(parents=True)
        url = f"sqlite:///{self.folder / 'store.db'}"
        settings = load_settings(environ={"WORKBENCH_STORE_URL": url, "WORKBENCH_DATA_DIR": str(self.folder)},
                                 dotenv_path=None)
        self.monitor = Monitor(store=open_store(url), settings=settings)
        self.model_id = self.monitor.registry.register(MODEL_NAME, MODEL_VERSION,
                                                       baseline_statistics=baseline).model_id
        return self

    def stored(self) -> int:
        return self.monitor.store.count_predictions(self.model_id)

    def close(self) -> None:
        self.monitor.store.close()


class TimedConsumer(PredictionConsumer):
    """PredictionConsumer that notes when the first and the last event were stored."""

    first_stored: float | None = None
    last_stored: float | None = None

    def handle(self, message: Message) -> None:
        super().handle(message)
        now = time.perf_counter()
        if self.first_stored is None:
            self.first_stored = now
        self.last_stored = now


def run_floor(workspace: Workspace, events: list[Message]) -> dict[str, Any]:
    """Record every event with Monitor.record directly, as the consumer's handler does."""
    monitor, model_id = workspace.monitor, workspace.model_id
    gc.collect()
    start = time.perf_counter()
    for event in events:
        payload = event.payload
        monitor.record(model_id, payload["features"], payload["prediction"], payload["probability"],
                       prediction_id=payload["prediction_id"], timestamp=payload["timestamp"])
    seconds = time.perf_counter() - start
    check_stored(workspace, len(events), "Monitor.record")
    return {"seconds": seconds, "events_per_second": len(events) / seconds}


def run_ingest(backend: str, url: str, workspace: Workspace, events: list[Message], check_every: int,
               created: list[tuple[str, str]]) -> dict[str, Any]:
    """Publish the events to a new topic, then time the consumer until every event is stored.

    Appends the (topic, group) pairs the run creates to ``created`` before it publishes, so that they
    are deleted even when the run fails.
    """
    suffix = uuid.uuid4().hex[:12]
    options = IngestOptions(topic=f"bench-ingest-{suffix}", group=f"bench-ingest-{suffix}",
                            alerts_topic=f"bench-alerts-{suffix}", check_every=check_every)
    created.append((options.topic, options.group))
    created.append((dead_letter_topic(options.topic), ""))
    created.append((options.alerts_topic, ""))
    count = len(events)

    queue = open_queue(url)
    try:
        publish_start = time.perf_counter()
        queue.publish_many(options.topic, events)
        publish_seconds = time.perf_counter() - publish_start

        consumer = TimedConsumer(queue, workspace.monitor, options)
        gc.collect()
        start = time.perf_counter()
        result = consumer.run(max_messages=count, idle_timeout=IDLE_TIMEOUT_S)
        returned = time.perf_counter() - start
    finally:
        queue.close()

    if result.handled != count or consumer.last_stored is None:
        raise RuntimeError(f"{backend}: the consumer handled {result.handled} of {count} events of topic "
                           f"{options.topic} ({result.dead_lettered} dead-lettered, "
                           f"{result.retried} retried)")
    check_stored(workspace, count, f"{backend} consumer")
    until_stored = consumer.last_stored - start
    startup = consumer.first_stored - start
    steady_seconds = consumer.last_stored - consumer.first_stored
    return {
        "publish_seconds": publish_seconds,
        "publish_events_per_second": count / publish_seconds,
        "seconds_until_stored": until_stored,
        "events_per_second": count / until_stored,
        "startup_seconds": startup,
        "steady_events_per_second": (count - 1) / steady_seconds if steady_seconds > 0 else None,
        "run_returned_seconds": returned,
        "checks": count // check_every if check_every else 0,
        "alerts": len(workspace.monitor.alerts(workspace.model_id)),
    }


def check_stored(workspace: Workspace, expected: int, step: str) -> None:
    stored = workspace.stored()
    if stored != expected:
        raise RuntimeError(f"{step} stored {stored} of {expected} events in {workspace.folder}")


# Brokers ---------------------------------------------------------------------------------------------


def server_unreachable(backend: str, url: str) -> str | None:
    """Return None when the backend's server accepts a TCP connection, else the reason it did not."""
    if backend == "local":
        return None
    parts = urlsplit(url.split(",")[0])
    host, port = parts.hostname or "127.0.0.1", parts.port or DEFAULT_PORTS[backend]
    try:
        with socket.create_connection((host, port), timeout=2):
            return None
    except OSError as exc:
        return (f"{backend} is not reachable at {host}:{port} ({exc}); start it with "
                f"`scripts/services/start.sh {backend}`")


def delete_broker_objects(backend: str, url: str, created: list[tuple[str, str]]) -> None:
    """Delete the topics and consumer groups of ``created``. A failure is printed, not raised."""
    if not created:
        return
    try:
        if backend == "rabbitmq":
            delete_rabbitmq_objects(url, created)
        elif backend == "kafka":
            delete_kafka_objects(url, created)
    except Exception as exc:  # noqa: BLE001 - the measurements are done; report the leftovers and go on
        names = ", ".join(topic for topic, _ in created)
        print(f"Deleting the {backend} topics {names} failed ({type(exc).__name__}: {exc}); "
              "delete them by hand.", file=sys.stderr)


def delete_rabbitmq_objects(url: str, created: list[tuple[str, str]]) -> None:
    import pika

    # The queue names that hold a group's offset and its single-consumer token, as the backend makes them.
    from workbench.messaging.rabbitmq import _offset_queue_name, _token_queue_name

    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        for topic, group in created:
            # RabbitMQ (3.10.8 on the test broker) returns success for queue.delete and exchange.delete
            # of a missing name, so topics that a run never created need no check.
            channel.queue_delete(topic)
            channel.exchange_delete(topic)
            if group:
                channel.queue_delete(_offset_queue_name(topic, group))
                channel.queue_delete(_token_queue_name(topic, group))
    finally:
        connection.close()


def delete_kafka_objects(url: str, created: list[tuple[str, str]]) -> None:
    from kafka.admin import KafkaAdminClient

    from workbench.messaging.kafka import parse_bootstrap_servers

    admin = KafkaAdminClient(bootstrap_servers=parse_bootstrap_servers(url))
    try:
        existing = set(admin.list_topics())
        topics = [topic for topic, _ in created if topic in existing]
        if topics:
            admin.delete_topics(topics)
        groups = [group for _, group in created if group]
        if groups:
            admin.delete_groups(groups)
    finally:
        admin.close()


# Report ----------------------------------------------------------------------------------------------


def median_of(runs: list[dict[str, Any]], name: str) -> float | None:
    values = [run[name] for run in runs if run[name] is not None]
    return statistics.median(values) if values else None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the median of each measure over ``runs``, and the runs."""
    names = [name for name, value in runs[0].items() if isinstance(value, (int, float)) or value is None]
    return {"median": {name: median_of(runs, name) for name in names}, "runs": runs}


def run(events: list[Message], backends: list[str], repeats: int) -> dict[str, Any]:
    baseline = make_baseline()
    count = len(events)
    urls: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for backend in backends:
        reason = server_unreachable(backend, SERVER_URLS.get(backend, ""))
        if reason is None:
            urls[backend] = SERVER_URLS.get(backend, "")
        else:
            skipped[backend] = reason
            print(f"Skipped {backend}: {reason}.", file=sys.stderr)

    floor_runs: list[dict[str, Any]] = []
    ingest_runs: dict[str, list[dict[str, Any]]] = {backend: [] for backend in urls}
    default_runs: dict[str, dict[str, Any]] = {}
    created: dict[str, list[tuple[str, str]]] = {backend: [] for backend in urls}
    with tempfile.TemporaryDirectory(prefix="workbench-bench-ingest-") as temporary:
        root = Path(temporary)

        def workspace() -> Workspace:
            return Workspace(root / uuid.uuid4().hex[:12]).open(baseline)

        def ingest(backend: str, check_every: int) -> dict[str, Any]:
            space = workspace()
            url = f"local:///{space.folder.as_posix()}/queue" if backend == "local" else urls[backend]
            try:
                return run_ingest(backend, url, space, events, check_every, created[backend])
            finally:
                space.close()

        try:
            for repeat in range(repeats):
                # Rotate the order, so that no backend always runs right after the floor or a broker.
                names = list(urls)
                shift = repeat % len(names) if names else 0
                order = names[shift:] + names[:shift]
                space = workspace()
                try:
                    floor_runs.append(run_floor(space, events))
                finally:
                    space.close()
                for backend in order:
                    ingest_runs[backend].append(ingest(backend, 0))
            for backend in urls:
                default_runs[backend] = ingest(backend, DEFAULT_CHECK_EVERY)
        finally:
            for backend, url in urls.items():
                delete_broker_objects(backend, url, created[backend])

    versions = {package: importlib.metadata.version(package) for package in ("pika", "kafka-python")}
    options = {
        "events": count,
        "event_bytes": len(events[0].to_json()),
        "features": len(events[0].payload["features"]),
        "repeats": repeats,
        "idle_timeout_s": IDLE_TIMEOUT_S,
        "urls": {backend: mask_url(url) if url else "temporary folder" for backend, url in urls.items()},
    }
    default_check = {"check_every": DEFAULT_CHECK_EVERY, "window": IngestOptions().window}
    return {
        "machine": machine_info() | versions,
        "options": options,
        "skipped": skipped,
        "floor": summarize(floor_runs),
        "ingest": {backend: summarize(runs) for backend, runs in ingest_runs.items()},
        "ingest_default_check_every": {backend: default_check | measures
                                       for backend, measures in default_runs.items()},
    }


def print_table(result: dict[str, Any]) -> None:
    options = result["options"]
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in result["machine"].items()))
    print(f"{options['events']:,} prediction events of {options['features']} features, "
          f"{options['event_bytes']:,} bytes of JSON each; median of {options['repeats']} "
          f"run{'s' if options['repeats'] != 1 else ''}; "
          "check_every=0\n")

    floor = result["floor"]["median"]
    header = (f"{'step':<34} {'publish ev/s':>13} {'ingest ev/s':>12} {'startup s':>10} {'steady ev/s':>12} "
              f"{'time per event vs floor':>24}")
    print(header)
    print("-" * len(header))
    print(f"{'Monitor.record, no queue (floor)':<34} {'-':>13} {floor['events_per_second']:>12,.0f} "
          f"{'-':>10} {'-':>12} {1.0:>23.2f}x")
    for backend, summary in result["ingest"].items():
        row = summary["median"]
        steady = "-" if row["steady_events_per_second"] is None else f"{row['steady_events_per_second']:,.0f}"
        ratio = floor["events_per_second"] / row["events_per_second"]
        print(f"{'PredictionConsumer, ' + backend:<34} {row['publish_events_per_second']:>13,.0f} "
              f"{row['events_per_second']:>12,.0f} {row['startup_seconds']:>10.2f} {steady:>12} "
              f"{ratio:>23.2f}x")
    for backend, reason in result["skipped"].items():
        print(f"{'PredictionConsumer, ' + backend:<34} skipped: {reason}")

    default_runs = result["ingest_default_check_every"]
    if default_runs:
        first = next(iter(default_runs.values()))
        print(f"\nDefault check_every={first['check_every']} (window {first['window']}), "
              "one run per backend:")
        header = f"{'step':<34} {'ingest ev/s':>12} {'checks':>7} {'alerts':>7} {'vs check_every=0':>17}"
        print(header)
        print("-" * len(header))
        for backend, row in default_runs.items():
            share = row["events_per_second"] / result["ingest"][backend]["median"]["events_per_second"]
            print(f"{'PredictionConsumer, ' + backend:<34} {row['events_per_second']:>12,.0f} "
                  f"{row['checks']:>7} {row['alerts']:>7} {share:>17.0%}")

    print("\nIngest ev/s is events over the time from calling run() until the last event was stored, "
          "connecting and joining the group included.\n"
          "Startup is the time until the first event was stored; steady ev/s counts the events after it.\n"
          "'time per event vs floor' divides the consumer's time per event by that of Monitor.record alone "
          "(1.00x = no queue overhead).")


def parse_backends(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKENDS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"{text!r} is invalid; use a comma-separated list of "
                                         f"{', '.join(BACKENDS)}.")
    return list(dict.fromkeys(names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=positive_int, default=5_000,
                        help="prediction events published and then ingested per run (default 5000)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="runs of the floor and of each backend with check_every=0; the median is "
                             "printed (default 3)")
    parser.add_argument("--backends", type=parse_backends, default=list(BACKENDS),
                        help="comma-separated queue backends to time (default local,rabbitmq,kafka)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    result = run(make_events(args.events), args.backends, args.repeats)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
