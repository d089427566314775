"""Queue backends for the contract suite.

The embedded queue always runs. RabbitMQ and Kafka run against the servers that
``scripts/services/start.sh`` starts on 127.0.0.1; their URLs can be changed with
``WORKBENCH_TEST_AMQP_URL`` and ``WORKBENCH_TEST_KAFKA_URL``. A backend whose server does not respond
is skipped with the command that starts it, except with ``WORKBENCH_REQUIRE_SERVICES=1``, where the
test fails instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from urllib.parse import urlsplit

import pytest

from workbench.messaging import open_queue

SERVER_URLS = {
    "rabbitmq": os.environ.get("WORKBENCH_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    "kafka": os.environ.get("WORKBENCH_TEST_KAFKA_URL", "kafka://127.0.0.1:9092"),
}


def require_server(name: str, url: str) -> None:
    """Skip (or fail with WORKBENCH_REQUIRE_SERVICES=1) when the server at ``url`` refuses a TCP connection."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or {"rabbitmq": 5672, "kafka": 9092}[name]
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        message = (f"{name} is not reachable at {host}:{port} ({exc}); start it with "
                   f"`scripts/services/start.sh {name}` or `make services`")
    if os.environ.get("WORKBENCH_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(params=["local", "rabbitmq", "kafka"])
def queue(request, tmp_path):
    """A queue of each backend; topics are unique per test so runs never see each other's messages."""
    backend = request.param
    if backend == "local":
        url = f"local:///{tmp_path.as_posix()}/queue"
    else:
        url = SERVER_URLS[backend]
        require_server(backend, url)
    opened = open_queue(url)
    yield opened
    opened.close()


@pytest.fixture
def topic():
    """A topic name no other test uses."""
    return f"test-{uuid.uuid4().hex[:12]}"
