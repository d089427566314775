"""The embedded queue: topics kept as append-only logs in one SQLite file, with consumer groups.

It needs no server. Several processes on one machine can publish and consume through the same file.
Each topic is a log with increasing offsets; each consumer group keeps the offset of its next message,
committed only after the handler returned, so the group resumes where it stopped after a crash or a
restart. One consumer of a group reads a topic at a time: it holds a lease that it renews before
every message, and a second consumer of the same group waits until the lease is released or expires.
A publish returns after the SQLite transaction committed with ``synchronous=FULL``, so a confirmed
message survives a crash of the process and of the machine.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path

from workbench.errors import ConfigError, MessagingError, PublishError
from workbench.messaging.base import (
    ConsumeResult,
    Handler,
    Outcome,
    Queue,
    QueueStatus,
    stop_requested,
    wait_or_stop,
)
from workbench.messaging.envelope import Message

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL,
    position INTEGER NOT NULL,
    message_key TEXT,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (topic, position)
);
CREATE TABLE IF NOT EXISTS group_offsets (
    group_name TEXT NOT NULL,
    topic TEXT NOT NULL,
    next_position INTEGER NOT NULL,
    PRIMARY KEY (group_name, topic)
);
CREATE TABLE IF NOT EXISTS leases (
    group_name TEXT NOT NULL,
    topic TEXT NOT NULL,
    owner TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (group_name, topic)
);
"""

#: Seconds a consumer's claim on a (group, topic) lasts without renewal. A handler that runs longer
#: than this lets a second consumer of the group take over, which then receives the message again.
LEASE_SECONDS = 60.0

#: Maximum pause between polls of an empty topic; polling starts at 10 ms and doubles up to this.
MAX_POLL_INTERVAL = 0.5

BUSY_TIMEOUT_MS = 30_000


