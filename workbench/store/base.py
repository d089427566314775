"""The store contract that every backend implements.

A store keeps models (with their baseline statistics), predictions, labels that arrive later for a
prediction, alerts, and the A/B experiments that compare models: experiment records, exposures (which
unit saw which variant) and outcomes. Backends are chosen by URL in :func:`workbench.store.open_store`
and are held to the same behaviour by one contract test suite.

Records cross this boundary as plain dictionaries of JSON-ready values, except that timestamps are
timezone-aware UTC :class:`datetime.datetime` objects and predictions come back as a DataFrame.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self

import numpy as np
import pandas as pd

from workbench.errors import ConflictError, ValidationError
from workbench.store.codec import decode_record, encode_record
from workbench.timeutil import to_micros

#: Columns of the DataFrame that :meth:`Store.fetch_predictions` returns, in order.
PREDICTION_COLUMNS = (
    "prediction_id",
    "model_id",
    "timestamp",
    "features",
    "prediction",
    "probability",
    "label",
    "label_timestamp",
)

#: Fields that each row given to :meth:`Store.insert_predictions` must have, none of them None.
PREDICTION_FIELDS = ("prediction_id", "model_id", "timestamp", "features", "prediction")

#: Fields that each row given to :meth:`Store.insert_labels` must have, none of them None.
LABEL_FIELDS = ("prediction_id", "model_id", "label", "timestamp")

#: Fields that an alert given to :meth:`Store.insert_alert` must have, none of them None.
ALERT_FIELDS = ("alert_id", "model_id", "window_key", "kind", "created_at")

#: Fields that each row given to :meth:`Store.insert_exposures` must have, none of them None.
EXPOSURE_FIELDS = ("experiment_id", "phase", "unit_id", "variant", "timestamp")

#: Fields that each row given to :meth:`Store.upsert_outcomes` must have, none of them None.
OUTCOME_FIELDS = ("experiment_id", "phase", "unit_id", "variant", "metric", "value", "timestamp")

#: Columns of the DataFrame that :meth:`Store.fetch_exposures` returns, in order.
EXPOSURE_COLUMNS = ("experiment_id", "phase", "unit_id", "variant", "timestamp")

#: Columns of the DataFrame that :meth:`Store.fetch_outcomes` returns, in order.
OUTCOME_COLUMNS = ("experiment_id", "phase", "unit_id", "variant", "metric", "value", "timestamp")


def check_rows(rows: Sequence[dict[str, Any]], fields: Sequence[str], time_field: str) -> None:
    """Raise ValidationError unless every row has every field in ``fields`` and an aware ``time_field``.

    Backends call this before they write, so that a batch with one bad row stores nothing. Without
    it a database may skip the bad row and store the others (SQLite's ``INSERT OR IGNORE`` skips a
    NOT NULL violation) or store a null key. The message names the row and the field.
    """
    for index, row in enumerate(rows):
        absent = [name for name in fields if row.get(name) is None]
        if absent:
            raise ValidationError(
                f"Row {index} has no value for {absent}; every row needs {list(fields)}. Nothing was stored.",
                field=absent[0], value=index,
            )
        timestamp = row[time_field]
        if not isinstance(timestamp, datetime) or timestamp.utcoffset() is None:
            raise ValidationError(
                f"Row {index} has {time_field}={timestamp!r}; give an aware datetime, such as one in UTC. "
                "Nothing was stored.",
                field=time_field, value=timestamp,
            )


def prepare_experiment(record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Check a new experiment record and return a copy with its ``revision``, and the record as JSON text.

    ``revision`` becomes 0 when the record has none. The copy is shallow and ``record`` is not changed.

    Raises
    ------
    ValidationError
        If ``experiment_id`` is not a string, ``status`` is neither a string nor None, ``revision`` is
        not a whole number of 0 or more, or a value cannot be encoded as JSON (such as a naive datetime).
    """
    experiment_id = record.get("experiment_id")
    if not isinstance(experiment_id, str):
        raise ValidationError(
            f"experiment_id={experiment_id!r} is invalid; an experiment record needs a string experiment_id.",
            field="experiment_id", value=experiment_id,
        )
    stored = dict(record)
    stored.setdefault("revision", 0)
    _check_revision(stored["revision"], "revision")
    _check_status(stored.get("status"))
    return stored, _encode_experiment(stored)


