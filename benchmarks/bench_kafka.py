"""Time publishing and consuming through the Kafka queue, beside plain kafka-python doing the same work.

Every message is a workbench envelope of about 1 KB. Each run writes to a new topic with one
partition, created before the clock starts, on the broker at WORKBENCH_TEST_KAFKA_URL (default
kafka://127.0.0.1:9092, as ``scripts/services/start.sh kafka`` starts it). Kafka writes every message
to its log; the broker's flush settings decide when the log reaches the disk.

Both sides give the same guarantees:

- publishing: each message is encoded to JSON, then an idempotent producer with ``acks="all"``
  sends every message and waits for the acknowledgement of each. Workbench does this in ``publish_many``. The one-at-a-time rows wait for
  each acknowledgement before sending the next message (``publish`` against ``send().get()``).
- consuming: a new consumer group reads from the earliest offset with auto-commit off, parses each
  message's JSON and commits the next offset synchronously after each message. Both fetch up to
  ``--max-poll-records`` records per poll (default 500, kafka-python's default; workbench's own
  default is 1, which suits slow handlers). Both times include joining the group.

Run: ``.venv/bin/python benchmarks/bench_kafka.py [--messages N] [--single N] [--repeats R] [--json]``.
The script prints a message and exits 0 when no broker accepts a connection.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

from bench_drift import machine_info, positive_int
from kafka import KafkaConsumer, KafkaProducer, OffsetAndMetadata, TopicPartition
from kafka.admin import KafkaAdminClient

from workbench.messaging import Message
from workbench.messaging.kafka import KafkaQueue, parse_bootstrap_servers

#: Characters of filler in each payload, which makes the envelope JSON about 1,024 bytes.
FILLER_CHARS = 834

#: Seconds a consumer waits for its next message before it gives up, which covers joining the group.
IDLE_TIMEOUT_S = 60.0


def make_messages(count: int) -> list[Message]:
    """Return ``count`` envelopes of about 1 KB, each with its own index."""
    return [Message({"n": index, "model": "bench-model:1", "filler": "x" * FILLER_CHARS}, type="prediction")
            for index in range(count)]


def create_topic(servers: list[str]) -> str:
    topic = f"bench-{uuid.uuid4().hex[:12]}"
    admin = KafkaAdminClient(bootstrap_servers=servers)
    admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, wait_for_metadata=True)
    admin.close()
    return topic


def timed(function: Callable[[], int]) -> dict[str, float]:
    """Run ``function``, which returns how many messages it handled, and return count, seconds and rate."""
    start = time.perf_counter()
    count = function()
    seconds = time.perf_counter() - start
    return {"messages": count, "seconds": seconds, "per_second": count / seconds}


# Workbench -------------------------------------------------------------------------------------------


def bench_workbench(url: str, servers: list[str], messages: list[Message], single: int,
                    max_poll_records: int) -> dict[str, Any]:
    queue = KafkaQueue(url, max_poll_records=max_poll_records)
    queue.status()  # connects the producer and the admin client before the clock starts

    topic = create_topic(servers)
    publish = timed(lambda: queue.publish_many(topic, messages))

    def consume() -> int:
        seen = 0

        def handle(message: Message) -> None:
            nonlocal seen
            seen += 1

        queue.consume(topic, f"bench-{uuid.uuid4().hex[:8]}", handle, max_messages=len(messages),
                      idle_timeout=IDLE_TIMEOUT_S)
        return seen

    consume_result = timed(consume)

    single_topic = create_topic(servers)

    def publish_one_at_a_time() -> int:
        for message in messages[:single]:
            queue.publish(single_topic, message)
        return single

    single_result = timed(publish_one_at_a_time)
    queue.close()
    return {"publish_many": publish, "consume": consume_result, "publish_single": single_result}


# Plain kafka-python -----------------------------------------------------------------------------------


def bench_plain(servers: list[str], messages: list[Message], single: int, max_poll_records: int) -> dict[str, Any]:
    producer = KafkaProducer(bootstrap_servers=servers, acks="all", enable_idempotence=True)

    topic = create_topic(servers)

    def publish_all() -> int:
        futures = [producer.send(topic, value=message.to_json()) for message in messages]
        for future in futures:
            future.get(timeout=30)
        return len(futures)

    publish = timed(publish_all)
    consume_result = timed(lambda: plain_consume(servers, topic, len(messages), max_poll_records))

    single_topic = create_topic(servers)

    def publish_one_at_a_time() -> int:
        for message in messages[:single]:
            producer.send(single_topic, value=message.to_json()).get(timeout=30)
        return single

    single_result = timed(publish_one_at_a_time)
    producer.close()
    return {"publish_many": publish, "consume": consume_result, "publish_single": single_result}


def plain_consume(servers: list[str], topic: str, count: int, max_poll_records: int) -> int:
    """Read ``count`` messages, parsing each and committing its next offset right after it."""
    consumer = KafkaConsumer(bootstrap_servers=servers, group_id=f"bench-{uuid.uuid4().hex[:8]}",
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             max_poll_records=max_poll_records)
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + IDLE_TIMEOUT_S
    while seen < count and time.monotonic() < deadline:
        for partition, records in consumer.poll(timeout_ms=500).items():
            for record in records:
                json.loads(record.value)
                consumer.commit({TopicPartition(partition.topic, partition.partition):
                                 OffsetAndMetadata(record.offset + 1, "", -1)})
                seen += 1
                deadline = time.monotonic() + IDLE_TIMEOUT_S
    consumer.close(autocommit=False)
    return seen


# Report ----------------------------------------------------------------------------------------------


def broker_reachable(servers: list[str]) -> str | None:
    """Return None when the first broker accepts a TCP connection, else the reason it did not."""
    host, _, port = servers[0].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2):
            return None
    except OSError as exc:
        return str(exc)


def run(url: str, count: int, single: int, repeats: int, max_poll_records: int) -> dict[str, Any]:
    servers = parse_bootstrap_servers(url)
    messages = make_messages(count)
    runs: dict[str, list[dict[str, Any]]] = {"workbench": [], "plain": []}
    for _ in range(repeats):
        runs["workbench"].append(bench_workbench(url, servers, messages, single, max_poll_records))
        runs["plain"].append(bench_plain(servers, messages, single, max_poll_records))

    result: dict[str, Any] = {
        "machine": machine_info() | {"kafka-python": importlib.metadata.version("kafka-python")},
        "url": url,
        "messages": count,
        "message_bytes": len(messages[0].to_json()),
        "single_messages": single,
        "repeats": repeats,
        "max_poll_records": max_poll_records,
        "steps": {},
    }
    for step in ("publish_many", "publish_single", "consume"):
        workbench = statistics.median(run[step]["seconds"] for run in runs["workbench"])
        plain = statistics.median(run[step]["seconds"] for run in runs["plain"])
        handled = runs["workbench"][0][step]["messages"]
        result["steps"][step] = {
            "messages": handled,
            "workbench_seconds": workbench,
            "plain_seconds": plain,
            "workbench_per_second": handled / workbench,
            "plain_per_second": handled / plain,
            "ratio": workbench / plain,
            "workbench_messages_each_run": [run[step]["messages"] for run in runs["workbench"]],
            "plain_messages_each_run": [run[step]["messages"] for run in runs["plain"]],
        }
    return result


def print_table(result: dict[str, Any]) -> None:
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in result["machine"].items()))
    print(f"Broker {result['url']}; {result['messages']:,} messages of {result['message_bytes']:,} bytes; "
          f"median of {result['repeats']} runs")
    header = f"{'step':<16}{'messages':>10}{'workbench msg/s':>17}{'plain msg/s':>13}{'workbench/plain time':>22}"
    print(header)
    print("-" * len(header))
    for step, row in result["steps"].items():
        print(f"{step:<16}{row['messages']:>10,}{row['workbench_per_second']:>17,.0f}"
              f"{row['plain_per_second']:>13,.0f}{row['ratio']:>22.2f}")
    print("\nworkbench/plain time above 1 means workbench took longer for the same messages.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=positive_int, default=20_000,
                        help="messages published with publish_many and then consumed (default 20000)")
    parser.add_argument("--single", type=positive_int, default=1_000,
                        help="messages published one at a time, each waiting for its acknowledgement (default 1000)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="runs of each side; the median time is printed (default 3)")
    parser.add_argument("--max-poll-records", type=positive_int, default=500,
                        help="records both consumers fetch per poll (default 500)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    url = os.environ.get("WORKBENCH_TEST_KAFKA_URL", "kafka://127.0.0.1:9092")
    reason = broker_reachable(parse_bootstrap_servers(url))
    if reason is not None:
        print(f"Skipped: no Kafka broker accepts connections at {url} ({reason}). Start one with "
              "`scripts/services/start.sh kafka`.", file=sys.stderr)
        return 0

    result = run(url, args.messages, min(args.single, args.messages), args.repeats, args.max_poll_records)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
