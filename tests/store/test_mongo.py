"""Behaviour of the MongoDB store beyond the contract: indexes, URLs and errors, the client-side join,
values that FerretDB rejects in documents, and the monitor on top of the store.

Tests that need a server take the ``mongodb_url`` fixture of conftest.py, which gives each test a
database of its own and skips the test when the server cannot be reached.
"""

from __future__ import annotations

import logging
import math
import sys
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from pymongo import MongoClient
from pymongo.database import Database
from pymongo.errors import OperationFailure

from workbench.config import Settings
from workbench.errors import ConfigError, StoreError, ValidationError
from workbench.monitoring import Monitor, compute_baseline
from workbench.store import SQLiteStore, Store, open_store
from workbench.store.mongo import MongoStore
from workbench.timeutil import to_micros

T0 = datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
MODEL = "lesion-classifier:1"

# Nothing listens on port 1 of the loopback address, so connecting fails at once with "connection refused".
UNREACHABLE_URL = "mongodb://reader:secret@127.0.0.1:1/workbench"
MASKED_UNREACHABLE_URL = "mongodb://reader:***@127.0.0.1:1/workbench"
SHORT_TIMEOUT_MS = 300


def _prediction(prediction_id, timestamp: datetime = T0, model_id=MODEL, **changes) -> dict:
    row = {
        "prediction_id": prediction_id,
        "model_id": model_id,
        "timestamp": timestamp,
        "features": {"intensity": 95.5, "modality": "CT", "volume": None},
        "prediction": 1,
        "probability": [0.25, 0.75],
    }
    row.update(changes)
    return row


def _label(prediction_id: str, label, timestamp: datetime = T0) -> dict:
    return {"prediction_id": prediction_id, "model_id": MODEL, "label": label, "timestamp": timestamp}


@pytest.fixture
def store(mongodb_url: str) -> Iterator[MongoStore]:
    with MongoStore(mongodb_url) as opened:
        yield opened


@pytest.fixture
def database(mongodb_url: str) -> Iterator[Database]:
    """The test database, read directly with pymongo."""
    client: MongoClient = MongoClient(mongodb_url, tz_aware=True)
    yield client.get_default_database()
    client.close()


def _server_has_lookup(url: str) -> bool:
    """Return whether the server runs the $lookup stage, which FerretDB 1.24 lacks."""
    client: MongoClient = MongoClient(url)
    pipeline = [{"$lookup": {"from": "labels", "localField": "prediction_id", "foreignField": "prediction_id",
                             "as": "labels"}}]
    try:
        list(client.get_default_database()["predictions"].aggregate(pipeline))
    except OperationFailure:
        return False
    finally:
        client.close()
    return True


def _server_is_ferretdb(url: str) -> bool:
    client: MongoClient = MongoClient(url)
    try:
        return "ferretdbVersion" in client.admin.command("buildInfo")
    finally:
        client.close()


# Indexes and storage layout ----------------------------------------------------------------------------


def test_mongo_prediction_indexes(store: MongoStore, database: Database) -> None:
    indexes = database["predictions"].index_information()

    assert indexes["prediction_id_unique"]["key"] == [("prediction_id", 1)]
    assert indexes["prediction_id_unique"]["unique"] is True
    assert indexes["model_id_timestamp"]["key"] == [("model_id", 1), ("timestamp_us", 1), ("prediction_id", 1)]


def test_mongo_label_and_alert_indexes(store: MongoStore, database: Database) -> None:
    labels = database["labels"].index_information()
    alerts = database["alerts"].index_information()

    assert labels["prediction_id_unique"]["key"] == [("prediction_id", 1)]
    assert labels["prediction_id_unique"]["unique"] is True
    assert alerts["model_id_window_key_kind_unique"]["key"] == [("model_id", 1), ("window_key", 1), ("kind", 1)]
    assert alerts["model_id_window_key_kind_unique"]["unique"] is True
    assert alerts["model_id_created_at"]["key"] == [("model_id", 1), ("created_at_us", 1)]


