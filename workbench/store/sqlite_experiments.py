"""Experiments, exposures and outcomes in the SQLite store.

:class:`~workbench.store.sqlite.SQLiteStore` inherits these methods from :class:`SQLiteExperimentsMixin`
and runs :data:`EXPERIMENT_SCHEMA` when it opens a file. The schema uses ``CREATE … IF NOT EXISTS``, so
a file created before these tables existed gains them on its next open. Timestamps are integer
microseconds since the epoch in UTC, as in the other tables.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd

from workbench.errors import ConflictError, NotFoundError
from workbench.store.base import (
    apply_experiment_changes,
    check_experiment_changes,
    check_phase,
    check_unit_ids,
    exposure_frame,
    outcome_frame,
    prepare_experiment,
    prepare_exposures,
    prepare_outcomes,
)
from workbench.store.codec import decode_record

EXPERIMENT_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiments (
    experiment_id TEXT PRIMARY KEY,
    status TEXT,
    revision INTEGER NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS experiments_status ON experiments (status, experiment_id);
CREATE TABLE IF NOT EXISTS exposures (
    experiment_id TEXT NOT NULL,
    phase INTEGER NOT NULL,
    unit_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, phase, unit_id)
);
CREATE INDEX IF NOT EXISTS exposures_experiment_phase_ts ON exposures (experiment_id, phase, ts);
CREATE INDEX IF NOT EXISTS exposures_experiment_phase_variant ON exposures (experiment_id, phase, variant);
CREATE TABLE IF NOT EXISTS outcomes (
    experiment_id TEXT NOT NULL,
    phase INTEGER NOT NULL,
    metric TEXT NOT NULL,
    unit_id TEXT NOT NULL,
    variant TEXT NOT NULL,
    value REAL NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (experiment_id, phase, metric, unit_id)
);
CREATE INDEX IF NOT EXISTS outcomes_experiment_phase_ts ON outcomes (experiment_id, phase, ts);
"""

_EXPOSURE_SELECT = "SELECT experiment_id, phase, unit_id, variant, ts FROM exposures"
_OUTCOME_SELECT = "SELECT experiment_id, phase, unit_id, variant, metric, value, ts FROM outcomes"


