"""RabbitMQ-only behaviour: slow handlers, broker restarts, outages, group exclusivity, plain pika clients.

Tests that take the ``amqp_url`` fixture need the broker that ``scripts/services/start.sh rabbitmq``
starts. The test marked ``broker_restart`` stops and starts that broker; deselect it with
``-m "not broker_restart"`` while others use the broker.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pika
import pytest

from workbench.errors import ConfigError, MessagingError, PublishError, ValidationError
from workbench.messaging import Message, open_queue, rabbitmq
from workbench.messaging.rabbitmq import RabbitMQQueue

REPO = Path(__file__).resolve().parents[2]
LOGGER = "workbench.messaging.rabbitmq"

# Seconds a consume call waits for messages that are already in the stream. A passing test never
# waits this long.
IDLE = 10.0
# A port on which nothing listens, so connections are refused at once.
CLOSED_URL = "amqp://guest:s3cret@127.0.0.1:1/"


def _load_messaging_conftest():
    # Every test folder has a conftest.py, so `import conftest` may find another folder's module.
    spec = importlib.util.spec_from_file_location("messaging_conftest", Path(__file__).with_name("conftest.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_conftest = _load_messaging_conftest()


@pytest.fixture
def amqp_url() -> str:
    """The test broker's URL. Skips when the broker is down, or fails with WORKBENCH_REQUIRE_SERVICES=1."""
    url = _conftest.SERVER_URLS["rabbitmq"]
    _conftest.require_server("rabbitmq", url)
    return url


@pytest.fixture
def topic() -> str:
    return f"test-rabbitmq-{uuid.uuid4().hex[:12]}"


def consume_ids(queue, topic, group, count, idle=IDLE):
    """Consume until ``count`` messages were settled or the topic stays idle, and return their ids in order."""
    seen = []
    queue.consume(topic, group, lambda message: seen.append(message.message_id), max_messages=count,
                  idle_timeout=idle)
    return seen


def plain_channel(url):
    connection = pika.BlockingConnection(pika.URLParameters(url))
    return connection, connection.channel()