class LocalQueue(Queue):
    """Queue backed by a SQLite file in ``folder``.

    Parameters
    ----------
    folder : str or path-like
        Folder of the queue file ``queue.db``; created if missing.
    url : str, optional
        The URL the queue was opened with, for messages.
    max_deliveries : int
        Deliveries of a message whose handler keeps failing before it is dead-lettered.
    """

    def __init__(self, folder: str | Path, url: str | None = None, *, max_deliveries: int | None = None) -> None:
        self.folder = Path(folder)
        self.url = url or f"local://{self.folder.as_posix()}"
        if max_deliveries is not None:
            self.max_deliveries = max_deliveries
        self._lock = threading.RLock()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.folder / "queue.db", timeout=BUSY_TIMEOUT_MS / 1000,
                                         isolation_level=None, check_same_thread=False)
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self._conn.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(
                f"Could not open the local queue in {str(self.folder)!r}: {exc}. Check that the folder is "
                "writable, or set WORKBENCH_QUEUE_URL to another local:///path.",
                name="WORKBENCH_QUEUE_URL", value=self.url,
            ) from exc

    # Publishing --------------------------------------------------------------------------------------

    def publish(self, topic: str, message: Message, *, timeout: float | None = None) -> None:
        self.publish_many(topic, [message], timeout=timeout)

    def publish_many(self, topic: str, messages: Iterable[Message], *, timeout: float | None = None) -> int:
        rows = [(message.key, json.dumps(message.headers), message.to_json()) for message in messages]
        self._append(topic, rows)
        return len(rows)

    def publish_raw(self, topic: str, body: bytes, *, key: str | None = None,
                    headers: Mapping[str, str] | None = None, timeout: float | None = None) -> None:
        self._append(topic, [(key, json.dumps(dict(headers or {})), body)])

    def _append(self, topic: str, rows: list[tuple[str | None, str, bytes]]) -> None:
        _check_topic(topic)
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                (last,) = self._conn.execute("SELECT MAX(position) FROM messages WHERE topic = ?", (topic,)).fetchone()
                start = -1 if last is None else last
                self._conn.executemany(
                    "INSERT INTO messages (topic, position, message_key, headers, body) VALUES (?, ?, ?, ?, ?)",
                    [(topic, start + 1 + index, key, headers, body) for index, (key, headers, body) in enumerate(rows)],
                )
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise PublishError(f"Publishing to local topic {topic!r} failed: {exc}; nothing was stored.",
                                   topic=topic) from exc

    # Consuming ---------------------------------------------------------------------------------------

    def consume(
        self,
        topic: str,
        group: str,
        handler: Handler,
        *,
        max_messages: int | None = None,
        idle_timeout: float | None = None,
        stop: threading.Event | None = None,
    ) -> ConsumeResult:
        _check_topic(topic)
        owner = uuid.uuid4().hex
        result = ConsumeResult()
        deliveries: dict[int, int] = {}
        idle_since = time.monotonic()
        pause = 0.01
        try:
            while not stop_requested(stop) and (max_messages is None or result.settled < max_messages):
                row = self._next_message(group, topic, owner)
                if row is None:
                    if idle_timeout is not None and time.monotonic() - idle_since >= idle_timeout:
                        break
                    wait_or_stop(stop, pause)
                    pause = min(pause * 2, MAX_POLL_INTERVAL)
                    continue

                position, key, headers, body = row
                deliveries[position] = deliveries.get(position, 0) + 1
                outcome = self.handle_delivery(topic, bytes(body), handler, key=key, headers=json.loads(headers),
                                               deliveries=deliveries[position])
                result.add(outcome)
                if outcome is not Outcome.RETRY:
                    self._commit(group, topic, position + 1)
                    deliveries.pop(position, None)
                idle_since, pause = time.monotonic(), 0.01
        finally:
            self._release(group, topic, owner)
        return result

    def _next_message(self, group: str, topic: str, owner: str) -> tuple | None:
        """Renew this consumer's lease and return the group's next message, or None to wait."""
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                lease = self._conn.execute("SELECT owner, expires FROM leases WHERE group_name = ? AND topic = ?",
                                           (group, topic)).fetchone()
                now = time.time()
                if lease is not None and lease[0] != owner and lease[1] > now:
                    self._conn.execute("COMMIT")
                    return None
                self._conn.execute(
                    "INSERT INTO leases (group_name, topic, owner, expires) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (group_name, topic) DO UPDATE SET owner = excluded.owner, expires = excluded.expires",
                    (group, topic, owner, now + LEASE_SECONDS),
                )
                offset = self._conn.execute("SELECT next_position FROM group_offsets WHERE group_name = ? AND topic = ?",
                                            (group, topic)).fetchone()
                row = self._conn.execute(
                    "SELECT position, message_key, headers, body FROM messages WHERE topic = ? AND position >= ? "
                    "ORDER BY position LIMIT 1",
                    (topic, 0 if offset is None else offset[0]),
                ).fetchone()
                self._conn.execute("COMMIT")
                return row
            except sqlite3.Error as exc:
                self._rollback()
                raise MessagingError(f"Reading local topic {topic!r} failed: {exc}") from exc

    def _commit(self, group: str, topic: str, next_position: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO group_offsets (group_name, topic, next_position) VALUES (?, ?, ?) "
                "ON CONFLICT (group_name, topic) DO UPDATE SET next_position = excluded.next_position",
                (group, topic, next_position),
            )

    def _release(self, group: str, topic: str, owner: str) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM leases WHERE group_name = ? AND topic = ? AND owner = ?",
                               (group, topic, owner))

    # Status and lifecycle ----------------------------------------------------------------------------

    def status(self) -> QueueStatus:
        with self._lock:
            totals = dict(self._conn.execute(
                "SELECT topic, MAX(position) + 1 FROM messages GROUP BY topic").fetchall())
            offsets = self._conn.execute("SELECT group_name, topic, next_position FROM group_offsets").fetchall()
        depth = {topic: int(total) for topic, total in totals.items()}
        for group, topic, position in offsets:
            depth[f"{topic} (group {group})"] = max(int(totals.get(topic, 0)) - int(position), 0)
        return QueueStatus(backend="local", url=self.url, connected=True, depth=depth,
                           detail=f"file {self.folder / 'queue.db'}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _rollback(self) -> None:
        try:
            self._conn.execute("ROLLBACK")
        except sqlite3.Error:
            logger.debug("rollback after a failed local queue transaction raised", exc_info=True)


def _check_topic(topic: str) -> None:
    from workbench.errors import ValidationError

    if not isinstance(topic, str) or not topic.strip():
        raise ValidationError(f"Topic {topic!r} is invalid; use a non-empty name such as 'predictions'.",
                              field="topic", value=topic)
