"""The store contract that every backend implements.

A store keeps four kinds of record: models (with their baseline statistics), predictions, labels that
arrive later for a prediction, and alerts. Backends are chosen by URL in :func:`workbench.store.open_store`
and are held to the same behaviour by one contract test suite.

Records cross this boundary as plain dictionaries of JSON-ready values, except that timestamps are
timezone-aware UTC :class:`datetime.datetime` objects and predictions come back as a DataFrame.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Self

import pandas as pd

from workbench.errors import ValidationError

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


class Store(ABC):
    """Storage for models, predictions, labels and alerts.

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

    # Lifecycle ---------------------------------------------------------------------------------------

    @abstractmethod
    def close(self) -> None:
        """Release connections. The store cannot be used afterwards."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