def apply_experiment_changes(
    stored: dict[str, Any], changes: dict[str, Any], expected_revision: int | None
) -> tuple[dict[str, Any], str]:
    """Return the stored experiment with ``changes`` applied and its revision incremented, and its JSON text.

    The record is decoded from that text, so it equals what a later read returns and shares no object
    with ``changes``.

    Raises
    ------
    ValidationError
        If ``changes`` sets ``revision``, sets another ``experiment_id``, sets a ``status`` that is not a
        string or None, or contains a value that cannot be encoded as JSON.
    ConflictError
        If ``expected_revision`` is given and differs from the stored revision.
    """
    check_experiment_changes(stored["experiment_id"], changes, expected_revision)
    if expected_revision is not None and stored["revision"] != expected_revision:
        raise ConflictError(
            f"Experiment {stored['experiment_id']!r} is at revision {stored['revision']}, not the expected "
            f"revision {expected_revision}, so it changed after the caller read it. Read it again and decide "
            "whether the change still applies."
        )
    text = _encode_experiment({**stored, **changes, "revision": stored["revision"] + 1})
    return decode_record(text), text


def check_experiment_changes(
    experiment_id: str, changes: dict[str, Any], expected_revision: int | None
) -> None:
    """Raise ValidationError unless ``changes`` and ``expected_revision`` are valid for an update."""
    if "revision" in changes:
        raise ValidationError(
            f"changes set revision={changes['revision']!r}, but the store increments the revision itself; "
            "pass expected_revision to update only an unchanged experiment.",
            field="revision", value=changes["revision"],
        )
    if "experiment_id" in changes and changes["experiment_id"] != experiment_id:
        raise ValidationError(
            f"changes set experiment_id={changes['experiment_id']!r} on experiment {experiment_id!r}; an "
            "experiment's id cannot change, so insert a new experiment instead.",
            field="experiment_id", value=changes["experiment_id"],
        )
    if "status" in changes:
        _check_status(changes["status"])
    if expected_revision is not None:
        _check_revision(expected_revision, "expected_revision")