def test_mongo_reopen_keeps_indexes_and_data(mongodb_url: str, database: Database) -> None:
    with MongoStore(mongodb_url) as first:
        first.insert_predictions([_prediction("pred-1")])
    before = database["predictions"].index_information()

    with MongoStore(mongodb_url) as second:
        count = second.count_predictions()

    assert count == 1
    assert database["predictions"].index_information() == before


def test_mongo_timestamp_stored_as_date_and_micros(store: MongoStore, database: Database) -> None:
    store.insert_predictions([_prediction("pred-1")])

    document = database["predictions"].find_one({"prediction_id": "pred-1"})

    # A BSON date keeps milliseconds only, so the integer field keeps the microseconds.
    assert document["timestamp"] == T0.replace(microsecond=123000)
    assert document["timestamp_us"] == to_micros(T0)


def test_mongo_database_from_url(store: MongoStore, mongodb_url: str) -> None:
    assert mongodb_url.split("?")[0].endswith(f"/{store.database_name}")


# Values that FerretDB rejects in documents -------------------------------------------------------------


def test_mongo_features_with_nan_and_dotted_keys(store: MongoStore) -> None:
    features = {"roi.mean": math.nan, "$scale": math.inf, "volume": None}
    store.insert_predictions([_prediction("pred-1", features=features)])

    stored = store.fetch_predictions(MODEL)["features"].iloc[0]

    assert sorted(stored) == ["$scale", "roi.mean", "volume"]
    assert math.isnan(stored["roi.mean"])
    assert stored["$scale"] == math.inf
    assert stored["volume"] is None


def test_mongo_model_record_with_dotted_keys(store: MongoStore) -> None:
    record = {"model_id": MODEL, "baseline": {"quantiles": {"0.5": 99.5, "0.95": 120.0}}, "created_at": T0}

    store.insert_model(record)

    assert store.get_model(MODEL) == record


# Joins ---------------------------------------------------------------------------------------------------


def _fill(store: Store) -> None:
    """Five predictions a minute apart, three labels (one for an unknown prediction) and another model."""
    store.insert_predictions([_prediction(f"pred-{minute}", T0 + timedelta(minutes=minute)) for minute in range(5)])
    store.insert_predictions([_prediction("other-0", model_id="report-reader:1")])
    store.insert_labels([
        _label("pred-1", 0, T0 + timedelta(days=1)),
        _label("pred-3", "malignant", T0 + timedelta(days=2)),
        _label("pred-9", 1),
    ])


WINDOWS = [
    {},
    {"start": T0 + timedelta(minutes=1)},
    {"end": T0 + timedelta(minutes=4)},
    {"last": 2},
    {"start": T0 + timedelta(minutes=1), "end": T0 + timedelta(minutes=4), "last": 2},
    {"last": 0},
]


@pytest.mark.parametrize("join", ["client", "server"])
def test_mongo_join_matches_sqlite(mongodb_url: str, join: str) -> None:
    if join == "server" and not _server_has_lookup(mongodb_url):
        pytest.skip("the server has no $lookup stage (FerretDB 1.24), so only the client-side join runs")

    with MongoStore(mongodb_url, join=join) as mongo, SQLiteStore(":memory:") as sqlite:
        _fill(mongo)
        _fill(sqlite)

        for window in WINDOWS:
            pd.testing.assert_frame_equal(mongo.fetch_predictions(MODEL, **window),
                                          sqlite.fetch_predictions(MODEL, **window), obj=str(window))
        assert mongo.join == join


