"""The embedded store: one SQLite file in WAL mode.

WAL mode lets one writer process and several reader processes use the file at once, so a consumer can
record predictions while a notebook reads them. Writers wait up to ``busy_timeout`` for each other
instead of failing. Timestamps are stored as integer microseconds since the epoch in UTC, which sort
and compare exactly; JSON columns hold features, probabilities and records. Experiments, exposures and
outcomes are in :mod:`workbench.store.sqlite_experiments`.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ConflictError, NotFoundError, StoreError
from workbench.store.base import (
    ALERT_FIELDS,
    LABEL_FIELDS,
    PREDICTION_COLUMNS,
    PREDICTION_FIELDS,
    Store,
    check_rows,
)
from workbench.store.codec import decode_record, encode_record
from workbench.store.sqlite_experiments import EXPERIMENT_SCHEMA, SQLiteExperimentsMixin
from workbench.timeutil import to_micros

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model_id TEXT PRIMARY KEY,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS predictions (
    prediction_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    ts INTEGER NOT NULL,
    features TEXT NOT NULL,
    prediction TEXT NOT NULL,
    probability TEXT
);
CREATE INDEX IF NOT EXISTS predictions_model_ts ON predictions (model_id, ts);
CREATE TABLE IF NOT EXISTS labels (
    prediction_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    label TEXT NOT NULL,
    ts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    window_key TEXT NOT NULL,
    kind TEXT NOT NULL,
    created_ts INTEGER NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (model_id, window_key, kind)
);
CREATE INDEX IF NOT EXISTS alerts_model_created ON alerts (model_id, created_ts);
"""

# Milliseconds a connection waits for another process's write lock before raising "database is locked".
BUSY_TIMEOUT_MS = 30_000


