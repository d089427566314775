"""Time publishing and consuming persistent 1 KB messages through RabbitMQQueue, beside plain pika.

Both sides do the same work with the same guarantees. Each message is a JSON envelope of 1,024
bytes, encoded inside the timed section, sent persistent with ``mandatory=True`` to the topic
exchange that is bound to the topic's stream, and confirmed by the broker. Consuming reads the stream
from its first message with manual acks and the same prefetch, and parses each envelope. Every timed
section opens its own connection and declares the topic.

The plain pika publisher pipelines confirms as workbench does: a SelectConnection that sends every
message, then counts the confirms (``basic.ack`` with ``multiple=True``). A BlockingConnection whose
channel is in confirm mode waits for each message's confirm, and is timed too for comparison.
The plain consumers, a SelectConnection and a BlockingConnection, ack each message in pika's callback
and store no group offset, so they do less work than workbench, which also stores the group's offset.
The SelectConnection ones are the baselines of the ratio.

Run: ``.venv/bin/python benchmarks/bench_rabbitmq.py [--messages N] [--repeats R] [--prefetch P] [--json]``.
It needs the broker that ``scripts/services/start.sh rabbitmq`` starts, and prints a message and exits
when the broker does not accept connections. The streams it creates are deleted at the end. The table
shows the median and the best run of each step, and the client's CPU time per message, which other
processes on the machine disturb less than the wall-clock time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import socket
import statistics
import sys
import time
import uuid
from typing import Any, Self
from urllib.parse import urlsplit

import pika
from bench_drift import git_commit, positive_int
from pika.adapters.select_connection import IOLoop

from workbench.messaging import Message
from workbench.messaging.rabbitmq import RabbitMQQueue
from workbench.store.urls import mask_url

DEFAULT_URL = os.environ.get("WORKBENCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
MESSAGE_BYTES = 1024
STREAM_ARGUMENTS = {"x-queue-type": "stream"}


def make_messages(count: int) -> list[Message]:
    """Return ``count`` envelopes whose JSON body is MESSAGE_BYTES long."""
    messages = []
    for index in range(count):
        message = Message({"index": index, "data": ""}, type="bench", key="model-a")
        padding = MESSAGE_BYTES - len(message.to_json())
        messages.append(dataclasses.replace(message, payload={"index": index, "data": "x" * padding}))
    return messages


def broker_reachable(url: str) -> str | None:
    """Return None when the broker accepts TCP connections, else the reason."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), timeout=2):
            return None
    except OSError as exc:
        return str(exc)


class Timer:
    """Wall-clock and CPU seconds of this process, all threads included, over a ``with`` block."""

    def __enter__(self) -> Self:
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


# Workbench -------------------------------------------------------------------------------------------


def workbench_publish(url: str, topic: str, messages: list[Message]) -> Timer:
    queue = RabbitMQQueue(url)
    with Timer() as timer:
        queue.publish_many(topic, messages)
    queue.close()
    return timer


def workbench_consume(url: str, topic: str, count: int, prefetch: int) -> Timer:
    queue = RabbitMQQueue(url, prefetch=prefetch)
    with Timer() as timer:
        result = queue.consume(topic, "bench", lambda message: None, max_messages=count, idle_timeout=30)
    queue.close()
    if result.handled != count:
        raise RuntimeError(f"workbench consumed {result.handled} of {count} messages from {topic}")
    return timer


# Plain pika ------------------------------------------------------------------------------------------


def properties_of(message: Message) -> pika.BasicProperties:
    return pika.BasicProperties(content_type="application/json", delivery_mode=pika.DeliveryMode.Persistent,
                                message_id=message.message_id, headers=dict(message.headers) or None)


def declare_topic(channel: Any, topic: str, done: Any) -> None:
    """Declare the exchange, stream and binding on an asynchronous channel, then call ``done()``."""
    channel.exchange_declare(topic, exchange_type="topic", durable=True, callback=lambda frame: channel.queue_declare(
        topic, durable=True, arguments=STREAM_ARGUMENTS, callback=lambda frame: channel.queue_bind(
            topic, topic, routing_key="#", callback=lambda frame: done())))