def test_mongo_client_join_in_batches(mongodb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Two ids per labels query, so that five labelled predictions need three queries.
    monkeypatch.setattr("workbench.store.mongo._LABEL_QUERY_BATCH", 2)

    with MongoStore(mongodb_url, join="client") as store:
        store.insert_predictions([_prediction(f"pred-{minute}", T0 + timedelta(minutes=minute)) for minute in range(5)])
        store.insert_labels([_label(f"pred-{minute}", minute % 2) for minute in range(5)])

        labels = store.fetch_predictions(MODEL)["label"].tolist()

    assert labels == [0, 1, 0, 1, 0]


def test_mongo_auto_join_falls_back_to_client(store: MongoStore, mongodb_url: str,
                                              caplog: pytest.LogCaptureFixture) -> None:
    if _server_has_lookup(mongodb_url):
        pytest.skip("the server runs $lookup, so the automatic join stays on the server")
    store.insert_predictions([_prediction("pred-1")])
    store.insert_labels([_label("pred-1", 0)])

    with caplog.at_level(logging.INFO, logger="workbench.store.mongo"):
        labels = store.fetch_predictions(MODEL)["label"].tolist()

    assert labels == [0]
    assert store.join == "client"
    assert "lacks $lookup" in caplog.text


def test_mongo_server_join_without_lookup_raises(mongodb_url: str) -> None:
    if _server_has_lookup(mongodb_url):
        pytest.skip("the server runs $lookup")

    with (MongoStore(mongodb_url, join="server") as store,
          pytest.raises(StoreError, match=r"cannot join labels with \$lookup.*join='client'")):
        store.fetch_predictions(MODEL)


def test_mongo_fetch_negative_last_rejected(store: MongoStore) -> None:
    with pytest.raises(ValidationError, match="last=-1 is invalid"):
        store.fetch_predictions(MODEL, last=-1)


# Writes without transactions ---------------------------------------------------------------------------


def test_mongo_transactions_required_on_standalone_raises(mongodb_url: str) -> None:
    with MongoStore(mongodb_url) as probe:
        supported = probe.uses_transactions
    if supported:
        pytest.skip("the server is a replica set member or a mongos, so it has transactions")

    with pytest.raises(StoreError, match="does not support transactions"):
        MongoStore(mongodb_url, transactions=True)


def test_mongo_unordered_insert_counts_duplicates_as_stored(mongodb_url: str) -> None:
    with MongoStore(mongodb_url, transactions=False) as store:
        store.insert_predictions([_prediction("pred-1"), _prediction("pred-2")])

        stored = store.insert_predictions([_prediction("pred-2"), _prediction("pred-3"), _prediction("pred-1")])

        assert stored == 1
        assert store.count_predictions() == 3


def test_mongo_unordered_insert_other_error_raises(mongodb_url: str) -> None:
    if not _server_is_ferretdb(mongodb_url):
        pytest.skip("MongoDB 5.0 and newer accept field names with '.', so the write below succeeds there")

    with MongoStore(mongodb_url, transactions=False) as store:
        store.insert_predictions([_prediction("pred-1")])
        # FerretDB rejects the middle row for its key "roi.x": a write error that is not a duplicate key.
        batch = [_prediction("pred-1"), _prediction("pred-2", model_id={"roi.x": 1}), _prediction("pred-3")]

        with pytest.raises(StoreError, match="invalid key") as excinfo:
            store.insert_predictions(batch)

        assert "1 of 3 rows were written" in str(excinfo.value)
        assert store.count_predictions() == 2


def test_mongo_unencodable_model_id_rejected(store: MongoStore) -> None:
    with pytest.raises(ValidationError, match="cannot be stored in the MongoDB store"):
        store.insert_predictions([_prediction("pred-1", model_id={"lesion-classifier", "1"})])

    assert store.count_predictions() == 0


def test_mongo_unhashable_prediction_id_rejected(store: MongoStore) -> None:
    with pytest.raises(ValidationError, match="^Row 1 has prediction_id="):
        store.insert_predictions([_prediction("pred-1"), _prediction(["pred-2"])])

    assert store.count_predictions() == 0


# URLs, options and connection errors -------------------------------------------------------------------


def test_mongo_unreachable_error_masks_password(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(StoreError) as excinfo:
        MongoStore(UNREACHABLE_URL, server_selection_timeout_ms=SHORT_TIMEOUT_MS)

    message = str(excinfo.value)
    assert MASKED_UNREACHABLE_URL in message
    assert "Start the MongoDB server" in message
    assert "secret" not in message
    assert "secret" not in "".join(traceback.format_exception(excinfo.value))
    assert "secret" not in caplog.text


def test_mongo_unreachable_replica_set_masks_password() -> None:
    url = "mongodb://reader:secret@127.0.0.1:1,127.0.0.1:2/workbench"

    with pytest.raises(StoreError) as excinfo:
        MongoStore(url, server_selection_timeout_ms=SHORT_TIMEOUT_MS)

    assert "mongodb://reader:***@127.0.0.1:1,127.0.0.1:2/workbench" in str(excinfo.value)
    assert "secret" not in str(excinfo.value)


def test_mongo_timeout_from_url_option() -> None:
    with pytest.raises(StoreError, match=r"Timeout: 0\.3s"):
        open_store(f"{UNREACHABLE_URL}?serverSelectionTimeoutMS={SHORT_TIMEOUT_MS}")


def test_mongo_closed_store_raises(store: MongoStore) -> None:
    store.close()

    with pytest.raises(StoreError, match="^Reading the MongoDB store at"):
        store.count_predictions()


@pytest.mark.parametrize("options, name", [
    ({"join": "both"}, "join"),
    ({"server_selection_timeout_ms": 0}, "server_selection_timeout_ms"),
])
def test_mongo_invalid_option_rejected(options: dict, name: str) -> None:
    with pytest.raises(ConfigError, match="is invalid") as excinfo:
        MongoStore(UNREACHABLE_URL, **options)

    assert excinfo.value.name == name


def test_open_store_opens_mongodb(mongodb_url: str) -> None:
    with open_store(mongodb_url) as store:
        assert isinstance(store, MongoStore)


def test_open_store_accepts_mongodb_srv(monkeypatch: pytest.MonkeyPatch) -> None:
    # A real mongodb+srv URL makes pymongo look up DNS records, so the store class is replaced.
    opened = []
    monkeypatch.setattr("workbench.store.mongo.MongoStore", opened.append)

    open_store("mongodb+srv://reader:secret@cluster.example.net/workbench")

    assert opened == ["mongodb+srv://reader:secret@cluster.example.net/workbench"]


def test_open_store_without_pymongo_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes "import pymongo" raise ModuleNotFoundError, as when it is not installed.
    monkeypatch.setitem(sys.modules, "pymongo", None)
    monkeypatch.delitem(sys.modules, "workbench.store.mongo")

    with pytest.raises(ConfigError, match=r"needs pymongo.*workbench\[mongo\]"):
        open_store(UNREACHABLE_URL)


# The monitor on the MongoDB store ----------------------------------------------------------------------


def test_monitor_over_mongo_store(mongodb_url: str, tmp_path) -> None:
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"intensity": rng.normal(100.0, 15.0, 300), "modality": rng.choice(["CT", "MR"], 300)})
    reference_labels = (reference["intensity"] > 100.0).astype(int).to_numpy()
    positive = np.where(reference_labels == 1, 0.9, 0.1)
    baseline = compute_baseline(reference, labels=reference_labels, predictions=reference_labels,
                                probabilities=np.column_stack([1.0 - positive, positive]))
    # The current intensities are two reference standard deviations higher, which the KS test detects.
    current = pd.DataFrame({"intensity": rng.normal(130.0, 15.0, 60), "modality": rng.choice(["CT", "MR"], 60)})
    predictions = (current["intensity"] > 100.0).astype(int).to_numpy()
    settings = Settings(data_dir=tmp_path, store_url=mongodb_url, min_samples=30, min_labels=30)

    with open_store(mongodb_url) as store:
        monitor = Monitor(store=store, settings=settings)
        monitor.registry.register("lesion-classifier", 1, baseline_statistics=baseline)
        stored = monitor.record_batch(
            MODEL, current, predictions, np.column_stack([1 - predictions, predictions]).astype(float),
            labels=predictions,
            prediction_ids=[f"pred-{index}" for index in range(60)],
            timestamps=[T0 + timedelta(minutes=index) for index in range(60)],
        )
        stored_again = monitor.record_batch(
            MODEL, current, predictions, labels=predictions,
            prediction_ids=[f"pred-{index}" for index in range(60)],
            timestamps=[T0 + timedelta(minutes=index) for index in range(60)],
        )
        status = monitor.status(MODEL, "last:100")
        alerts = monitor.alerts(MODEL)
        registered = monitor.registry.get(MODEL)

    assert stored == 60
    assert stored_again == 0
    assert registered.baseline.feature_names == ["intensity", "modality"]
    assert status.window.predictions == 60
    assert status.window.labelled == 60
    assert status.window.first == T0
    assert "intensity" in status.drift.drifted_features
    assert [alert["kind"] for alert in alerts] == ["drift"]
