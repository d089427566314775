"""The MongoDB server for the store tests.

The tests use the FerretDB server that ``scripts/services/start.sh ferretdb`` starts on 127.0.0.1:27017,
or the server at ``WORKBENCH_TEST_MONGODB_URL``, such as a MongoDB replica set. Each test gets a database
of its own, dropped afterwards. When the server cannot be reached, the tests are skipped with the
command that starts it, except with ``WORKBENCH_REQUIRE_SERVICES=1``, where they fail instead.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
from pymongo import MongoClient
from pymongo.errors import PyMongoError

from workbench.store.mongo import mask_mongodb_url

MONGODB_URL = os.environ.get("WORKBENCH_TEST_MONGODB_URL", "mongodb://127.0.0.1:27017")

# Milliseconds to wait for the server's reply to a ping.
PING_TIMEOUT_MS = 2_000


@functools.cache
def _mongodb_problem(url: str) -> str | None:
    """Return why a ping to the server at ``url`` failed, or None if it succeeded. Cached for the run."""
    client: MongoClient = MongoClient(url, serverSelectionTimeoutMS=PING_TIMEOUT_MS)
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        return str(exc).split(", Topology Description:")[0]
    finally:
        client.close()
    return None


def require_mongodb() -> None:
    """Skip (or fail with WORKBENCH_REQUIRE_SERVICES=1) when the test MongoDB server cannot be reached."""
    problem = _mongodb_problem(MONGODB_URL)
    if problem is None:
        return
    if "WORKBENCH_TEST_MONGODB_URL" in os.environ:
        message = (f"MongoDB is not reachable at WORKBENCH_TEST_MONGODB_URL={mask_mongodb_url(MONGODB_URL)} ({problem}); "
                   "start that server or correct the URL")
    else:
        message = (f"FerretDB is not reachable at {MONGODB_URL} ({problem}); start it with "
                   "`scripts/services/start.sh ferretdb` or `make services`")
    if os.environ.get("WORKBENCH_REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def with_database(url: str, database: str) -> str:
    """Return ``url`` pointing at ``database``, keeping the database it authenticates against.

    A MongoDB URL's path is both the default database and, without ``authSource``, the database that
    contains the user. So the original one (or ``admin``) moves into ``authSource``.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    # MongoDB reads URL option names in any letter case.
    if parts.username and "authsource" not in {name.lower() for name in query}:
        query["authSource"] = parts.path.strip("/") or "admin"
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", urlencode(query), parts.fragment))


@pytest.fixture
def mongodb_url() -> Iterator[str]:
    """The URL of a new database on the test server, which is dropped after the test."""
    require_mongodb()
    database = f"workbench_test_{uuid.uuid4().hex[:12]}"
    yield with_database(MONGODB_URL, database)

    client: MongoClient = MongoClient(MONGODB_URL, serverSelectionTimeoutMS=PING_TIMEOUT_MS)
    try:
        client.drop_database(database)
    finally:
        client.close()