class SQLiteStore(SQLiteExperimentsMixin, Store):
    """Store backed by one SQLite database file.

    Parameters
    ----------
    path : str or path-like
        The database file; its folder is created if missing. ``":memory:"`` keeps everything in memory.
    url : str, optional
        The URL the store was opened with, kept for messages.
    """

    def __init__(self, path: str | Path, url: str | None = None) -> None:
        self.path = str(path)
        self.url = url or f"sqlite:///{self.path}"
        self._lock = threading.RLock()
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if self.path != ":memory:":
                self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
            self._conn.executescript(_SCHEMA)
            self._conn.executescript(EXPERIMENT_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"Could not open the SQLite store at {self.path!r}: {exc}. Check that the folder is "
                "writable, or set WORKBENCH_STORE_URL to another location."
            ) from exc
        logger.debug("opened SQLite store %s", self.path)

    # Models ------------------------------------------------------------------------------------------

    def insert_model(self, record: dict[str, Any]) -> None:
        model_id = record["model_id"]
        try:
            with self._transaction() as conn:
                conn.execute("INSERT INTO models (model_id, record) VALUES (?, ?)",
                             (model_id, encode_record(record)))
        except sqlite3.IntegrityError:
            raise ConflictError(
                f"Model {model_id!r} is already registered; register a new version or change its stage."
            ) from None

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        row = self._query("SELECT record FROM models WHERE model_id = ?", (model_id,)).fetchone()
        return None if row is None else decode_record(row[0])

    def list_models(self) -> list[dict[str, Any]]:
        rows = self._query("SELECT record FROM models ORDER BY model_id").fetchall()
        return [decode_record(row[0]) for row in rows]

    def update_model(self, model_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        with self._transaction() as conn:
            row = conn.execute("SELECT record FROM models WHERE model_id = ?", (model_id,)).fetchone()
            if row is None:
                raise NotFoundError(f"Model {model_id!r} is not registered.", kind="model", key=model_id)
            record = decode_record(row[0])
            record.update(changes)
            conn.execute("UPDATE models SET record = ? WHERE model_id = ?",
                         (encode_record(record), model_id))
        return record

    # Predictions and labels --------------------------------------------------------------------------

    def insert_predictions(self, rows: Sequence[dict[str, Any]]) -> int:
        check_rows(rows, PREDICTION_FIELDS, "timestamp")
        values = [
            (
                row["prediction_id"],
                row["model_id"],
                to_micros(row["timestamp"]),
                json.dumps(row["features"], allow_nan=True),
                json.dumps(row["prediction"]),
                None if row.get("probability") is None else json.dumps(row["probability"]),
            )
            for row in rows
        ]
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO predictions "
                "(prediction_id, model_id, ts, features, prediction, probability) VALUES (?, ?, ?, ?, ?, ?)",
                values,
            )
            return conn.total_changes - before

    def insert_labels(self, rows: Sequence[dict[str, Any]]) -> int:
        check_rows(rows, LABEL_FIELDS, "timestamp")
        values = [
            (row["prediction_id"], row["model_id"], json.dumps(row["label"]), to_micros(row["timestamp"]))
            for row in rows
        ]
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO labels (prediction_id, model_id, label, ts) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (prediction_id) DO UPDATE SET label = excluded.label, ts = excluded.ts",
                values,
            )
        return len(values)

    def fetch_predictions(
        self,
        model_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        clauses = ["p.model_id = ?"]
        params: list[Any] = [model_id]
        if start is not None:
            clauses.append("p.ts >= ?")
            params.append(to_micros(start))
        if end is not None:
            clauses.append("p.ts < ?")
            params.append(to_micros(end))
        sql = (
            "SELECT p.prediction_id, p.model_id, p.ts, p.features, p.prediction, p.probability, "
            "l.label, l.ts FROM predictions p LEFT JOIN labels l ON l.prediction_id = p.prediction_id "
            f"WHERE {' AND '.join(clauses)} ORDER BY p.ts DESC, p.prediction_id DESC"
        )
        if last is not None:
            sql += " LIMIT ?"
            params.append(int(last))
        rows = self._query(sql, params).fetchall()
        rows.reverse()
        return _prediction_frame(rows)

    def count_predictions(self, model_id: str | None = None) -> int:
        if model_id is None:
            return self._query("SELECT COUNT(*) FROM predictions").fetchone()[0]
        return self._query("SELECT COUNT(*) FROM predictions WHERE model_id = ?", (model_id,)).fetchone()[0]

    # Alerts ------------------------------------------------------------------------------------------

    def insert_alert(self, alert: dict[str, Any]) -> bool:
        check_rows([alert], ALERT_FIELDS, "created_at")
        with self._transaction() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO alerts (alert_id, model_id, window_key, kind, created_ts, record) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (alert["alert_id"], alert["model_id"], alert["window_key"], alert["kind"],
                 to_micros(alert["created_at"]), encode_record(alert)),
            )
            return cursor.rowcount == 1

    def list_alerts(self, model_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        sql = "SELECT record FROM alerts"
        params: list[Any] = []
        if model_id is not None:
            sql += " WHERE model_id = ?"
            params.append(model_id)
        sql += " ORDER BY created_ts DESC, alert_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return [decode_record(row[0]) for row in self._query(sql, params).fetchall()]

    # Lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _query(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except sqlite3.Error as exc:
                raise StoreError(f"Reading the SQLite store at {self.path!r} failed: {exc}") from exc

    def _transaction(self) -> _Transaction:
        return _Transaction(self)


class _Transaction:
    """Context manager that runs its block inside ``BEGIN IMMEDIATE`` … ``COMMIT`` under the store lock."""

    def __init__(self, store: SQLiteStore) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._store._lock.acquire()
        try:
            self._store._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._store._lock.release()
            raise StoreError(f"Could not start a write on the SQLite store at {self._store.path!r}: {exc}") from exc
        return self._store._conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        conn = self._store._conn
        try:
            if exc_type is None:
                conn.execute("COMMIT")
            else:
                conn.execute("ROLLBACK")
        except sqlite3.Error as commit_error:
            conn.execute("ROLLBACK")
            raise StoreError(
                f"Writing to the SQLite store at {self._store.path!r} failed: {commit_error}"
            ) from commit_error
        finally:
            self._store._lock.release()
        if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
            raise StoreError(f"Writing to the SQLite store at {self._store.path!r} failed: {exc}") from exc


def _prediction_frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Build the predictions DataFrame from (id, model, ts, features, prediction, probability, label, label ts)."""
    loads = json.loads
    frame = pd.DataFrame(
        {
            "prediction_id": [row[0] for row in rows],
            "model_id": [row[1] for row in rows],
            "timestamp": pd.to_datetime(np.array([row[2] for row in rows], dtype="int64"), unit="us", utc=True),
            "features": [loads(row[3]) for row in rows],
            "prediction": [loads(row[4]) for row in rows],
            "probability": [None if row[5] is None else loads(row[5]) for row in rows],
            # dtype=object keeps None for a missing label and the labels' own types, where pandas would
            # otherwise turn [0, None, 1] into floats with NaN.
            "label": pd.Series([None if row[6] is None else loads(row[6]) for row in rows], dtype=object),
            "label_timestamp": pd.to_datetime(
                pd.array([row[7] for row in rows], dtype="Int64"), unit="us", utc=True
            ),
        },
        columns=list(PREDICTION_COLUMNS),
    )
    return frame