def plain_publish_pipelined(url: str, topic: str, messages: list[Message], facts: dict[str, Any]) -> Timer:
    """Publish with a SelectConnection: send everything, then count confirms."""
    ioloop = IOLoop()
    state = {"confirmed": 0, "error": None}

    def on_open(connection: pika.SelectConnection) -> None:
        facts["rabbitmq"] = str(connection.server_properties.get("version", "?"))
        connection.channel(on_open_callback=lambda channel: on_channel(connection, channel))

    def on_channel(connection: pika.SelectConnection, channel: Any) -> None:
        channel.add_on_return_callback(lambda *returned: state.update(error="returned"))
        channel.confirm_delivery(ack_nack_callback=lambda frame: on_confirm(connection, frame),
                                 callback=lambda frame: declare_topic(channel, topic, lambda: send(channel)))

    def send(channel: Any) -> None:
        for message in messages:
            channel.basic_publish(topic, message.key or "", message.to_json(), properties_of(message),
                                  mandatory=True)

    def on_confirm(connection: pika.SelectConnection, frame: Any) -> None:
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            state["error"] = "nack"
        state["confirmed"] = method.delivery_tag if method.multiple else state["confirmed"] + 1
        if state["confirmed"] >= len(messages):
            connection.close()

    with Timer() as timer:
        pika.SelectConnection(pika.URLParameters(url), on_open_callback=on_open,
                              on_open_error_callback=lambda connection, error: ioloop.stop(),
                              on_close_callback=lambda connection, reason: ioloop.stop(), custom_ioloop=ioloop)
        ioloop.start()
    ioloop.close()
    if state["error"] or state["confirmed"] < len(messages):
        raise RuntimeError(f"plain pika publish failed: {state['error']}, {state['confirmed']} confirmed")
    return timer


def plain_publish_blocking(url: str, topic: str, messages: list[Message]) -> Timer:
    """Publish with a BlockingConnection in confirm mode, which waits for each message's confirm."""
    with Timer() as timer:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.exchange_declare(topic, exchange_type="topic", durable=True)
        channel.queue_declare(topic, durable=True, arguments=STREAM_ARGUMENTS)
        channel.queue_bind(topic, topic, routing_key="#")
        channel.confirm_delivery()
        for message in messages:
            channel.basic_publish(topic, message.key or "", message.to_json(), properties_of(message),
                                  mandatory=True)
        connection.close()
    return timer


def plain_consume_async(url: str, topic: str, count: int, prefetch: int) -> Timer:
    """Read the stream with a SelectConnection from the first message, with manual acks, parsing each envelope."""
    ioloop = IOLoop()
    received = 0

    def on_open(connection: pika.SelectConnection) -> None:
        connection.channel(on_open_callback=lambda channel: on_channel(connection, channel))

    def on_channel(connection: pika.SelectConnection, channel: Any) -> None:
        channel.queue_declare(topic, durable=True, arguments=STREAM_ARGUMENTS, callback=lambda frame: channel.basic_qos(
            prefetch_count=prefetch, callback=lambda frame: channel.basic_consume(
                topic, lambda *delivery: on_message(connection, *delivery),
                arguments={"x-stream-offset": "first"})))

    def on_message(connection: pika.SelectConnection, channel: Any, method: Any, properties: Any,
                   body: bytes) -> None:
        nonlocal received
        Message.from_json(body, key=method.routing_key, headers=properties.headers)
        channel.basic_ack(method.delivery_tag)
        received += 1
        if received == count:
            connection.close()

    with Timer() as timer:
        pika.SelectConnection(pika.URLParameters(url), on_open_callback=on_open,
                              on_open_error_callback=lambda connection, error: ioloop.stop(),
                              on_close_callback=lambda connection, reason: ioloop.stop(), custom_ioloop=ioloop)
        ioloop.start()
    ioloop.close()
    if received < count:
        raise RuntimeError(f"plain pika consumed {received} of {count} messages from {topic}")
    return timer


def plain_consume(url: str, topic: str, count: int, prefetch: int) -> Timer:
    """Read the stream with a BlockingConnection from the first message, with manual acks, parsing each envelope."""
    received = 0

    def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
        nonlocal received
        Message.from_json(body, key=method.routing_key, headers=properties.headers)
        channel.basic_ack(method.delivery_tag)
        received += 1
        if received == count:
            channel.stop_consuming()

    with Timer() as timer:
        connection = pika.BlockingConnection(pika.URLParameters(url))
        channel = connection.channel()
        channel.queue_declare(topic, durable=True, arguments=STREAM_ARGUMENTS)
        channel.basic_qos(prefetch_count=prefetch)
        channel.basic_consume(topic, on_message, arguments={"x-stream-offset": "first"})
        channel.start_consuming()
        connection.close()
    return timer


# Runs ------------------------------------------------------------------------------------------------


def delete_topics(url: str, topics: list[str]) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    for topic in topics:
        channel.queue_delete(topic)
        channel.exchange_delete(topic)
    for topic in topics:
        # The group offset queue of workbench's consumer, where there is one.
        channel.queue_delete(f"workbench.group-offset/bench/{topic}")
    connection.close()