class SQLiteExperimentsMixin:
    """The experiment part of the store contract for SQLite.

    The class that mixes it in provides ``_query``, which runs one read and turns sqlite3 errors into
    StoreError, and ``_transaction``, a context manager around ``BEGIN IMMEDIATE`` … ``COMMIT``.
    """

    _query: Callable[..., sqlite3.Cursor]
    _transaction: Callable[[], AbstractContextManager[sqlite3.Connection]]

    # Experiments -------------------------------------------------------------------------------------

    def insert_experiment(self, record: dict[str, Any]) -> None:
        stored, text = prepare_experiment(record)
        experiment_id = stored["experiment_id"]
        try:
            with self._transaction() as conn:
                conn.execute(
                    "INSERT INTO experiments (experiment_id, status, revision, record) VALUES (?, ?, ?, ?)",
                    (experiment_id, stored.get("status"), stored["revision"], text),
                )
        except sqlite3.IntegrityError:
            raise ConflictError(
                f"Experiment {experiment_id!r} already exists; choose another experiment_id, or change the "
                "stored one with update_experiment."
            ) from None

    def get_experiment(self, experiment_id: str) -> dict[str, Any] | None:
        sql = "SELECT record FROM experiments WHERE experiment_id = ?"
        row = self._query(sql, (experiment_id,)).fetchone()
        return None if row is None else decode_record(row[0])

    def list_experiments(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is None:
            rows = self._query("SELECT record FROM experiments ORDER BY experiment_id").fetchall()
        else:
            rows = self._query(
                "SELECT record FROM experiments WHERE status = ? ORDER BY experiment_id", (status,)
            ).fetchall()
        return [decode_record(row[0]) for row in rows]

    def update_experiment(
        self, experiment_id: str, changes: dict[str, Any], *, expected_revision: int | None = None
    ) -> dict[str, Any]:
        check_experiment_changes(experiment_id, changes, expected_revision)
        # BEGIN IMMEDIATE takes the write lock before the read, so no other process can change the
        # record between the revision check and the write.
        with self._transaction() as conn:
            sql = "SELECT record FROM experiments WHERE experiment_id = ?"
            row = conn.execute(sql, (experiment_id,)).fetchone()
            if row is None:
                raise NotFoundError(
                    f"Experiment {experiment_id!r} does not exist; list_experiments() returns the stored "
                    "ones.",
                    kind="experiment", key=experiment_id,
                )
            updated, text = apply_experiment_changes(decode_record(row[0]), changes, expected_revision)
            conn.execute(
                "UPDATE experiments SET status = ?, revision = ?, record = ? WHERE experiment_id = ?",
                (updated.get("status"), updated["revision"], text, experiment_id),
            )
        return updated

    # Exposures and outcomes --------------------------------------------------------------------------

    def insert_exposures(self, rows: Sequence[dict[str, Any]]) -> int:
        values = prepare_exposures(rows)
        with self._transaction() as conn:
            before = conn.total_changes
            # OR IGNORE skips a row whose key is stored, or came earlier in this batch, so the first stays.
            conn.executemany(
                "INSERT OR IGNORE INTO exposures (experiment_id, phase, unit_id, variant, ts) "
                "VALUES (?, ?, ?, ?, ?)",
                values,
            )
            return conn.total_changes - before

    def fetch_exposures(
        self, experiment_id: str, *, phase: int | None = None, unit_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        clauses, params = _experiment_filter(experiment_id, phase)
        units = check_unit_ids(unit_ids)
        if units is not None:
            # One JSON parameter instead of one parameter per id, which SQLite limits to 32,766.
            clauses.append("unit_id IN (SELECT value FROM json_each(?))")
            params.append(json.dumps(units))
        sql = f"{_EXPOSURE_SELECT} WHERE {' AND '.join(clauses)} ORDER BY ts, phase, unit_id"
        return exposure_frame(self._query(sql, params).fetchall())

    def count_exposures(self, experiment_id: str, *, phase: int | None = None) -> dict[str, int]:
        clauses, params = _experiment_filter(experiment_id, phase)
        sql = (f"SELECT variant, COUNT(*) FROM exposures WHERE {' AND '.join(clauses)} "
               "GROUP BY variant ORDER BY variant")
        return dict(self._query(sql, params).fetchall())

    def upsert_outcomes(self, rows: Sequence[dict[str, Any]]) -> int:
        values = prepare_outcomes(rows)
        with self._transaction() as conn:
            conn.executemany(
                "INSERT INTO outcomes (experiment_id, phase, unit_id, variant, metric, value, ts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (experiment_id, phase, metric, unit_id) "
                "DO UPDATE SET variant = excluded.variant, value = excluded.value, ts = excluded.ts",
                values,
            )
        return len(values)

    def fetch_outcomes(
        self, experiment_id: str, *, phase: int | None = None, metric: str | None = None
    ) -> pd.DataFrame:
        clauses, params = _experiment_filter(experiment_id, phase)
        if metric is not None:
            clauses.append("metric = ?")
            params.append(metric)
        sql = f"{_OUTCOME_SELECT} WHERE {' AND '.join(clauses)} ORDER BY ts, phase, metric, unit_id"
        return outcome_frame(self._query(sql, params).fetchall())


def _experiment_filter(experiment_id: str, phase: int | None) -> tuple[list[str], list[Any]]:
    """Return the WHERE clauses and parameters that select one experiment, and one phase if given."""
    clauses = ["experiment_id = ?"]
    params: list[Any] = [experiment_id]
    checked = check_phase(phase)
    if checked is not None:
        clauses.append("phase = ?")
        params.append(checked)
    return clauses, params