def warnings_in(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


def wait_for(condition, seconds=10.0):
    """Poll ``condition`` until it is true or ``seconds`` passed, and return its last value."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


class TcpProxy:
    """Forwards connections from a port on 127.0.0.1 to the broker, and cuts them on request."""

    def __init__(self, target_url: str) -> None:
        parts = urlsplit(target_url)
        self.target = (parts.hostname, parts.port or 5672)
        self.listener = socket.create_server(("127.0.0.1", 0))
        port = self.listener.getsockname()[1]
        self.url = urlunsplit((parts.scheme, f"{parts.username}:{parts.password}@127.0.0.1:{port}", parts.path,
                               parts.query, ""))
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self) -> None:
        """Close every forwarded connection, as a network failure would."""
        with self.lock:
            sockets, self.sockets = self.sockets, []
        for end in sockets:
            try:
                end.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            end.close()

    def close(self) -> None:
        self.listener.close()
        self.cut()


@pytest.fixture
def proxy(amqp_url):
    forwarding = TcpProxy(amqp_url)
    yield forwarding
    forwarding.close()


# Options and names, no broker needed ---------------------------------------------------------------


@pytest.mark.parametrize(("option", "value"), [
    ("prefetch", 0),
    ("prefetch", 2.5),
    ("publish_timeout", 0),
    ("heartbeat", -1),
    ("connection_timeout", -3),
    ("max_deliveries", 0),
])
def test_invalid_option_raises_config_error(option, value):
    with pytest.raises(ConfigError, match=option):
        RabbitMQQueue(CLOSED_URL, **{option: value})


def test_invalid_url_raises_without_password():
    with pytest.raises(ConfigError) as raised:
        RabbitMQQueue("amqp://guest:s3cret@127.0.0.1:notaport/")

    assert "notaport" in str(raised.value)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("name", ["", "   ", "amq.direct", "workbench.group-offset/g/t", "t" * 256])
def test_invalid_topic_raises_validation_error(name):
    queue = RabbitMQQueue(CLOSED_URL)

    with pytest.raises(ValidationError):
        queue.publish(name, Message({"n": 1}))


def test_open_queue_returns_rabbitmq_queue():
    queue = open_queue(CLOSED_URL, prefetch=5)

    assert isinstance(queue, RabbitMQQueue)
    assert queue.prefetch == 5


# Outages --------------------------------------------------------------------------------------------


def test_publish_to_closed_port_raises_within_timeout(caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    queue = RabbitMQQueue(CLOSED_URL, publish_timeout=2)

    start = time.monotonic()
    with pytest.raises(PublishError) as raised:
        queue.publish("predictions", Message({"n": 1}))
    elapsed = time.monotonic() - start
    queue.close()

    message = str(raised.value)
    assert elapsed < 10
    assert "amqp://guest:***@127.0.0.1:1/" in message
    assert "timed out after 2 s" in message
    assert "ConnectionRefusedError" in message
    assert raised.value.topic == "predictions"
    assert any("connection attempt 1 to RabbitMQ" in text for text in warnings_in(caplog))
    assert "s3cret" not in caplog.text


def test_status_of_closed_port_reports_disconnected():
    queue = RabbitMQQueue(CLOSED_URL, connection_timeout=2)

    status = queue.status()

    assert status.connected is False
    assert status.backend == "rabbitmq"
    assert "ConnectionRefusedError" in status.detail
    assert "s3cret" not in status.detail
    assert status.url == "amqp://guest:***@127.0.0.1:1/"


def test_closed_queue_rejects_publish():
    queue = RabbitMQQueue(CLOSED_URL)
    queue.close()

    with pytest.raises(PublishError, match="closed"):
        queue.publish("predictions", Message({"n": 1}))


def test_closed_queue_rejects_consume():
    queue = RabbitMQQueue(CLOSED_URL)
    queue.close()

    with pytest.raises(MessagingError, match="closed"):
        queue.consume("predictions", "g", lambda message: None, idle_timeout=0.1)


# Consuming ------------------------------------------------------------------------------------------


def test_slow_handler_keeps_connection_alive(amqp_url, topic, caplog):
    # The handler sleeps 6 s, three times the heartbeat timeout. RabbitMQ closes a connection after two
    # missed heartbeats, sent every 1 s here (its heartbeats guide), so this passes only while heartbeats
    # flow beside the handler. A plain pika consumer that sleeps in its callback is disconnected here.
    caplog.set_level(logging.INFO)
    queue = RabbitMQQueue(amqp_url, heartbeat=2, prefetch=1)
    sent = [Message({"name": name}, message_id=name) for name in (f"{topic}-m1", f"{topic}-m2", f"{topic}-m3")]
    queue.publish_many(topic, sent)
    handled = []

    def slow(message):
        time.sleep(6)
        handled.append(message.message_id)

    result = queue.consume(topic, "slow", slow, max_messages=3, idle_timeout=IDLE)
    left = consume_ids(queue, topic, "slow", None, idle=1.0)
    queue.close()

    assert sorted(handled) == sorted(message.message_id for message in sent)
    assert result.handled == 3
    assert left == []
    assert warnings_in(caplog) == []


def test_group_resumes_from_stored_offset_in_new_queue(amqp_url, topic):
    first_queue = RabbitMQQueue(amqp_url)
    sent = [Message({"n": index}) for index in range(4)]
    first_queue.publish_many(topic, sent)
    first = consume_ids(first_queue, topic, "g", 2)
    first_queue.close()

    second_queue = RabbitMQQueue(amqp_url)
    rest = consume_ids(second_queue, topic, "g", 2)
    second_queue.close()

    assert first + rest == [message.message_id for message in sent]


def test_two_consumers_of_one_group_share_no_message(amqp_url, topic, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    queue = RabbitMQQueue(amqp_url)
    sent = [Message({"n": index}) for index in range(6)]
    queue.publish_many(topic, sent)
    handled = []
    lock = threading.Lock()

    def slow(message):
        time.sleep(0.5)
        with lock:
            handled.append(message.message_id)

    workers = [threading.Thread(target=queue.consume, args=(topic, "shared", slow),
                                kwargs={"max_messages": 3, "idle_timeout": 30}) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    queue.close()

    assert sorted(handled) == sorted(message.message_id for message in sent)
    assert len(handled) == len(set(handled))
    assert any("held by another consumer" in record.getMessage() for record in caplog.records)


def test_stop_event_ends_waiting_consume(amqp_url, topic):
    queue = RabbitMQQueue(amqp_url)
    stop = threading.Event()
    timer = threading.Timer(0.5, stop.set)

    timer.start()
    start = time.monotonic()
    result = queue.consume(topic, "g", lambda message: None, stop=stop)
    elapsed = time.monotonic() - start
    queue.close()

    assert result.settled == 0
    assert elapsed < 10


def test_stream_offset_header_is_not_passed_on(amqp_url, topic):
    queue = RabbitMQQueue(amqp_url)
    queue.publish(topic, Message({"n": 1}, headers={"source": "unit"}))
    received = []

    queue.consume(topic, "g", received.append, max_messages=1, idle_timeout=IDLE)
    queue.close()

    (message,) = received
    assert message.headers == {"source": "unit"}


def test_status_reports_stream_and_group_depth(amqp_url, topic):
    queue = RabbitMQQueue(amqp_url)
    queue.publish_many(topic, [Message({"n": index}) for index in range(5)])
    consume_ids(queue, topic, "g", 2)

    # RabbitMQ refreshes a stream's message count every few seconds.
    deadline = time.monotonic() + 20
    status = queue.status()
    while status.depth.get(topic) != 5 and time.monotonic() < deadline:
        time.sleep(0.5)
        status = queue.status()
    queue.close()

    assert status.connected is True
    assert status.depth[topic] == 5
    assert status.depth[f"{topic} (group g)"] == 3


# Publishing -----------------------------------------------------------------------------------------


def test_unroutable_publish_raises_then_recovers(amqp_url, topic):
    queue = RabbitMQQueue(amqp_url)
    queue.publish(topic, Message({"n": 1}))
    connection, channel = plain_channel(amqp_url)
    channel.queue_delete(topic)  # removes the stream and its binding, but not the exchange
    connection.close()

    with pytest.raises(PublishError, match="unroutable"):
        queue.publish(topic, Message({"n": 2}))
    queue.publish(topic, Message({"n": 3}))
    received = []
    queue.consume(topic, "g", received.append, max_messages=1, idle_timeout=IDLE)
    queue.close()

    assert [message.payload["n"] for message in received] == [3]


def test_publish_many_keeps_order_across_turns(amqp_url, topic, monkeypatch):
    # A turn of the I/O loop then sends 256 messages, the fewest between two looks at the clock.
    monkeypatch.setattr(rabbitmq, "PUBLISH_TURN_SECONDS", 0.0)
    queue = RabbitMQQueue(amqp_url, prefetch=200)
    sent = [Message({"n": index}) for index in range(2500)]

    count = queue.publish_many(topic, sent)
    received = []
    queue.consume(topic, "g", received.append, max_messages=2500, idle_timeout=IDLE)
    queue.close()

    assert count == 2500
    assert [message.payload["n"] for message in received] == list(range(2500))


def test_publish_many_of_nothing_returns_zero():
    queue = RabbitMQQueue(CLOSED_URL)

    assert queue.publish_many("predictions", []) == 0


# Plain pika clients ---------------------------------------------------------------------------------


def test_plain_pika_reads_workbench_message(amqp_url, topic):
    queue = RabbitMQQueue(amqp_url)
    sent = Message({"score": 0.5}, type="prediction", key="model-a", headers={"source": "unit"})
    queue.publish(topic, sent)
    queue.close()

    connection, channel = plain_channel(amqp_url)
    channel.basic_qos(prefetch_count=10)
    method, properties, body = next(channel.consume(topic, arguments={"x-stream-offset": "first"},
                                                    inactivity_timeout=IDLE))
    channel.basic_ack(method.delivery_tag)
    channel.cancel()
    connection.close()

    envelope = json.loads(body)
    assert envelope["message_id"] == sent.message_id
    assert envelope["type"] == "prediction"
    assert envelope["payload"] == {"score": 0.5}
    assert method.routing_key == "model-a"
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert properties.message_id == sent.message_id
    assert properties.headers["source"] == "unit"


def test_workbench_reads_plain_pika_message(amqp_url, topic):
    envelope = {"message_id": "plain-1", "type": "label", "created_at": "2026-10-06T09:14:00+00:00",
                "schema_version": 1, "payload": {"prediction_id": "scan-7f3a", "label": "benign"}}
    connection, channel = plain_channel(amqp_url)
    channel.exchange_declare(topic, exchange_type="topic", durable=True)
    channel.queue_declare(topic, durable=True, arguments={"x-queue-type": "stream"})
    channel.queue_bind(topic, topic, routing_key="#")
    channel.confirm_delivery()
    channel.basic_publish(topic, "model-b", json.dumps(envelope).encode(), pika.BasicProperties(
        delivery_mode=2, content_type="application/json", headers={"source": "plain"}), mandatory=True)
    connection.close()

    queue = RabbitMQQueue(amqp_url)
    received = []
    queue.consume(topic, "g", received.append, max_messages=1, idle_timeout=IDLE)
    queue.close()

    (message,) = received
    assert message.message_id == "plain-1"
    assert message.type == "label"
    assert message.payload == {"prediction_id": "scan-7f3a", "label": "benign"}
    assert message.key == "model-b"
    assert message.headers == {"source": "plain"}


# Lost connections ----------------------------------------------------------------------------------


def test_idle_publisher_reconnects_on_next_publish(proxy, topic, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    queue = RabbitMQQueue(proxy.url, publish_timeout=20)
    queue.publish(topic, Message({"n": 1}))

    proxy.cut()
    lost = wait_for(lambda: any("reconnecting when there is work" in text for text in warnings_in(caplog)))
    time.sleep(1.0)
    attempts_while_idle = [text for text in warnings_in(caplog) if "attempt" in text]
    queue.publish(topic, Message({"n": 2}))
    received = []
    queue.consume(topic, "g", received.append, max_messages=2, idle_timeout=IDLE)
    queue.close()

    assert lost
    assert attempts_while_idle == []
    assert [message.payload["n"] for message in received] == [1, 2]
    assert any(record.getMessage().startswith("reconnected to RabbitMQ") for record in caplog.records)


def test_consumer_resumes_after_lost_connection(proxy, topic, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    queue = RabbitMQQueue(proxy.url)
    sent = [Message({"n": index}) for index in range(4)]
    queue.publish_many(topic, sent)
    handled = []

    def cut_after_second(message):
        handled.append(message.payload["n"])
        if len(handled) == 2:
            # The ack and the offset of this message cannot reach the broker any more.
            proxy.cut()

    result = queue.consume(topic, "g", cut_after_second, max_messages=4, idle_timeout=IDLE)
    queue.close()

    assert handled == [0, 1, 2, 3]
    assert result.handled == 4
    assert any("consumer" in text and "lost" in text for text in warnings_in(caplog))
    assert any(record.getMessage().startswith("reconnected to RabbitMQ") for record in caplog.records)


# Broker restart -------------------------------------------------------------------------------------


def run_service_script(script: str) -> None:
    subprocess.run([str(REPO / "scripts" / "services" / script), "rabbitmq"], check=True, timeout=300,
                   capture_output=True)


@pytest.mark.broker_restart
def test_broker_restart_loses_no_confirmed_message(amqp_url, topic, caplog):
    caplog.set_level(logging.INFO, logger=LOGGER)
    queue = RabbitMQQueue(amqp_url, publish_timeout=120, reconnect_max_delay=2)
    confirmed = []

    def publish(name):
        queue.publish(topic, Message({"name": name}, message_id=f"{topic}-{name}"))
        confirmed.append(f"{topic}-{name}")

    # A consumer that runs across the restart, and one publish that waits through the outage. The
    # consumer stops once it saw all five messages, so duplicates cannot end it early.
    expected = {f"{topic}-{name}" for name in ("m1", "m2", "m3", "m4", "m5")}
    consumed = []
    seen_all = threading.Event()

    def record(message):
        consumed.append(message.message_id)
        if set(consumed) >= expected:
            seen_all.set()

    consumer = threading.Thread(target=queue.consume, args=(topic, "g", record),
                                kwargs={"idle_timeout": 120, "stop": seen_all})
    for name in ("m1", "m2", "m3"):
        publish(name)
    consumer.start()
    run_service_script("stop.sh")
    try:
        during = threading.Thread(target=publish, args=("m4",))
        during.start()
        time.sleep(1)
    finally:
        run_service_script("start.sh")
    during.join(120)
    publish("m5")
    consumer.join(120)
    queue.close()

    messages = [record.getMessage() for record in caplog.records]
    assert set(confirmed) == expected
    assert set(consumed) == expected
    assert any(text.startswith("reconnected to RabbitMQ") and "publisher" in text for text in messages)
    assert any(text.startswith("reconnected to RabbitMQ") and "consumer" in text for text in messages)