STEPS = {
    "workbench_publish": "workbench publish_many",
    "plain_publish": "plain pika, SelectConnection, pipelined confirms",
    "plain_publish_blocking": "plain pika, BlockingConnection, a confirm per message",
    "workbench_consume": "workbench consume",
    "plain_consume": "plain pika, SelectConnection consumer",
    "plain_consume_blocking": "plain pika, BlockingConnection consumer",
}


def run(url: str, count: int, repeats: int, prefetch: int) -> dict[str, Any]:
    messages = make_messages(count)
    facts: dict[str, Any] = {}
    timers: dict[str, list[Timer]] = {name: [] for name in STEPS}
    topics: list[str] = []
    try:
        for repeat in range(repeats):
            ours, theirs = f"bench-wb-{uuid.uuid4().hex[:8]}", f"bench-pika-{uuid.uuid4().hex[:8]}"
            topics += [ours, theirs]
            # Alternate which side runs first, so that neither always meets a warmer broker.
            sides = [("workbench", ours), ("plain", theirs)]
            for side, topic in sides if repeat % 2 == 0 else reversed(sides):
                if side == "workbench":
                    timers["workbench_publish"].append(workbench_publish(url, topic, messages))
                    timers["workbench_consume"].append(workbench_consume(url, topic, count, prefetch))
                else:
                    timers["plain_publish"].append(plain_publish_pipelined(url, topic, messages, facts))
                    timers["plain_consume"].append(plain_consume_async(url, topic, count, prefetch))
                    timers["plain_consume_blocking"].append(plain_consume(url, topic, count, prefetch))
            blocking_topic = f"bench-blocking-{uuid.uuid4().hex[:8]}"
            topics.append(blocking_topic)
            timers["plain_publish_blocking"].append(plain_publish_blocking(url, blocking_topic, messages))
    finally:
        delete_topics(url, topics)

    steps = {}
    for name, runs in timers.items():
        wall = statistics.median(timer.wall for timer in runs)
        steps[name] = {"seconds": [timer.wall for timer in runs], "cpu_seconds": [timer.cpu for timer in runs],
                       "median_seconds": wall, "messages_per_second": count / wall,
                       "best_messages_per_second": count / min(timer.wall for timer in runs),
                       "cpu_us_per_message": statistics.median(timer.cpu for timer in runs) / count * 1e6}
    return {
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "pika": pika.__version__,
                    "rabbitmq": facts.get("rabbitmq", "?"), "workbench_commit": git_commit(),
                    "load_average_1min": round(os.getloadavg()[0], 2)},
        "options": {"url": mask_url(url), "messages": count, "message_bytes": MESSAGE_BYTES,
                    "repeats": repeats, "prefetch": prefetch},
        "steps": steps,
    }


def print_table(result: dict[str, Any]) -> None:
    print("Machine: " + ", ".join(f"{key} {value}" for key, value in result["machine"].items()))
    options = result["options"]
    print(f"{options['messages']:,} persistent messages of {options['message_bytes']} bytes, prefetch "
          f"{options['prefetch']}, {options['repeats']} runs per step\n")
    steps = result["steps"]
    header = (f"{'step':<56} {'median msg/s':>13} {'best msg/s':>11} {'client CPU us/msg':>18} "
              f"{'vs plain pika':>14}")
    print(header)
    print("-" * len(header))
    baselines = {"workbench_publish": "plain_publish", "workbench_consume": "plain_consume"}
    for name, label in STEPS.items():
        step = steps[name]
        line = (f"{label:<56} {step['messages_per_second']:>13,.0f} {step['best_messages_per_second']:>11,.0f} "
                f"{step['cpu_us_per_message']:>18,.0f}")
        if name in baselines:
            ratio = step["messages_per_second"] / steps[baselines[name]]["messages_per_second"]
            line += f" {ratio:>14.0%}"
        print(line)
    print("\n'vs plain pika' divides workbench's median throughput by that of plain pika's SelectConnection "
          "(100% = as fast).\nClient CPU is this process's CPU time, all threads included, per message.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=positive_int, default=20_000,
                        help="messages published and consumed per run (default 20000)")
    parser.add_argument("--repeats", type=positive_int, default=3,
                        help="runs of each step; the table shows the median and the best (default 3)")
    parser.add_argument("--prefetch", type=positive_int, default=100,
                        help="consumer prefetch count on both sides (default 100)")
    parser.add_argument("--url", default=DEFAULT_URL,
                        help="broker URL (default WORKBENCH_TEST_AMQP_URL or amqp://guest:guest@127.0.0.1:5672/)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    args = parser.parse_args(argv)

    reason = broker_reachable(args.url)
    if reason is not None:
        print(f"skipped: RabbitMQ is not reachable at {mask_url(args.url)} ({reason}); start it with "
              "`scripts/services/start.sh rabbitmq`.")
        return 0

    result = run(args.url, args.messages, args.repeats, args.prefetch)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
