#!/usr/bin/env python3
"""Check that a test server accepts real client traffic.

Usage: check.py {rabbitmq,kafka,ferretdb} URL [--timeout SECONDS] [--pid PID]

Each check is a full client round trip, not an open-port probe:

- rabbitmq: an AMQP 0-9-1 connection with pika, which publishes one message to a
  server-named exclusive queue and reads it back with basic.get.
- kafka: kafka-python creates the ``_readiness`` topic if it is missing, produces
  one message to it and consumes that message back from its offset.
- ferretdb: pymongo runs ``ping``, then inserts, finds and deletes one document in
  the ``_readiness`` collection of the URL's database.

With --timeout the check is retried once a second until it passes or the timeout
runs out. Exits 0 when the server is ready and 1 when it is not.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Callable
from urllib.parse import urlsplit

READINESS_NAME = "_readiness"
# Seconds that a single attempt may take, so that one hung connection cannot use up
# the whole --timeout.
ATTEMPT_TIMEOUT_S = 10.0
# A starting Kafka broker accepts TCP connections some seconds before it handles requests,
# and a bootstrap that waited the full attempt timeout would delay the next retry.
BOOTSTRAP_TIMEOUT_MS = 3000


def check_rabbitmq(url: str) -> str:
    """Publish one message to a server-named queue over AMQP and read it back."""
    import pika

    params = pika.URLParameters(url)
    params.connection_attempts = 1
    params.socket_timeout = ATTEMPT_TIMEOUT_S
    params.blocked_connection_timeout = ATTEMPT_TIMEOUT_S
    params.stack_timeout = ATTEMPT_TIMEOUT_S

    body = uuid.uuid4().hex.encode()
    connection = pika.BlockingConnection(params)
    try:
        channel = connection.channel()
        queue = channel.queue_declare(queue="", exclusive=True, auto_delete=True).method.queue
        channel.basic_publish(exchange="", routing_key=queue, body=body)

        received = None
        deadline = time.monotonic() + ATTEMPT_TIMEOUT_S
        while received is None and time.monotonic() < deadline:
            _method, _properties, received = channel.basic_get(queue=queue, auto_ack=True)
            if received is None:
                time.sleep(0.05)

        if received != body:
            raise RuntimeError(f"message published to queue {queue!r} was not read back")
    finally:
        connection.close()

    return f"AMQP publish and basic.get round trip on queue {queue} passed"


def _kafka_address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "kafka" or not parts.hostname or not parts.port:
        raise ValueError(f"invalid Kafka URL {url!r}: expected kafka://HOST:PORT")
    return parts.hostname, parts.port


def check_kafka(url: str) -> str:
    """Produce one message to the readiness topic and consume it back."""
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic
    from kafka.errors import KafkaConfigurationError, TopicAlreadyExistsError

    host, port = _kafka_address(url)
    # kafka-python keeps retrying a refused bootstrap connection for bootstrap_timeout_ms,
    # so a closed port is detected here at once instead.
    socket.create_connection((host, port), timeout=ATTEMPT_TIMEOUT_S).close()

    timeout_ms = int(ATTEMPT_TIMEOUT_S * 1000)
    common = {
        "bootstrap_servers": f"{host}:{port}",
        "client_id": "workbench-readiness",
        "request_timeout_ms": timeout_ms,
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
        "reconnect_backoff_max_ms": 1000,
    }

    try:
        admin = KafkaAdminClient(**common)
    except KafkaConfigurationError as error:
        # A KafkaError, but a bug in this check rather than a server that is still starting.
        raise ValueError(f"invalid kafka-python client settings: {error}") from error
    try:
        if READINESS_NAME not in admin.list_topics():
            try:
                admin.create_topics(
                    [NewTopic(READINESS_NAME, num_partitions=1, replication_factor=1)],
                    timeout_ms=timeout_ms,
                )
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()

    body = uuid.uuid4().hex.encode()
    producer = KafkaProducer(**common, acks="all", max_block_ms=timeout_ms)
    try:
        metadata = producer.send(READINESS_NAME, body).get(timeout=ATTEMPT_TIMEOUT_S)
    finally:
        producer.close(timeout=ATTEMPT_TIMEOUT_S)

    partition = TopicPartition(READINESS_NAME, metadata.partition)
    consumer = KafkaConsumer(**common, enable_auto_commit=False, consumer_timeout_ms=timeout_ms)
    try:
        consumer.assign([partition])
        consumer.seek(partition, metadata.offset)
        received = next((record.value for record in consumer), None)
    finally:
        consumer.close()

    if received != body:
        raise RuntimeError(
            f"message produced to {READINESS_NAME} partition {metadata.partition} "
            f"offset {metadata.offset} was not consumed back"
        )

    return f"produce and consume round trip on topic {READINESS_NAME} passed"


def check_ferretdb(url: str) -> str:
    """Run ping, then insert, find and delete one document."""
    import pymongo

    timeout_ms = int(ATTEMPT_TIMEOUT_S * 1000)
    client = pymongo.MongoClient(
        url,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
    )
    try:
        client.admin.command("ping")

        collection = client.get_default_database("workbench")[READINESS_NAME]
        marker = uuid.uuid4().hex
        inserted_id = collection.insert_one({"marker": marker}).inserted_id
        found = collection.find_one({"_id": inserted_id})
        collection.delete_one({"_id": inserted_id})

        if found is None or found.get("marker") != marker:
            raise RuntimeError(f"document {inserted_id} inserted into {collection.full_name} was not found")

        version = client.server_info().get("version", "?")
    finally:
        client.close()

    return f"ping and insert/find/delete round trip passed (reports MongoDB {version})"


def rabbitmq_errors() -> tuple[type[Exception], ...]:
    import pika.exceptions

    return (pika.exceptions.AMQPError, OSError, RuntimeError)


def kafka_errors() -> tuple[type[Exception], ...]:
    import kafka.errors

    return (kafka.errors.KafkaError, OSError, RuntimeError)


def ferretdb_errors() -> tuple[type[Exception], ...]:
    import pymongo.errors

    return (pymongo.errors.PyMongoError, OSError, RuntimeError)


# For each service: the round-trip check, and the exceptions that mean "not ready
# yet, retry". Any other exception, such as an invalid URL, ends the check at once.
CHECKS: dict[str, tuple[Callable[[str], str], Callable[[], tuple[type[Exception], ...]]]] = {
    "rabbitmq": (check_rabbitmq, rabbitmq_errors),
    "kafka": (check_kafka, kafka_errors),
    "ferretdb": (check_ferretdb, ferretdb_errors),
}


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Check that a test server accepts real client traffic.")
    parser.add_argument("service", choices=sorted(CHECKS), help="which server to check")
    parser.add_argument("url", help="client URL of the server, as start.sh prints it")
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        help="seconds to keep retrying once a second; 0 makes one attempt (default: 0)",
    )
    parser.add_argument(
        "--pid",
        type=int,
        help="stop retrying as soon as this server process has exited",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)

    # The client libraries log every refused connection at ERROR level while a server
    # is still starting; the last error is printed below instead.
    for name in ("pika", "kafka", "pymongo"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    check, retryable_errors = CHECKS[args.service]
    not_ready_errors = retryable_errors()
    deadline = time.monotonic() + args.timeout
    attempts = 0

    while True:
        attempts += 1
        try:
            summary = check(args.url)
        except not_ready_errors as error:
            last_error = f"{type(error).__name__}: {error}"
        else:
            print(f"{args.service}: ready at {args.url}: {summary}")
            return 0

        if args.pid is not None and not process_alive(args.pid):
            print(
                f"{args.service}: process {args.pid} exited before the server was ready; last error: {last_error}",
                file=sys.stderr,
            )
            return 1

        if time.monotonic() + 1.0 >= deadline:
            break
        time.sleep(1.0)

    print(
        f"{args.service}: not ready at {args.url} after {attempts} attempt(s) "
        f"and {args.timeout:g}s; last error: {last_error}",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
