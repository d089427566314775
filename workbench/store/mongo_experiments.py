"""Experiments, exposures and outcomes in the MongoDB store.

:class:`~workbench.store.mongo.MongoStore` inherits these methods from :class:`MongoExperimentsMixin`.
The collections are ``experiments``, ``exposures`` and ``outcomes``.

``experiments`` keeps one document per revision: ``experiment_id``, ``seq`` (0 for the inserted record,
then one more per update), ``revision``, ``status`` and the record as JSON text, as for models. A unique
index on ``experiment_id`` and ``seq`` makes each write a single insert that only one writer can win.
A compare-and-swap with ``replace_one`` would not do: FerretDB 1.24 runs an update as a query followed
by a write by ``_id`` (``updateDocument`` in its ``internal/handler/msg_update.go``), so two concurrent
writers both match the old revision and both succeed.

Exposures and outcomes keep their keys, variant and value as native BSON values and their timestamp
twice, as a BSON date and as integer microseconds in ``timestamp_us``, on which queries filter and sort.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import pandas as pd
from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from workbench.errors import ConflictError, NotFoundError, StoreError
from workbench.store.base import (
    EXPOSURE_COLUMNS,
    OUTCOME_COLUMNS,
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
from workbench.timeutil import from_micros

logger = logging.getLogger(__name__)

# Attempts of update_experiment to insert the next revision before it reports that the experiment kept
# changing.
_EXPERIMENT_UPDATE_ATTEMPTS = 10

# Unit ids per query of fetch_exposures. 10,000 ids of 36 characters (a UUID) make a query of some
# 0.5 MB, far below the 16 MiB limit of a BSON document.
_UNIT_QUERY_BATCH = 10_000

# Replacements per update command of upsert_outcomes. FerretDB 1.24 keeps one SQLite connection of a
# database open for each update until the whole command ends (msg_update.go defers closing each query
# inside its loop), and each database has a pool of 100 connections (pool/opendb.go). A command of 100
# updates, or concurrent commands with as many, wait for a connection that never frees up until the
# clients disconnect. With 10 per command, about 9 writers can run at once on one database.
_REPLACE_BATCH = 10

_EXPOSURE_KEY = ("experiment_id", "phase", "unit_id")
_OUTCOME_KEY = ("experiment_id", "phase", "metric", "unit_id")
_EXPOSURE_PROJECTION = {"_id": 0, **{name: 1 for name in EXPOSURE_COLUMNS if name != "timestamp"},
                        "timestamp_us": 1}
_OUTCOME_PROJECTION = {"_id": 0, **{name: 1 for name in OUTCOME_COLUMNS if name != "timestamp"},
                       "timestamp_us": 1}


class MongoExperimentsMixin:
    """The experiment part of the store contract for MongoDB.

    The class that mixes it in sets the three collections and provides the error translation
    (``_errors``), the transaction runner (``_run_in_transaction``), the unordered insert that counts
    duplicate keys as stored (``_insert_unordered``) and the message for a partial bulk write.
    """

    _experiments: Collection[dict[str, Any]]
    _exposures: Collection[dict[str, Any]]
    _outcomes: Collection[dict[str, Any]]
    _transactions: bool
    _masked_url: str
    _errors: Callable[..., AbstractContextManager[None]]
    _run_in_transaction: Callable[[Callable[[ClientSession], Any]], Any]
    _insert_unordered: Callable[[Collection[dict[str, Any]], list[dict[str, Any]], str], list[int]]
    _partial_write_message: Callable[[str, BulkWriteError, int], str]

    # Experiments -------------------------------------------------------------------------------------

    def insert_experiment(self, record: dict[str, Any]) -> None:
        stored, text = prepare_experiment(record)
        experiment_id = stored["experiment_id"]
        with self._errors("Writing to"):
            try:
                self._experiments.insert_one(_experiment_document(stored, text, 0))
            except DuplicateKeyError:
                raise ConflictError(
                    f"Experiment {experiment_id!r} already exists; choose another experiment_id, or change "
                    "the stored one with update_experiment."
                ) from None

    def get_experiment(self, experiment_id: str) -> dict[str, Any] | None:
        document = self._latest_experiment(experiment_id)
        return None if document is None else decode_record(document["record"])

    def list_experiments(self, status: str | None = None) -> list[dict[str, Any]]:
        # Every revision is read and the latest one per experiment picked here, because FerretDB 1.24 has
        # no $first accumulator to pick it on the server. So the cost grows with the number of updates.
        projection = {"_id": 0, "experiment_id": 1, "status": 1, "record": 1}
        sort = [("experiment_id", ASCENDING), ("seq", DESCENDING)]
        latest: dict[str, dict[str, Any]] = {}
        with self._errors("Reading"):
            for document in self._experiments.find({}, projection, sort=sort):
                # The first document of each experiment is its latest revision.
                latest.setdefault(document["experiment_id"], document)
        return [decode_record(document["record"]) for document in latest.values()
                if status is None or document["status"] == status]

    def update_experiment(
        self, experiment_id: str, changes: dict[str, Any], *, expected_revision: int | None = None
    ) -> dict[str, Any]:
        check_experiment_changes(experiment_id, changes, expected_revision)
        for _ in range(_EXPERIMENT_UPDATE_ATTEMPTS):
            document = self._latest_experiment(experiment_id)
            if document is None:
                raise NotFoundError(
                    f"Experiment {experiment_id!r} does not exist; list_experiments() returns the stored "
                    "ones.",
                    kind="experiment", key=experiment_id,
                )

            stored = decode_record(document["record"])
            updated, text = apply_experiment_changes(stored, changes, expected_revision)
            # The unique index on (experiment_id, seq) lets one writer insert the next revision. A writer
            # that loses reads the winner's revision on the next attempt, where expected_revision then
            # raises ConflictError.
            with self._errors("Writing to"):
                try:
                    self._experiments.insert_one(_experiment_document(updated, text, document["seq"] + 1))
                except DuplicateKeyError:
                    logger.info("experiment %s changed while it was updated; reading it again", experiment_id)
                    continue
            return updated
        raise StoreError(
            f"Experiment {experiment_id!r} changed {_EXPERIMENT_UPDATE_ATTEMPTS} times while it was updated "
            f"in the MongoDB store at {self._masked_url}; try the update again."
        )

    # Exposures and outcomes --------------------------------------------------------------------------

    def insert_exposures(self, rows: Sequence[dict[str, Any]]) -> int:
        values = prepare_exposures(rows)
        # Without this, an unordered insert might keep a later row of the batch instead of the first,
        # and a duplicate key inside a transaction would abort it.
        documents = _first_per_key([_exposure_document(value) for value in values], _EXPOSURE_KEY)
        if not documents:
            return 0
        if self._transactions:
            return self._run_in_transaction(lambda session: self._insert_new_exposures(documents, session))

        # NOTE: without a transaction this batch is not atomic. Rows were validated above, so what remains
        # are server-side failures (a lost connection, a full disk, a write-concern timeout) that can
        # leave part of the batch stored. Sending the batch again stores the rest and keeps the stored
        # exposures, which are the first ones.
        advice = "Part of the batch may be stored; send it again, and the stored exposures are skipped."
        with self._errors("Writing exposures to", advice):
            return len(documents) - len(self._insert_unordered(self._exposures, documents, "exposures"))

    def fetch_exposures(
        self, experiment_id: str, *, phase: int | None = None, unit_ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        query = _experiment_query(experiment_id, phase)
        units = check_unit_ids(unit_ids)
        sort_key = ("timestamp_us", "phase", "unit_id")
        with self._errors("Reading"):
            if units is None:
                documents = list(self._exposures.find(
                    query, _EXPOSURE_PROJECTION, sort=[(name, ASCENDING) for name in sort_key]
                ))
            else:
                documents = self._find_units(query, list(dict.fromkeys(units)))
                # Code-point order, which equals the UTF-8 byte order that MongoDB (without a collation)
                # and SQLite (BINARY collation) sort strings by.
                documents.sort(key=lambda document: tuple(document[name] for name in sort_key))
        return exposure_frame([_row(document, EXPOSURE_COLUMNS) for document in documents])

    def count_exposures(self, experiment_id: str, *, phase: int | None = None) -> dict[str, int]:
        pipeline = [
            {"$match": _experiment_query(experiment_id, phase)},
            {"$group": {"_id": "$variant", "count": {"$sum": 1}}},
        ]
        with self._errors("Reading"):
            groups = list(self._exposures.aggregate(pipeline))
        return {group["_id"]: group["count"] for group in sorted(groups, key=lambda group: group["_id"])}

    def upsert_outcomes(self, rows: Sequence[dict[str, Any]]) -> int:
        values = prepare_outcomes(rows)
        # Of two rows for one key in a batch the later one is kept, as in SQLite.
        latest = {document["_id"]: document for document in map(_outcome_document, values)}
        documents = list(latest.values())
        if not documents:
            return 0
        if self._transactions:
            operations = [_replace_outcome(document) for document in documents]
            self._run_in_transaction(lambda session: self._outcomes.bulk_write(operations, session=session))
            return len(values)

        # Without a transaction a failure part-way through leaves some outcomes written. Sending the batch
        # again is safe, because an outcome replaces the stored one with the same key.
        with self._errors("Writing outcomes to", "Part of the batch may be stored; send it again."):
            self._insert_or_replace_outcomes(documents)
        return len(values)

    def fetch_outcomes(
        self, experiment_id: str, *, phase: int | None = None, metric: str | None = None
    ) -> pd.DataFrame:
        query = _experiment_query(experiment_id, phase)
        if metric is not None:
            query["metric"] = metric
        sort = [(name, ASCENDING) for name in ("timestamp_us", "phase", "metric", "unit_id")]
        with self._errors("Reading"):
            documents = list(self._outcomes.find(query, _OUTCOME_PROJECTION, sort=sort))
        return outcome_frame([_row(document, OUTCOME_COLUMNS) for document in documents])

    # Helpers -----------------------------------------------------------------------------------------

    def _experiment_indexes(self) -> list[tuple[Collection[dict[str, Any]], IndexModel]]:
        """Return the indexes of the experiment collections, for the store to create when it opens."""
        return [
            (self._experiments, IndexModel([("experiment_id", ASCENDING), ("seq", DESCENDING)], unique=True,
                                           name="experiment_id_seq_unique")),
            (self._exposures, IndexModel([(name, ASCENDING) for name in _EXPOSURE_KEY], unique=True,
                                         name="experiment_id_phase_unit_id_unique")),
            # Serves fetch_exposures' filter on experiment and phase and its sort on time.
            (self._exposures, IndexModel(
                [("experiment_id", ASCENDING), ("phase", ASCENDING), ("timestamp_us", ASCENDING)],
                name="experiment_id_phase_timestamp",
            )),
            # Serves count_exposures' grouping by variant within an experiment and phase.
            (self._exposures, IndexModel(
                [("experiment_id", ASCENDING), ("phase", ASCENDING), ("variant", ASCENDING)],
                name="experiment_id_phase_variant",
            )),
            (self._outcomes, IndexModel([(name, ASCENDING) for name in _OUTCOME_KEY], unique=True,
                                        name="experiment_id_phase_metric_unit_id_unique")),
            (self._outcomes, IndexModel(
                [("experiment_id", ASCENDING), ("phase", ASCENDING), ("timestamp_us", ASCENDING)],
                name="experiment_id_phase_timestamp",
            )),
        ]

    def _latest_experiment(self, experiment_id: str) -> dict[str, Any] | None:
        """Return the document of the experiment's latest revision, or None if there is none."""
        with self._errors("Reading"):
            return self._experiments.find_one({"experiment_id": experiment_id}, {"_id": 0},
                                              sort=[("seq", DESCENDING)])

    def _insert_new_exposures(self, documents: list[dict[str, Any]], session: ClientSession) -> int:
        """Insert the documents whose key is not stored yet, inside the session's transaction."""
        # NOTE: FerretDB 1.24, the default test server, has no transactions, so this method and the
        # transaction branch of upsert_outcomes run only when WORKBENCH_TEST_MONGODB_URL points the store
        # tests at a replica set.
        query = {name: {"$in": sorted({document[name] for document in documents})} for name in _EXPOSURE_KEY}
        projection = {"_id": 0, **{name: 1 for name in _EXPOSURE_KEY}}
        found = self._exposures.find(query, projection, session=session)
        stored = {_key(document, _EXPOSURE_KEY) for document in found}
        # Copies, because insert_many adds an _id to each document and a retried transaction runs this again.
        new = [dict(document) for document in documents if _key(document, _EXPOSURE_KEY) not in stored]
        if new:
            self._exposures.insert_many(new, ordered=True, session=session)
        return len(new)

    def _insert_or_replace_outcomes(self, documents: list[dict[str, Any]]) -> None:
        """Insert the outcomes whose key is new, then replace the stored ones that have the other keys."""
        # Upserts alone would do, but FerretDB 1.24 runs an upsert as a query followed by an insert. So two
        # writers that upsert the same new key both insert, and the loser's reply lacks the "n" and
        # "nModified" fields that pymongo 4.20 reads, which makes it raise KeyError. An unordered insert
        # reports such a key as an ordinary duplicate, and the replacement then finds the document.
        stored = self._insert_unordered(self._outcomes, documents, "outcomes")
        if not stored:
            return
        # NOTE: on FerretDB 1.24 a replacement by _id takes longer the more documents the collection has,
        # although a find by _id does not, so correcting many outcomes there is slow.
        operations = [_replace_outcome(documents[index]) for index in stored]
        for offset in range(0, len(operations), _REPLACE_BATCH):
            try:
                self._outcomes.bulk_write(operations[offset:offset + _REPLACE_BATCH], ordered=False)
            except BulkWriteError as exc:
                raise StoreError(self._partial_write_message("outcomes", exc, len(documents))) from exc

    def _find_units(self, query: dict[str, Any], units: list[str]) -> list[dict[str, Any]]:
        """Return the exposures that match ``query`` and whose unit id is in ``units``, unordered."""
        documents: list[dict[str, Any]] = []
        for offset in range(0, len(units), _UNIT_QUERY_BATCH):
            batch = units[offset:offset + _UNIT_QUERY_BATCH]
            documents += self._exposures.find({**query, "unit_id": {"$in": batch}}, _EXPOSURE_PROJECTION)
        return documents


