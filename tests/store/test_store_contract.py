"""The store contract, run against every backend.

Each entry of ``BACKENDS`` opens one backend for one test, in the test's temporary folder or in a
database of its own on a server. Adding an entry runs the whole suite against that backend too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from workbench.errors import ConflictError, NotFoundError, ValidationError
from workbench.store import PREDICTION_COLUMNS, Store, open_store

BACKENDS: dict[str, Callable[[pytest.FixtureRequest], Store]] = {
    "sqlite-file": lambda request: open_store(
        f"sqlite:///{(request.getfixturevalue('tmp_path') / 'contract.db').as_posix()}"
    ),
    "sqlite-memory": lambda request: open_store("sqlite:///:memory:"),
    # FerretDB, or the server at WORKBENCH_TEST_MONGODB_URL. The mongodb_url fixture in conftest.py
    # skips the test when the server cannot be reached.
    "mongodb": lambda request: open_store(request.getfixturevalue("mongodb_url")),
}

T0 = datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
MODEL = "lesion-classifier:1"


@pytest.fixture(params=list(BACKENDS))
def store(request: pytest.FixtureRequest):
    opened = BACKENDS[request.param](request)
    yield opened
    opened.close()


def _prediction(prediction_id: str, timestamp: datetime = T0, model_id: str = MODEL, **changes) -> dict:
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


def _label(prediction_id: str, label, timestamp: datetime = T0, model_id: str = MODEL) -> dict:
    return {"prediction_id": prediction_id, "model_id": model_id, "label": label, "timestamp": timestamp}


def _alert(alert_id: str, created_at: datetime = T0, *, window_key: str = "last:100 ending pred-9",
           kind: str = "drift", model_id: str = MODEL) -> dict:
    return {"alert_id": alert_id, "model_id": model_id, "window_key": window_key, "kind": kind,
            "created_at": created_at, "message": "drift in 1 feature(s): intensity", "features": ["intensity"]}


def _ids(frame: pd.DataFrame) -> list[str]:
    return frame["prediction_id"].tolist()


# Models ------------------------------------------------------------------------------------------------


def test_model_round_trips(store: Store) -> None:
    record = {"model_id": MODEL, "stage": "staging", "metrics": {"accuracy": 0.9, "roc_auc": None},
              "classes": [0, 1], "created_at": T0}

    store.insert_model(record)

    assert store.get_model(MODEL) == record


def test_model_unknown_is_none(store: Store) -> None:
    assert store.get_model("lesion-classifier:9") is None


def test_model_duplicate_conflicts(store: Store) -> None:
    store.insert_model({"model_id": MODEL, "stage": "staging"})

    with pytest.raises(ConflictError, match="'lesion-classifier:1' is already registered"):
        store.insert_model({"model_id": MODEL, "stage": "production"})

    assert store.get_model(MODEL)["stage"] == "staging"


def test_models_listed_by_id(store: Store) -> None:
    for model_id in ("b-model:1", "a-model:2", "a-model:1"):
        store.insert_model({"model_id": model_id})

    assert [record["model_id"] for record in store.list_models()] == ["a-model:1", "a-model:2", "b-model:1"]


def test_model_update_returns_and_persists(store: Store) -> None:
    store.insert_model({"model_id": MODEL, "stage": "staging", "classes": [0, 1]})

    updated = store.update_model(MODEL, {"stage": "production", "updated_at": T0})

    assert updated == {"model_id": MODEL, "stage": "production", "classes": [0, 1], "updated_at": T0}
    assert store.get_model(MODEL) == updated


def test_model_update_unknown_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="'lesion-classifier:9' is not registered") as excinfo:
        store.update_model("lesion-classifier:9", {"stage": "production"})

    assert excinfo.value.key == "lesion-classifier:9"
    assert store.list_models() == []


# Predictions -------------------------------------------------------------------------------------------


def test_predictions_insert_returns_new_count(store: Store) -> None:
    assert store.insert_predictions([_prediction("pred-1"), _prediction("pred-2")]) == 2
    assert store.insert_predictions([_prediction("pred-2"), _prediction("pred-3")]) == 1


def test_predictions_same_id_stored_once(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1")])
    store.insert_predictions([_prediction("pred-1", prediction=0)])

    frame = store.fetch_predictions(MODEL)

    assert store.count_predictions(MODEL) == 1
    assert frame["prediction"].tolist() == [1]


def test_predictions_duplicate_in_batch_stored_once(store: Store) -> None:
    assert store.insert_predictions([_prediction("pred-1"), _prediction("pred-1")]) == 1


def test_predictions_empty_batch(store: Store) -> None:
    assert store.insert_predictions([]) == 0


@pytest.mark.parametrize("bad_row", [
    {key: value for key, value in _prediction("pred-bad").items() if key != "model_id"},
    _prediction("pred-bad", model_id=None),
    _prediction(None),
    _prediction("pred-bad", timestamp=datetime(2026, 3, 2, 8, 0)),
], ids=["model-id-absent", "model-id-none", "prediction-id-none", "naive-timestamp"])
def test_predictions_bad_row_writes_nothing(store: Store, bad_row: dict) -> None:
    batch = [_prediction("pred-1"), bad_row, _prediction("pred-3")]

    with pytest.raises(ValidationError, match="^Row 1 "):
        store.insert_predictions(batch)

    assert store.count_predictions() == 0


def test_predictions_round_trip_values(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1")])

    row = store.fetch_predictions(MODEL).iloc[0]

    assert row["model_id"] == MODEL
    assert row["features"] == {"intensity": 95.5, "modality": "CT", "volume": None}
    assert row["prediction"] == 1
    assert row["probability"] == [0.25, 0.75]
    assert row["label"] is None


def test_predictions_probability_may_be_none(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1", probability=None)])

    assert store.fetch_predictions(MODEL)["probability"].tolist() == [None]


def test_predictions_frame_columns(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1")])

    assert tuple(store.fetch_predictions(MODEL).columns) == PREDICTION_COLUMNS


def test_predictions_empty_frame_columns(store: Store) -> None:
    frame = store.fetch_predictions(MODEL)

    assert frame.empty
    assert tuple(frame.columns) == PREDICTION_COLUMNS


def test_predictions_timestamp_dtype(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1")])
    store.insert_labels([_label("pred-1", 1)])

    frame = store.fetch_predictions(MODEL)

    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
    assert str(frame["label_timestamp"].dtype) == "datetime64[us, UTC]"


def test_predictions_timestamp_keeps_microseconds(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1")])

    stored = store.fetch_predictions(MODEL)["timestamp"].iloc[0].to_pydatetime()

    assert stored == T0
    assert stored.microsecond == 123456
    assert stored.utcoffset() == timedelta(0)


def test_predictions_offset_converted_to_utc(store: Store) -> None:
    local = T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
    store.insert_predictions([_prediction("pred-1", timestamp=local)])

    stored = store.fetch_predictions(MODEL)["timestamp"].iloc[0].to_pydatetime()

    assert stored == T0
    assert stored.utcoffset() == timedelta(0)


def test_predictions_oldest_first(store: Store) -> None:
    store.insert_predictions([
        _prediction("pred-c", T0 + timedelta(minutes=2)),
        _prediction("pred-a", T0),
        _prediction("pred-b", T0 + timedelta(minutes=1)),
    ])

    assert _ids(store.fetch_predictions(MODEL)) == ["pred-a", "pred-b", "pred-c"]


def test_predictions_same_time_ordered_by_id(store: Store) -> None:
    store.insert_predictions([_prediction("pred-b"), _prediction("pred-a")])

    assert _ids(store.fetch_predictions(MODEL)) == ["pred-a", "pred-b"]


@pytest.fixture
def five_minutes(store: Store) -> Store:
    """Predictions pred-0 … pred-4 at T0 + 0 … 4 minutes, and one prediction of another model."""
    store.insert_predictions([_prediction(f"pred-{minute}", T0 + timedelta(minutes=minute)) for minute in range(5)])
    store.insert_predictions([_prediction("other-0", T0, model_id="report-reader:1")])
    return store


def test_fetch_start_inclusive(five_minutes: Store) -> None:
    frame = five_minutes.fetch_predictions(MODEL, start=T0 + timedelta(minutes=3))

    assert _ids(frame) == ["pred-3", "pred-4"]


def test_fetch_end_exclusive(five_minutes: Store) -> None:
    frame = five_minutes.fetch_predictions(MODEL, end=T0 + timedelta(minutes=2))

    assert _ids(frame) == ["pred-0", "pred-1"]


def test_fetch_start_and_end(five_minutes: Store) -> None:
    frame = five_minutes.fetch_predictions(MODEL, start=T0 + timedelta(minutes=1), end=T0 + timedelta(minutes=3))

    assert _ids(frame) == ["pred-1", "pred-2"]


def test_fetch_last_keeps_newest(five_minutes: Store) -> None:
    assert _ids(five_minutes.fetch_predictions(MODEL, last=2)) == ["pred-3", "pred-4"]


def test_fetch_last_within_range(five_minutes: Store) -> None:
    frame = five_minutes.fetch_predictions(MODEL, end=T0 + timedelta(minutes=3), last=2)

    assert _ids(frame) == ["pred-1", "pred-2"]


def test_fetch_only_requested_model(five_minutes: Store) -> None:
    assert _ids(five_minutes.fetch_predictions("report-reader:1")) == ["other-0"]


def test_count_per_model_and_total(five_minutes: Store) -> None:
    assert five_minutes.count_predictions(MODEL) == 5
    assert five_minutes.count_predictions("report-reader:1") == 1
    assert five_minutes.count_predictions() == 6


# Labels ------------------------------------------------------------------------------------------------


def test_label_after_prediction_joined(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1"), _prediction("pred-2")])

    written = store.insert_labels([_label("pred-1", 0, T0 + timedelta(days=1))])

    frame = store.fetch_predictions(MODEL)
    assert written == 1
    assert frame["label"].tolist() == [0, None]
    assert frame["label_timestamp"].iloc[0] == pd.Timestamp(T0 + timedelta(days=1))
    assert frame["label_timestamp"].isna().tolist() == [False, True]


def test_label_before_prediction_joined(store: Store) -> None:
    store.insert_labels([_label("pred-1", "malignant")])
    store.insert_predictions([_prediction("pred-1")])

    assert store.fetch_predictions(MODEL)["label"].tolist() == ["malignant"]


def test_label_replaced_by_second(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1")])
    store.insert_labels([_label("pred-1", 0, T0)])

    store.insert_labels([_label("pred-1", 1, T0 + timedelta(hours=1))])

    frame = store.fetch_predictions(MODEL)
    assert frame["label"].tolist() == [1]
    assert frame["label_timestamp"].iloc[0] == pd.Timestamp(T0 + timedelta(hours=1))


def test_labels_replace_many_stored(store: Store) -> None:
    # 150 replacements in one batch: FerretDB 1.24 sends no reply to a single command this large.
    ids = [f"p{index:03d}" for index in range(150)]
    store.insert_predictions([_prediction(prediction_id) for prediction_id in ids])
    store.insert_labels([_label(prediction_id, 0) for prediction_id in ids])

    written = store.insert_labels([_label(prediction_id, 1) for prediction_id in ids])

    frame = store.fetch_predictions(MODEL)
    assert written == 150
    assert frame["label"].tolist() == [1] * 150


def test_labels_keep_integer_type(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1"), _prediction("pred-2")])
    store.insert_labels([_label("pred-2", 1)])

    labels = store.fetch_predictions(MODEL)["label"].tolist()

    assert labels == [None, 1]
    assert type(labels[1]) is int


def test_labels_bad_row_writes_nothing(store: Store) -> None:
    store.insert_predictions([_prediction("pred-1"), _prediction("pred-2")])

    with pytest.raises(ValidationError, match="^Row 1 .*'label'"):
        store.insert_labels([_label("pred-1", 1), _label("pred-2", None)])

    assert store.fetch_predictions(MODEL)["label"].tolist() == [None, None]


# Alerts ------------------------------------------------------------------------------------------------


def test_alert_stored_once_per_window_and_kind(store: Store) -> None:
    assert store.insert_alert(_alert("alert-1")) is True
    assert store.insert_alert(_alert("alert-2")) is False

    assert [alert["alert_id"] for alert in store.list_alerts()] == ["alert-1"]


def test_alert_other_kind_stored(store: Store) -> None:
    store.insert_alert(_alert("alert-1", kind="drift"))

    assert store.insert_alert(_alert("alert-2", kind="decay")) is True
    assert len(store.list_alerts(MODEL)) == 2


def test_alert_other_window_stored(store: Store) -> None:
    store.insert_alert(_alert("alert-1"))

    assert store.insert_alert(_alert("alert-2", window_key="last:100 ending pred-19")) is True


def test_alert_round_trips(store: Store) -> None:
    alert = _alert("alert-1")

    store.insert_alert(alert)

    assert store.list_alerts() == [alert]


def test_alerts_newest_first(store: Store) -> None:
    for minute in (1, 3, 2):
        store.insert_alert(_alert(f"alert-{minute}", T0 + timedelta(minutes=minute), window_key=f"w{minute}"))

    assert [alert["alert_id"] for alert in store.list_alerts()] == ["alert-3", "alert-2", "alert-1"]


def test_alerts_by_model_and_limit(store: Store) -> None:
    for minute in range(3):
        store.insert_alert(_alert(f"alert-{minute}", T0 + timedelta(minutes=minute), window_key=f"w{minute}"))
    store.insert_alert(_alert("other", T0 + timedelta(hours=1), model_id="report-reader:1"))

    assert [alert["alert_id"] for alert in store.list_alerts(MODEL, limit=2)] == ["alert-2", "alert-1"]
    assert [alert["alert_id"] for alert in store.list_alerts("report-reader:1")] == ["other"]


def test_alert_missing_field_rejected(store: Store) -> None:
    alert = _alert("alert-1")
    del alert["window_key"]

    with pytest.raises(ValidationError, match="'window_key'"):
        store.insert_alert(alert)

    assert store.list_alerts() == []
