"""The MongoDB store: one collection per kind of record in one database.

The collections are ``models``, ``predictions``, ``labels`` and ``alerts``, and ``experiments``,
``exposures`` and ``outcomes`` (see :mod:`workbench.store.mongo_experiments`). The fields that the store
filters, sorts or joins on are native BSON values. The values that callers define (features, prediction,
probability, label, and the model and alert records) are stored as JSON text, encoded as the SQLite store
encodes them. So they round-trip identically on every backend, including NaN, infinities, integer keys,
keys that contain "." or start with "$", and datetimes with microseconds. FerretDB 1.24 rejects NaN values
and such keys in documents, and a model's baseline has keys such as ``"0.5"``.

Every timestamp is stored twice: as a BSON date for people who read the collections, and as integer
microseconds since the Unix epoch in a ``*_us`` field, because BSON dates keep only milliseconds. Queries
filter and sort on the microseconds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit

import numpy as np
import pandas as pd
from bson.errors import BSONError
from pymongo import ASCENDING, DESCENDING, IndexModel, MongoClient, ReplaceOne
from pymongo.client_session import ClientSession
from pymongo.collection import Collection
from pymongo.errors import (
    BulkWriteError,
    ConfigurationError,
    ConnectionFailure,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from workbench.errors import ConfigError, ConflictError, NotFoundError, StoreError, ValidationError
from workbench.store.base import (
    ALERT_FIELDS,
    LABEL_FIELDS,
    PREDICTION_COLUMNS,
    PREDICTION_FIELDS,
    Store,
    check_rows,
)
from workbench.store.codec import decode_record, encode_record
from workbench.store.mongo_experiments import MongoExperimentsMixin
from workbench.store.urls import mask_url
from workbench.timeutil import to_micros

logger = logging.getLogger(__name__)

#: Label replacements per command when the server has no transactions (see insert_labels).
LABEL_REPLACE_BATCH = 10

_T = TypeVar("_T")

#: Database used when the URL names none, as in ``mongodb://127.0.0.1:27017``.
DEFAULT_DATABASE = "workbench"

#: Milliseconds that each operation waits for a usable server before it fails.
SERVER_SELECTION_TIMEOUT_MS = 5_000

#: Values of the ``join`` option: ``$lookup`` on the server, the join in Python, or the server's
#: ``$lookup`` with a switch to the Python join when the server lacks it.
JOIN_MODES = ("auto", "server", "client")

# Prediction ids per labels query of the client-side join. 10,000 ids of 36 characters (a UUID) make a
# query of some 0.5 MB, far below the 16 MiB limit of a BSON document.
_LABEL_QUERY_BATCH = 10_000

# Attempts of update_model's compare-and-swap before it reports a conflict.
_MODEL_UPDATE_ATTEMPTS = 10

# Server error codes that pymongo itself treats as a duplicate key (pymongo/helpers_shared.py).
_DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})

# Server error codes for an aggregation stage the server does not have: FerretDB returns 238
# (NotImplemented) for $lookup, and MongoDB returns 40324 ("Unrecognized pipeline stage name").
_MISSING_STAGE_CODES = frozenset({238, 40324})

_PREDICTION_PROJECTION = {
    "_id": 0, "prediction_id": 1, "model_id": 1, "timestamp_us": 1, "features": 1, "prediction": 1,
    "probability": 1,
}


class MongoStore(MongoExperimentsMixin, Store):
    """Store backed by a MongoDB database, or a server that speaks MongoDB's protocol such as FerretDB.

    Parameters
    ----------
    url : str
        A ``mongodb://`` or ``mongodb+srv://`` URL. Its path names the database, ``workbench`` when it
        has none, and its query may carry any pymongo option.
    server_selection_timeout_ms : int, optional
        Milliseconds each operation waits for a usable server before it raises
        :class:`~workbench.errors.StoreError`; pymongo's ``serverSelectionTimeoutMS``. By default the
        URL's ``serverSelectionTimeoutMS``, or :data:`SERVER_SELECTION_TIMEOUT_MS` if it has none.
    join : {"auto", "server", "client"}
        Where :meth:`fetch_predictions` joins predictions with labels: with ``$lookup`` on the server,
        in Python, or with ``$lookup`` until the server reports that it lacks the stage.
    transactions : bool, optional
        Write batches in a multi-document transaction. None uses them when the server supports them,
        that is, when it is a replica set member or a ``mongos``. True raises StoreError on a server
        without them, and False never uses them.
    **client_options
        Further keyword arguments for :class:`pymongo.MongoClient`; they take precedence over the same
        options in the URL.

    Raises
    ------
    ConfigError
        If an option or the URL is invalid.
    StoreError
        If the server cannot be reached, or the indexes cannot be created.
    """

    def __init__(
        self,
        url: str,
        *,
        server_selection_timeout_ms: int | None = None,
        join: Literal["auto", "server", "client"] = "auto",
        transactions: bool | None = None,
        **client_options: Any,
    ) -> None:
        self.url = url
        self._masked_url = mask_mongodb_url(url)
        self._password = _password_forms(url)
        _check_options(server_selection_timeout_ms, join)
        self._join = join

        # pymongo lets keyword arguments override the URL's options, so the default timeout is passed
        # only when the URL sets none.
        options: dict[str, Any] = {"tz_aware": True, "appname": "workbench"}
        if server_selection_timeout_ms is not None:
            options["serverSelectionTimeoutMS"] = server_selection_timeout_ms
        elif "serverselectiontimeoutms" not in _url_option_names(url):
            options["serverSelectionTimeoutMS"] = SERVER_SELECTION_TIMEOUT_MS
        options.update(client_options)

        try:
            self._client: MongoClient[dict[str, Any]] = MongoClient(url, **options)
        except (ConfigurationError, TypeError, ValueError) as exc:
            raise ConfigError(
                f"Store URL {self._masked_url!r} or its options are invalid: {self._scrub(exc)}. Use a URL "
                "such as mongodb://127.0.0.1:27017/workbench.",
                name="WORKBENCH_STORE_URL", value=self._masked_url,
            ) from None

        try:
            with self._errors("Opening"):
                self._database = self._client.get_default_database(DEFAULT_DATABASE)
                self._models = self._database["models"]
                self._predictions = self._database["predictions"]
                self._labels = self._database["labels"]
                self._alerts = self._database["alerts"]
                self._experiments = self._database["experiments"]
                self._exposures = self._database["exposures"]
                self._outcomes = self._database["outcomes"]
                hello = self._client.admin.command("hello")
                self._create_indexes()
            self._transactions = self._resolve_transactions(transactions, hello)
        except BaseException:
            self._client.close()
            raise
        logger.debug("opened MongoDB store %s (database %s, transactions %s, join %s)",
                     self._masked_url, self._database.name, self._transactions, self._join)

    @property
    def database_name(self) -> str:
        """Name of the database that contains the store's collections."""
        return self._database.name

    @property
    def uses_transactions(self) -> bool:
        """Whether write batches run in multi-document transactions."""
        return self._transactions

    @property
    def join(self) -> str:
        """Where predictions are joined with labels: ``"server"``, ``"client"`` or still ``"auto"``."""
        return self._join

    # Models ------------------------------------------------------------------------------------------

    def insert_model(self, record: dict[str, Any]) -> None:
        model_id = record["model_id"]
        document = {"_id": model_id, "record": encode_record(record)}
        with self._errors("Writing to"):
            try:
                self._models.insert_one(document)
            except DuplicateKeyError:
                raise ConflictError(
                    f"Model {model_id!r} is already registered; register a new version or change its stage."
                ) from None

    def get_model(self, model_id: str) -> dict[str, Any] | None:
        with self._errors("Reading"):
            document = self._models.find_one({"_id": model_id})
        return None if document is None else decode_record(document["record"])

    def list_models(self) -> list[dict[str, Any]]:
        with self._errors("Reading"):
            documents = list(self._models.find({}, sort=[("_id", ASCENDING)]))
        return [decode_record(document["record"]) for document in documents]

    def update_model(self, model_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        # A compare-and-swap on the stored text: the replacement applies only if no other writer changed
        # the record since it was read, which makes the read-modify-write atomic without a transaction.
        # NOTE: not on FerretDB 1.24, which runs an update as a query followed by a write by _id without
        # checking the filter again, so two concurrent updates can both match and one change is lost.
        for _ in range(_MODEL_UPDATE_ATTEMPTS):
            with self._errors("Reading"):
                document = self._models.find_one({"_id": model_id})
            if document is None:
                raise NotFoundError(f"Model {model_id!r} is not registered.", kind="model", key=model_id)

            record = decode_record(document["record"])
            record.update(changes)
            with self._errors("Writing to"):
                result = self._models.replace_one(
                    {"_id": model_id, "record": document["record"]},
                    {"_id": model_id, "record": encode_record(record)},
                )
            if result.matched_count == 1:
                return record
            logger.info("model %s changed while it was updated; reading it again", model_id)
        raise StoreError(
            f"Model {model_id!r} changed {_MODEL_UPDATE_ATTEMPTS} times while it was updated in the MongoDB "
            f"store at {self._masked_url}; try the update again."
        )

    # Predictions and labels --------------------------------------------------------------------------

    def insert_predictions(self, rows: Sequence[dict[str, Any]]) -> int:
        check_rows(rows, PREDICTION_FIELDS, "timestamp")
        documents = _first_per_prediction_id([_prediction_document(row) for row in rows])
        if not documents:
            return 0
        if self._transactions:
            return self._run_in_transaction(lambda session: self._insert_new_predictions(documents, session))

        # NOTE: without a transaction this batch is not atomic. Rows were validated above, so what remains
        # are server-side failures (a lost connection, a full disk, a write-concern timeout) that can
        # leave part of the batch stored. Sending the batch again stores the rest, because stored
        # prediction ids are skipped.
        advice = "Part of the batch may be stored; send it again, and the predictions already stored are skipped."
        with self._errors("Writing predictions to", advice):
            return len(documents) - len(self._insert_unordered(self._predictions, documents, "predictions"))

    def insert_labels(self, rows: Sequence[dict[str, Any]]) -> int:
        check_rows(rows, LABEL_FIELDS, "timestamp")
        if not rows:
            return 0
        # In batch order, so that of two labels for one prediction the later one is kept, as in SQLite.
        operations = [
            ReplaceOne({"prediction_id": row["prediction_id"]}, _label_document(row), upsert=True) for row in rows
        ]
        if self._transactions:
            self._run_in_transaction(lambda session: self._labels.bulk_write(operations, session=session))
            return len(rows)

        # Without a transaction a failure part-way through leaves the first labels written. Sending the
        # batch again is safe, because a label replaces any earlier one for its prediction.
        # FerretDB 1.24 sends no reply to one command that replaces about 100 or more stored labels, because
        # each replacement keeps one of the database's 100 connections until the command ends. The
        # replacements therefore go in commands of LABEL_REPLACE_BATCH, in order.
        with self._errors("Writing labels to", "Part of the batch may be stored; send it again."):
            for offset in range(0, len(operations), LABEL_REPLACE_BATCH):
                try:
                    self._labels.bulk_write(operations[offset:offset + LABEL_REPLACE_BATCH], ordered=True)
                except BulkWriteError as exc:
                    raise StoreError(self._partial_write_message("labels", exc, len(rows), offset)) from exc
        return len(rows)

    def fetch_predictions(
        self,
        model_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        last: int | None = None,
    ) -> pd.DataFrame:
        if last is not None and last < 0:
            raise ValidationError(f"last={last} is invalid; give a count of 0 or more, or None for every row.",
                                  field="last", value=last)
        if last == 0:
            return _prediction_frame([])

        query: dict[str, Any] = {"model_id": model_id}
        bounds = {}
        if start is not None:
            bounds["$gte"] = to_micros(start)
        if end is not None:
            bounds["$lt"] = to_micros(end)
        if bounds:
            query["timestamp_us"] = bounds

        documents = self._fetch_joined(query, last)
        if last is not None:
            # Fetched newest first so that the limit keeps the newest rows. The frame is oldest first.
            documents.reverse()
        return _prediction_frame(documents)

    def count_predictions(self, model_id: str | None = None) -> int:
        query = {} if model_id is None else {"model_id": model_id}
        with self._errors("Reading"):
            return self._predictions.count_documents(query)

    # Alerts ------------------------------------------------------------------------------------------

    def insert_alert(self, alert: dict[str, Any]) -> bool:
        check_rows([alert], ALERT_FIELDS, "created_at")
        document = {
            "_id": alert["alert_id"],
            "model_id": alert["model_id"],
            "window_key": alert["window_key"],
            "kind": alert["kind"],
            "created_at": alert["created_at"],
            "created_at_us": to_micros(alert["created_at"]),
            "record": encode_record(alert),
        }
        with self._errors("Writing to"):
            try:
                self._alerts.insert_one(document)
            except DuplicateKeyError:
                # The alert id, or the model id, window key and kind, is already stored.
                return False
        return True

    def list_alerts(self, model_id: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        if limit is not None and limit < 0:
            raise ValidationError(f"limit={limit} is invalid; give a count of 0 or more, or None for every alert.",
                                  field="limit", value=limit)
        if limit == 0:
            return []
        query = {} if model_id is None else {"model_id": model_id}
        with self._errors("Reading"):
            # pymongo reads a limit of 0 as "no limit".
            documents = list(self._alerts.find(
                query, {"record": 1}, sort=[("created_at_us", DESCENDING), ("_id", DESCENDING)], limit=limit or 0,
            ))
        return [decode_record(document["record"]) for document in documents]

    # Lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        self._client.close()

    # Helpers -----------------------------------------------------------------------------------------

    def _create_indexes(self) -> None:
        """Create the store's indexes. Creating an index that exists with the same keys does nothing."""
        indexes = [
            (self._predictions, IndexModel([("prediction_id", ASCENDING)], unique=True, name="prediction_id_unique")),
            # Serves fetch_predictions' filter on model id and time and its sort on time, then id.
            (self._predictions, IndexModel(
                [("model_id", ASCENDING), ("timestamp_us", ASCENDING), ("prediction_id", ASCENDING)],
                name="model_id_timestamp",
            )),
            (self._labels, IndexModel([("prediction_id", ASCENDING)], unique=True, name="prediction_id_unique")),
            (self._alerts, IndexModel([("model_id", ASCENDING), ("window_key", ASCENDING), ("kind", ASCENDING)],
                                      unique=True, name="model_id_window_key_kind_unique")),
            (self._alerts, IndexModel([("model_id", ASCENDING), ("created_at_us", ASCENDING)],
                                      name="model_id_created_at")),
            *self._experiment_indexes(),
        ]
        # One createIndexes command per index, because FerretDB 1.24.2 removes already existing indexes
        # from a command's list by their original position. A list with two existing indexes makes it
        # panic and close the connection, and a third, new one after them is not created.
        for collection, index in indexes:
            collection.create_indexes([index])

    def _resolve_transactions(self, requested: bool | None, hello: dict[str, Any]) -> bool:
        # MongoDB has multi-document transactions on replica sets and through mongos only. A standalone
        # server, and FerretDB 1.24, return a hello response without "setName" and without "isdbgrid".
        supported = "setName" in hello or hello.get("msg") == "isdbgrid"
        if requested and not supported:
            raise StoreError(
                f"The MongoDB server at {self._masked_url} does not support transactions: it is neither a "
                "replica set member nor a mongos. Connect to a replica set, or pass transactions=None to "
                "write without them."
            )
        return supported if requested is None else requested

    def _run_in_transaction(self, callback: Callable[[ClientSession], _T]) -> _T:
        """Run ``callback`` in a transaction, which pymongo retries after transient errors for up to 120 s."""
        # NOTE: FerretDB 1.24, the default test server, has no transactions, so this path runs only when
        # WORKBENCH_TEST_MONGODB_URL points the store tests at a replica set.
        advice = "The batch is stored whole or not at all, so sending it again is safe."
        with self._errors("Writing to", advice), self._client.start_session() as session:
            return session.with_transaction(callback)

    def _insert_new_predictions(self, documents: list[dict[str, Any]], session: ClientSession) -> int:
        """Insert the documents whose prediction id is not stored yet, inside the session's transaction."""
        ids = [document["prediction_id"] for document in documents]
        stored = {
            document["prediction_id"]
            for document in self._predictions.find(
                {"prediction_id": {"$in": ids}}, {"_id": 0, "prediction_id": 1}, session=session
            )
        }
        # Copies, because insert_many adds an _id to each document and a retried transaction runs this again.
        new = [dict(document) for document in documents if document["prediction_id"] not in stored]
        if new:
            self._predictions.insert_many(new, ordered=True, session=session)
        return len(new)

    def _insert_unordered(self, collection: Collection[dict[str, Any]], documents: list[dict[str, Any]],
                          kind: str) -> list[int]:
        """Insert every document and return the positions of those whose unique key is already stored.

        ``kind``, such as "predictions", names the rows in the error message of any other failure.
        """
        try:
            collection.insert_many(documents, ordered=False)
        except BulkWriteError as exc:
            if _write_failures(exc):
                raise StoreError(self._partial_write_message(kind, exc, len(documents))) from exc
            return [error["index"] for error in exc.details.get("writeErrors", [])]
        return []

    def _partial_write_message(self, kind: str, exc: BulkWriteError, total: int, already: int = 0) -> str:
        """Describe a failed bulk write; ``already`` counts rows written by earlier commands of the batch."""
        failures = _write_failures(exc)
        first = failures[0].get("errmsg", "no message") if failures else "no message"
        written = already + sum(exc.details.get(name, 0) for name in ("nInserted", "nUpserted", "nMatched"))
        return (
            f"Writing {kind} to the MongoDB store at {self._masked_url} failed: {self._scrub(first)}. "
            f"{written} of {total} rows were written. Fix the cause and send the batch again; rows already "
            "stored are not stored twice."
        )

    def _fetch_joined(self, query: dict[str, Any], last: int | None) -> list[dict[str, Any]]:
        """Return prediction documents with a ``label`` field holding the label document or None."""
        with self._errors("Reading"):
            if self._join != "client":
                try:
                    return self._fetch_with_lookup(query, last)
                except OperationFailure as exc:
                    if exc.code not in _MISSING_STAGE_CODES:
                        raise
                    if self._join == "server":
                        raise StoreError(
                            f"The MongoDB server at {self._masked_url} cannot join labels with $lookup: "
                            f"{self._scrub(exc)}. Open the store with join='client' or join='auto'."
                        ) from exc
                    logger.info("MongoDB server at %s lacks $lookup (%s); joining labels in Python from now on",
                                self._masked_url, self._scrub(exc))
                    self._join = "client"
            return self._fetch_then_join(query, last)

    def _fetch_with_lookup(self, query: dict[str, Any], last: int | None) -> list[dict[str, Any]]:
        # NOTE: FerretDB 1.24, the default test server, has no $lookup, so this path runs only when
        # WORKBENCH_TEST_MONGODB_URL points the store tests at MongoDB.
        direction = ASCENDING if last is None else DESCENDING
        pipeline: list[dict[str, Any]] = [
            {"$match": query},
            {"$sort": {"timestamp_us": direction, "prediction_id": direction}},
        ]
        if last is not None:
            pipeline.append({"$limit": last})
        pipeline += [
            {"$lookup": {"from": self._labels.name, "localField": "prediction_id",
                         "foreignField": "prediction_id", "as": "labels"}},
            {"$project": {**_PREDICTION_PROJECTION, "labels.label": 1, "labels.timestamp_us": 1}},
        ]
        documents = list(self._predictions.aggregate(pipeline))
        for document in documents:
            # The unique index on labels.prediction_id allows at most one match.
            labels = document.pop("labels")
            document["label"] = labels[0] if labels else None
        return documents

    def _fetch_then_join(self, query: dict[str, Any], last: int | None) -> list[dict[str, Any]]:
        direction = ASCENDING if last is None else DESCENDING
        documents = list(self._predictions.find(
            query, _PREDICTION_PROJECTION,
            sort=[("timestamp_us", direction), ("prediction_id", direction)], limit=last or 0,
        ))
        ids = [document["prediction_id"] for document in documents]
        labels: dict[str, dict[str, Any]] = {}
        for offset in range(0, len(ids), _LABEL_QUERY_BATCH):
            batch = ids[offset:offset + _LABEL_QUERY_BATCH]
            for label in self._labels.find({"prediction_id": {"$in": batch}},
                                           {"_id": 0, "prediction_id": 1, "label": 1, "timestamp_us": 1}):
                labels[label["prediction_id"]] = label
        for document in documents:
            document["label"] = labels.get(document["prediction_id"])
        return documents

    @contextmanager
    def _errors(self, action: str, advice: str = "") -> Iterator[None]:
        """Turn pymongo errors into StoreError naming the masked URL, with ``action`` such as "Reading"."""
        try:
            yield
        except PyMongoError as exc:
            raise self._store_error(action, exc, advice) from exc
        except BSONError as exc:
            # Raised by pymongo while it encodes a command, such as for an id that is a set or a string
            # with a lone surrogate.
            raise ValidationError(
                f"A value cannot be stored in the MongoDB store at {self._masked_url}: {self._scrub(exc)}. "
                "Ids, window keys and alert kinds must be strings or numbers."
            ) from exc

    def _store_error(self, action: str, exc: PyMongoError, advice: str = "") -> StoreError:
        reason = self._scrub(exc)
        if not isinstance(exc, ConnectionFailure):
            return StoreError(f"{action} the MongoDB store at {self._masked_url} failed: {reason}. {advice}".rstrip())

        # pymongo appends the whole topology description, which repeats the reason at length.
        reason = reason.split(", Topology Description:")[0]
        fix = "Start the MongoDB server, or check the host, port and credentials in the store URL (WORKBENCH_STORE_URL)."
        next_steps = f"{advice} {fix}" if advice else fix
        return StoreError(
            f"{action} the MongoDB store at {self._masked_url} failed because no connection to the server "
            f"could be made or kept: "
            f"{reason}. {next_steps}"
        )

    def _scrub(self, value: object) -> str:
        """Return ``str(value)`` with the URL's password replaced by ``***``."""
        text = str(value)
        for form in self._password:
            text = text.replace(form, "***")
        return text


def _write_failures(exc: BulkWriteError) -> list[dict[str, Any]]:
    """Return the write errors other than duplicate keys, and the write-concern errors, of a bulk write."""
    failures = [error for error in exc.details.get("writeErrors", []) if error.get("code") not in _DUPLICATE_KEY_CODES]
    return failures + exc.details.get("writeConcernErrors", [])


def _check_options(server_selection_timeout_ms: int | None, join: str) -> None:
    if join not in JOIN_MODES:
        raise ConfigError(f"join={join!r} is invalid; use one of {', '.join(JOIN_MODES)}.", name="join", value=join)
    if server_selection_timeout_ms is None:
        return
    if not isinstance(server_selection_timeout_ms, int) or server_selection_timeout_ms <= 0:
        raise ConfigError(
            f"server_selection_timeout_ms={server_selection_timeout_ms!r} is invalid; give a positive whole "
            "number of milliseconds, such as 5000.",
            name="server_selection_timeout_ms", value=server_selection_timeout_ms,
        )


def _url_option_names(url: str) -> set[str]:
    """Return the names of the options in the URL's query in lower case, as MongoDB matches them."""
    return {name.lower() for name, _ in parse_qsl(urlsplit(url).query)}


def mask_mongodb_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``, also for replica-set URLs with several hosts.

    >>> mask_mongodb_url("mongodb://reader:s3cret@db1:27017,db2:27017/workbench?replicaSet=rs0")
    'mongodb://reader:***@db1:27017,db2:27017/workbench?replicaSet=rs0'
    """
    try:
        return mask_url(url)
    except ValueError:
        # urlsplit cannot read the port of a host list such as "h1:27017,h2:27017", so mask_url fails.
        pass
    scheme, separator, rest = url.partition("://")
    authority, slash, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{separator}{user}:***@{hosts}{slash}{tail}"


def _password_forms(url: str) -> tuple[str, ...]:
    """Return the URL's password as written and decoded, to scrub from messages."""
    password = urlsplit(url).password
    if not password:
        return ()
    return tuple({password, unquote(password), unquote_plus(password)})


def _prediction_document(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "prediction_id": row["prediction_id"],
        "model_id": row["model_id"],
        "timestamp": row["timestamp"],
        "timestamp_us": to_micros(row["timestamp"]),
        "features": json.dumps(row["features"], allow_nan=True),
        "prediction": json.dumps(row["prediction"]),
        "probability": None if row.get("probability") is None else json.dumps(row["probability"]),
    }


def _label_document(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "prediction_id": row["prediction_id"],
        "model_id": row["model_id"],
        "label": json.dumps(row["label"]),
        "timestamp": row["timestamp"],
        "timestamp_us": to_micros(row["timestamp"]),
    }


def _first_per_prediction_id(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeats of a prediction id within a batch, keeping the first row as SQLite's INSERT OR IGNORE does."""
    seen: set[Any] = set()
    unique = []
    for index, document in enumerate(documents):
        prediction_id = document["prediction_id"]
        try:
            if prediction_id in seen:
                continue
        except TypeError:
            raise ValidationError(
                f"Row {index} has prediction_id={prediction_id!r}; give a string. Nothing was stored.",
                field="prediction_id", value=prediction_id,
            ) from None
        seen.add(prediction_id)
        unique.append(document)
    return unique


def _prediction_frame(documents: list[dict[str, Any]]) -> pd.DataFrame:
    """Build the predictions DataFrame, with the SQLite store's columns and dtypes, from joined documents."""
    loads = json.loads
    labels = [document["label"] for document in documents]
    return pd.DataFrame(
        {
            "prediction_id": [document["prediction_id"] for document in documents],
            "model_id": [document["model_id"] for document in documents],
            "timestamp": pd.to_datetime(
                np.array([document["timestamp_us"] for document in documents], dtype="int64"), unit="us", utc=True
            ),
            "features": [loads(document["features"]) for document in documents],
            "prediction": [loads(document["prediction"]) for document in documents],
            "probability": [None if document.get("probability") is None else loads(document["probability"])
                            for document in documents],
            # dtype=object keeps None for a missing label and the labels' own types, where pandas would
            # otherwise turn [0, None, 1] into floats with NaN.
            "label": pd.Series([None if label is None else loads(label["label"]) for label in labels], dtype=object),
            "label_timestamp": pd.to_datetime(
                pd.array([None if label is None else label["timestamp_us"] for label in labels], dtype="Int64"),
                unit="us", utc=True,
            ),
        },
        columns=list(PREDICTION_COLUMNS),
    )