def _experiment_query(experiment_id: str, phase: int | None) -> dict[str, Any]:
    query: dict[str, Any] = {"experiment_id": experiment_id}
    checked = check_phase(phase)
    if checked is not None:
        query["phase"] = checked
    return query


def _experiment_document(record: dict[str, Any], text: str, seq: int) -> dict[str, Any]:
    """Return the document of one revision of an experiment, the ``seq``-th write since its insert."""
    return {"experiment_id": record["experiment_id"], "seq": seq, "revision": record["revision"],
            "status": record.get("status"), "record": text}


def _exposure_document(value: tuple[Any, ...]) -> dict[str, Any]:
    experiment_id, phase, unit_id, variant, micros = value
    return {"experiment_id": experiment_id, "phase": phase, "unit_id": unit_id, "variant": variant,
            "timestamp": from_micros(micros), "timestamp_us": micros}


def _outcome_document(value: tuple[Any, ...]) -> dict[str, Any]:
    experiment_id, phase, unit_id, variant, metric, number, micros = value
    # The key as JSON text is the _id, because FerretDB 1.24 runs a query on the server's SQLite only
    # for a filter on a string or ObjectId _id (collection.go in its internal/backends/sqlite) and scans
    # the collection for any other. So the query of each replacement is one lookup, not a scan.
    return {"_id": json.dumps([experiment_id, phase, metric, unit_id]), "experiment_id": experiment_id,
            "phase": phase, "metric": metric, "unit_id": unit_id, "variant": variant, "value": number,
            "timestamp": from_micros(micros), "timestamp_us": micros}


def _replace_outcome(document: dict[str, Any]) -> ReplaceOne:
    """Return the operation that stores ``document`` in place of the outcome with its key, or inserts it."""
    return ReplaceOne({"_id": document["_id"]}, document, upsert=True)


def _row(document: dict[str, Any], columns: Sequence[str]) -> tuple[Any, ...]:
    """Return a document's values in ``columns`` order, with ``timestamp`` as integer microseconds."""
    return tuple(document["timestamp_us" if name == "timestamp" else name] for name in columns)


def _key(document: dict[str, Any], names: Sequence[str]) -> tuple[Any, ...]:
    return tuple(document[name] for name in names)


def _first_per_key(documents: list[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """Drop repeats of a key within a batch, keeping the first row as SQLite's INSERT OR IGNORE does."""
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for document in documents:
        key = _key(document, names)
        if key not in seen:
            seen.add(key)
            unique.append(document)
    return unique