def prepare_exposures(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Check exposure rows and return them as tuples in :data:`EXPOSURE_COLUMNS` order.

    The timestamp becomes integer microseconds since the Unix epoch in UTC and the phase a Python int.
    Raises ValidationError, naming the row, if a row lacks a field of :data:`EXPOSURE_FIELDS`, has a
    naive timestamp, a phase that is not a whole number, or an id or variant that is not a string.
    """
    check_rows(rows, EXPOSURE_FIELDS, "timestamp")
    _check_keys(rows, ("experiment_id", "unit_id", "variant"))
    return [
        (str(row["experiment_id"]), _phase(row["phase"], index), str(row["unit_id"]), str(row["variant"]),
         to_micros(row["timestamp"]))
        for index, row in enumerate(rows)
    ]


def prepare_outcomes(rows: Sequence[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Check outcome rows and return them as tuples in :data:`OUTCOME_COLUMNS` order.

    As :func:`prepare_exposures`, and ``value`` becomes a float: a bool gives 0.0 or 1.0. Raises
    ValidationError, naming the row, if a value is not a real number or is NaN or infinite.
    """
    check_rows(rows, OUTCOME_FIELDS, "timestamp")
    _check_keys(rows, ("experiment_id", "unit_id", "variant", "metric"))
    return [
        (str(row["experiment_id"]), _phase(row["phase"], index), str(row["unit_id"]), str(row["variant"]),
         str(row["metric"]), _outcome_value(row["value"], index), to_micros(row["timestamp"]))
        for index, row in enumerate(rows)
    ]


def exposure_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Build the exposures DataFrame from tuples in :data:`EXPOSURE_COLUMNS` order, timestamps in µs."""
    return _frame(rows, EXPOSURE_COLUMNS)


def outcome_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Build the outcomes DataFrame from tuples in :data:`OUTCOME_COLUMNS` order, timestamps in µs."""
    return _frame(rows, OUTCOME_COLUMNS)


def check_phase(phase: int | None) -> int | None:
    """Return the ``phase`` filter of a fetch as a Python int, or None. Raise ValidationError if invalid."""
    if phase is None:
        return None
    if not _is_int64(phase):
        raise ValidationError(f"phase={phase!r} is invalid; give a whole number, or None for every phase.",
                              field="phase", value=phase)
    return int(phase)


def check_unit_ids(unit_ids: Sequence[str] | None) -> list[str] | None:
    """Return the ``unit_ids`` filter of a fetch as a list, or None. Raise ValidationError if invalid."""
    if unit_ids is None:
        return None
    if isinstance(unit_ids, str | bytes):
        raise ValidationError(
            f"unit_ids={unit_ids!r} is a single string; give a list of unit ids, such as [{unit_ids!r}].",
            field="unit_ids", value=unit_ids,
        )
    return list(unit_ids)


def _check_keys(rows: Sequence[dict[str, Any]], fields: Sequence[str]) -> None:
    # Strings only, because SQLite turns a number in a TEXT column into text while MongoDB keeps it a number.
    for index, row in enumerate(rows):
        for name in fields:
            if not isinstance(row[name], str):
                raise ValidationError(
                    f"Row {index} has {name}={row[name]!r}; give a string. Nothing was stored.",
                    field=name, value=row[name],
                )


def _phase(value: Any, index: int) -> int:
    if not _is_int64(value):
        raise ValidationError(f"Row {index} has phase={value!r}; give a whole number. Nothing was stored.",
                              field="phase", value=value)
    return int(value)


def _outcome_value(value: Any, index: int) -> float:
    number = math.nan
    # numbers.Real covers bool, int, float and NumPy's numbers except numpy.bool_, but not str or Decimal.
    if isinstance(value, numbers.Real | np.bool_):
        try:
            number = float(value)
        except OverflowError:
            pass
    if not math.isfinite(number):
        raise ValidationError(
            f"Row {index} has value={value!r}; give a finite number (a bool is stored as 0.0 or 1.0). "
            "Nothing was stored.",
            field="value", value=value,
        )
    return number


def _is_int64(value: Any) -> bool:
    # Whole numbers other than bool, within the signed 64-bit range of SQLite's INTEGER and BSON's int64.
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        return False
    return -(2**63) <= int(value) < 2**63


def _check_revision(value: Any, name: str) -> None:
    if not isinstance(value, int) or not _is_int64(value) or value < 0:
        raise ValidationError(f"{name}={value!r} is invalid; give a whole number of 0 or more.",
                              field=name, value=value)


def _check_status(value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"status={value!r} is invalid; give a string such as 'running', or None.",
                              field="status", value=value)


def _encode_experiment(record: dict[str, Any]) -> str:
    try:
        return encode_record(record)
    except (TypeError, ValueError) as exc:
        # json.dumps raises TypeError for an unknown type, and to_micros for a naive datetime.
        raise ValidationError(
            f"Experiment {record['experiment_id']!r} cannot be stored: {exc}. Give JSON values (dicts, "
            "lists, strings, numbers, None) and aware datetimes.",
            field="record", value=record["experiment_id"],
        ) from exc


def _frame(rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for position, name in enumerate(columns):
        values = [row[position] for row in rows]
        if name == "timestamp":
            data[name] = pd.to_datetime(np.array(values, dtype="int64"), unit="us", utc=True).as_unit("us")
        elif name == "phase":
            data[name] = pd.Series(values, dtype="int64")
        elif name == "value":
            data[name] = pd.Series(values, dtype="float64")
        else:
            # pandas' default string dtype, also when there are no rows.
            data[name] = pd.Series(values, dtype=str)
    return pd.DataFrame(data, columns=list(columns))


class Store(ABC):
    """Storage for models, predictions, labels, alerts, experiments, exposures and outcomes.

    Implementations must make every write method atomic: a batch is stored whole or not at all.
    """

    url: str

    # Models ------------------------------------------------------------------------------------------

    @abstractmethod
    def insert_model(self, record: dict[str, Any]) -> None:
        """Store a new model record keyed by ``record["model_id"]``.

        Raises :class:`~workbench.errors.ConflictError` if the model id exists.
        """

    @abstractmethod
    def get_model(self, model_id: str) -> dict[str, Any] | None:
        """Return the model record, or None if there is none."""

    @abstractmethod
    def list_models(self) -> list[dict[str, Any]]:
        """Return every model record, ordered by model id."""

    @abstractmethod
    def update_model(self, model_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply ``changes`` to a model record and return the updated record.

        Raises :class:`~workbench.errors.NotFoundError` if the model id does not exist.
        """

    # Predictions and labels --------------------------------------------------------------------------

    @abstractmethod
    def insert_predictions(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store predictions and return how many were new.

        Each row has ``prediction_id``, ``model_id``, ``timestamp`` (aware UTC datetime), ``features``
        (dict), ``prediction`` and ``probability`` (list of floats or None). A row whose
        ``prediction_id`` is already stored is skipped, so a redelivered prediction is stored once.
        Raises :class:`~workbench.errors.ValidationError`, and stores nothing, if a row lacks a
        field of :data:`PREDICTION_FIELDS`.
        """

    @abstractmethod
    def insert_labels(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store labels and return how many rows were written.

        Each row has ``prediction_id``, ``model_id``, ``label`` and ``timestamp``. A label may arrive
        before its prediction. A second label for the same prediction id replaces the first.
        Raises :class:`~workbench.errors.ValidationError`, and stores nothing, if a row lacks a field.
        """

    @abstractmethod
    def fetch_predictions(
        self,
        model_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        """Return predictions of one model, oldest first, joined with their labels.

        ``start`` is inclusive and ``end`` exclusive. ``last`` keeps the most recent ``last`` rows
        within that range. The columns are :data:`PREDICTION_COLUMNS`; ``timestamp`` and
        ``label_timestamp`` are ``datetime64[us, UTC]`` and ``label`` is None where no label arrived.
        """

    @abstractmethod
    def count_predictions(self, model_id: str | None = None) -> int:
        """Return the number of stored predictions of one model, or of all models."""

    # Alerts ------------------------------------------------------------------------------------------

    @abstractmethod
    def insert_alert(self, alert: dict[str, Any]) -> bool:
        """Store an alert unless one with the same model id, window key and kind exists.

        Returns True if the alert was stored and False if it was already there.
        """

    @abstractmethod
    def list_alerts(self, model_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Return alerts, newest first, of one model or of all models."""

    # Experiments -------------------------------------------------------------------------------------

    @abstractmethod
    def insert_experiment(self, record: dict[str, Any]) -> None:
        """Store a new experiment record keyed by ``record["experiment_id"]``.

        The record is any dict of JSON-ready values and aware datetimes. The store reads only
        ``experiment_id``, ``status`` and ``revision``, which is set to 0 in the stored record when
        absent. ``record`` itself is not changed. Raises :class:`~workbench.errors.ConflictError` if the
        experiment id exists, and :class:`~workbench.errors.ValidationError` for an invalid record.
        """

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> dict[str, Any] | None:
        """Return the experiment record, or None if there is none."""

    @abstractmethod
    def list_experiments(self, status: str | None = None) -> list[dict[str, Any]]:
        """Return the experiment records whose ``status`` is ``status``, or all of them, ordered by id."""

    @abstractmethod
    def update_experiment(
        self, experiment_id: str, changes: dict[str, Any], *, expected_revision: int | None = None
    ) -> dict[str, Any]:
        """Apply ``changes`` to an experiment record, increment its ``revision`` and return the record.

        The read, the check and the write are atomic, so of two writers that pass the same
        ``expected_revision`` only one succeeds. Raises :class:`~workbench.errors.NotFoundError` if the
        experiment does not exist, :class:`~workbench.errors.ConflictError` if ``expected_revision`` is
        given and differs from the stored revision, and :class:`~workbench.errors.ValidationError` if
        ``changes`` sets ``revision`` or another ``experiment_id``.
        """

    # Exposures and outcomes --------------------------------------------------------------------------

    @abstractmethod
    def insert_exposures(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store exposures and return how many were new.

        Each row has the fields of :data:`EXPOSURE_FIELDS`: strings ``experiment_id``, ``unit_id`` and
        ``variant``, a whole-number ``phase`` and an aware ``timestamp``. The first exposure of a unit in
        an experiment's phase is kept, and later rows for the same ``(experiment_id, phase, unit_id)``,
        in the same batch or a later one, are skipped. Raises
        :class:`~workbench.errors.ValidationError`, and stores nothing, if a row is invalid.
        """

    @abstractmethod
    def fetch_exposures(
        self, experiment_id: str, *, phase: int | None = None, unit_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Return the exposures of one experiment, oldest first, of one phase or all, of some units or all.

        The columns are :data:`EXPOSURE_COLUMNS`. ``phase`` is ``int64`` and ``timestamp``
        ``datetime64[us, UTC]``, also in the empty frame. Rows with the same timestamp are ordered by
        phase, then unit id.
        """

    @abstractmethod
    def count_exposures(self, experiment_id: str, *, phase: int | None = None) -> dict[str, int]:
        """Return the number of exposures per variant, ordered by variant, of one phase or all.

        A variant without exposures is absent.
        """

    @abstractmethod
    def upsert_outcomes(self, rows: Sequence[dict[str, Any]]) -> int:
        """Store outcomes and return how many rows were written.

        Each row has the fields of :data:`OUTCOME_FIELDS`, as for exposures plus a string ``metric`` and
        a finite ``value``, stored as a float (a bool as 0.0 or 1.0). A row replaces the stored outcome
        with the same ``(experiment_id, phase, metric, unit_id)``, whatever the timestamps, so the row
        written last wins, also within a batch. Raises :class:`~workbench.errors.ValidationError`, and
        stores nothing, if a row is invalid, such as a NaN or infinite value.
        """

    @abstractmethod
    def fetch_outcomes(
        self, experiment_id: str, *, phase: int | None = None, metric: str | None = None
    ) -> pd.DataFrame:
        """Return the outcomes of one experiment, oldest first, of one phase or metric or all.

        The columns are :data:`OUTCOME_COLUMNS`. ``phase`` is ``int64``, ``value`` ``float64`` and
        ``timestamp`` ``datetime64[us, UTC]``, also in the empty frame. Rows with the same timestamp are
        ordered by phase, metric, then unit id.
        """

    # Lifecycle ---------------------------------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
