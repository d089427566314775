"""The monitor: recording predictions and labels, checking windows, alerts and the model wrapper."""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from workbench.errors import NotFoundError, ValidationError
from workbench.monitoring import Monitor, MonitoredModel, Window, compute_baseline

GOOD_FEATURES = {"intensity": 95.0, "modality": "CT"}


def _stream(rows: int, *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Return current features whose intensity mean is the reference mean of 100 plus ``shift``."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "intensity": rng.normal(100.0 + shift, 15.0, rows),
        "modality": rng.choice(["CT", "MR"], rows),
    })


def _record_stream(
    monitor: Monitor,
    model_id: str,
    frame: pd.DataFrame,
    start: datetime,
    *,
    prefix: str = "pred",
    labels: str | None = "agree",
) -> int:
    """Record ``frame`` one minute apart with the reference model's rule as predictions.

    ``labels`` is ``"agree"`` (labels equal predictions), ``"disagree"`` (every label is the other
    class) or None (no labels yet).
    """
    predictions = (frame["intensity"] > 100.0).astype(int).to_numpy()
    positive = np.where(predictions == 1, 0.9, 0.1)
    label_values = {"agree": predictions, "disagree": 1 - predictions, None: None}[labels]
    return monitor.record_batch(
        model_id, frame, predictions, np.column_stack([1 - positive, positive]),
        labels=label_values,
        prediction_ids=[f"{prefix}-{index}" for index in range(len(frame))],
        timestamps=[start + timedelta(minutes=index) for index in range(len(frame))],
    )


def _label_count(monitor: Monitor) -> int:
    # No store method lists labels without their prediction, so the test reads the SQLite table.
    return monitor.store._conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]


# Recording ---------------------------------------------------------------------------------------------


def test_record_returns_prediction_id(monitor, model_id, t0) -> None:
    returned = monitor.record(model_id, GOOD_FEATURES, 0, [0.8, 0.2], prediction_id="pred-1", timestamp=t0)

    assert returned == "pred-1"
    assert monitor.store.count_predictions(model_id) == 1


def test_record_same_id_stored_once(monitor, model_id, t0) -> None:
    monitor.record(model_id, GOOD_FEATURES, 0, [0.8, 0.2], prediction_id="pred-1", timestamp=t0)
    monitor.record(model_id, GOOD_FEATURES, 0, [0.8, 0.2], prediction_id="pred-1", timestamp=t0)

    assert monitor.store.count_predictions(model_id) == 1


def test_record_label_later_joined(monitor, model_id, t0) -> None:
    monitor.record(model_id, GOOD_FEATURES, 0, [0.8, 0.2], prediction_id="pred-1", timestamp=t0)
    monitor.record_label(model_id, "pred-1", 1, timestamp=t0 + timedelta(days=2))

    window = monitor.load_window(model_id, "all")

    assert window["label"].tolist() == [1]
    assert window["label_timestamp"].iloc[0] == pd.Timestamp(t0 + timedelta(days=2))


def test_record_label_before_prediction_joined(monitor, model_id, t0) -> None:
    monitor.record_label(model_id, "pred-1", 1, timestamp=t0)
    monitor.record(model_id, GOOD_FEATURES, 0, [0.8, 0.2], prediction_id="pred-1", timestamp=t0)

    assert monitor.load_window(model_id, "all")["label"].tolist() == [1]


def test_record_nan_label_means_unknown(monitor, model_id, t0) -> None:
    monitor.record(model_id, GOOD_FEATURES, 0, [0.8, 0.2], label=np.nan, prediction_id="pred-1", timestamp=t0)

    assert monitor.load_window(model_id, "all")["label"].tolist() == [None]


def test_record_labels_replace_earlier(monitor, model_id, t0) -> None:
    monitor.record(model_id, GOOD_FEATURES, 0, [0.8, 0.2], label=0, prediction_id="pred-1", timestamp=t0)

    written = monitor.record_labels(model_id, ["pred-1"], [1], timestamps=[t0 + timedelta(hours=1)])

    assert written == 1
    assert monitor.load_window(model_id, "all")["label"].tolist() == [1]


def test_record_unknown_model_rejected(monitor, model_id, t0) -> None:
    with pytest.raises(NotFoundError, match="Model 'lesion-classifier:9' is not registered"):
        monitor.record("lesion-classifier:9", GOOD_FEATURES, 0, [0.8, 0.2], label=0, timestamp=t0)

    assert monitor.store.count_predictions() == 0
    assert _label_count(monitor) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features": {"intensity": 95.0}}, r"missing \['modality'\]. Send exactly the baseline features"),
        ({"features": {**GOOD_FEATURES, "site_code": "A"}}, r"not in the baseline \['site_code'\]"),
        ({"features": {"intensity": "95", "modality": "CT"}},
         "feature 'intensity' is numeric and got '95' of type str; send a number"),
        ({"probability": [-0.2, 1.2]}, r"\[-0.2, 1.2\] has a negative, NaN or infinite value; send probabilities"),
        ({"probability": [np.nan, 1.0]}, r"\[nan, 1.0\] has a negative, NaN or infinite value"),
        ({"probability": [0.5, 0.6]}, "sums to 1.1, not 1; normalise it"),
        ({"label": 2}, r"label=2 is not one of the model's classes \[0, 1\]; send one of them"),
        ({"prediction": "benign"}, r"prediction='benign' is not one of the model's classes \[0, 1\]"),
        ({"timestamp": "2026-03-02 08:00"}, "has no time zone; give a UTC offset"),
    ],
    ids=["missing-feature", "extra-feature", "string-numeric", "negative-probability", "nan-probability",
         "probability-sum", "unknown-label", "unknown-prediction", "naive-timestamp"],
)
def test_record_bad_input_stores_nothing(monitor, model_id, t0, changes: dict, message: str) -> None:
    arguments = {"features": GOOD_FEATURES, "prediction": 0, "probability": [0.8, 0.2], "label": 1,
                 "timestamp": t0, **changes}

    with pytest.raises(ValidationError, match=message):
        monitor.record(model_id, arguments["features"], arguments["prediction"], arguments["probability"],
                       label=arguments["label"], prediction_id="pred-1", timestamp=arguments["timestamp"])

    assert monitor.store.count_predictions() == 0
    assert _label_count(monitor) == 0


def test_record_batch_counts_new(monitor, model_id, t0) -> None:
    assert _record_stream(monitor, model_id, _stream(50), t0) == 50
    assert _record_stream(monitor, model_id, _stream(50), t0) == 0
    assert monitor.store.count_predictions(model_id) == 50


def test_record_batch_duplicate_ids_stored_once(monitor, model_id, t0) -> None:
    stored = monitor.record_batch(model_id, [GOOD_FEATURES, GOOD_FEATURES], [0, 0],
                                  prediction_ids=["pred-1", "pred-1"], timestamps=[t0, t0])

    assert stored == 1


def test_record_batch_labels_may_be_missing(monitor, model_id, t0) -> None:
    monitor.record_batch(model_id, [GOOD_FEATURES] * 3, [0, 1, 0], labels=[0, None, 1],
                         prediction_ids=["pred-1", "pred-2", "pred-3"], timestamps=[t0] * 3)

    assert monitor.load_window(model_id, "all")["label"].tolist() == [0, None, 1]


@pytest.mark.parametrize(
    ("column", "bad_value", "message"),
    [
        ("features", {"intensity": "high", "modality": "CT"}, "^row 2: feature 'intensity' is numeric"),
        ("features", {"intensity": 95.0}, r"^row 2: features do not match .* missing \['modality'\]"),
        ("probabilities", [0.7, 0.7], "^row 2: probability=.* sums to 1.4"),
        ("labels", 5, r"^row 2: label=5 is not one of the model's classes"),
        ("predictions", 3, r"^row 2: prediction=3 is not one of the model's classes"),
    ],
    ids=["string-numeric", "missing-feature", "probability-sum", "unknown-label", "unknown-prediction"],
)
def test_record_batch_bad_row_stores_nothing(monitor, model_id, t0, column: str, bad_value,
                                             message: str) -> None:
    columns = {
        "features": [GOOD_FEATURES] * 5,
        "predictions": [0, 1, 0, 1, 0],
        "probabilities": [[0.8, 0.2], [0.3, 0.7], [0.8, 0.2], [0.3, 0.7], [0.8, 0.2]],
        "labels": [0, 1, 0, 1, 0],
    }
    columns[column] = [*columns[column][:2], bad_value, *columns[column][3:]]

    with pytest.raises(ValidationError, match=message):
        monitor.record_batch(model_id, columns["features"], columns["predictions"], columns["probabilities"],
                             labels=columns["labels"], prediction_ids=[f"pred-{index}" for index in range(5)],
                             timestamps=[t0] * 5)

    assert monitor.store.count_predictions() == 0
    assert _label_count(monitor) == 0


def test_record_batch_length_mismatch_rejected(monitor, model_id, t0) -> None:
    with pytest.raises(ValidationError, match="predictions has 2 entries but there are 3 rows"):
        monitor.record_batch(model_id, [GOOD_FEATURES] * 3, [0, 1], timestamps=[t0] * 3)

    assert monitor.store.count_predictions() == 0


def test_record_batch_unknown_model_rejected(monitor, model_id, t0) -> None:
    with pytest.raises(NotFoundError, match="Model 'lesion-classifier:9' is not registered"):
        monitor.record_batch("lesion-classifier:9", [GOOD_FEATURES], [0], timestamps=[t0])


def test_record_batch_does_not_mutate_inputs(monitor, model_id, t0) -> None:
    frame = _stream(40)
    frame.loc[3, "intensity"] = np.nan
    predictions = pd.Series((frame["intensity"] > 100).astype(int))
    original_frame, original_predictions = frame.copy(deep=True), predictions.copy(deep=True)

    monitor.record_batch(model_id, frame, predictions, timestamps=[t0] * 40)

    pd.testing.assert_frame_equal(frame, original_frame)
    pd.testing.assert_series_equal(predictions, original_predictions)


def test_load_window_columns_oldest_first(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(5), t0)

    window = monitor.load_window(model_id, "last:3")

    assert list(window.columns) == ["prediction_id", "timestamp", "intensity", "modality", "prediction",
                                    "probability", "label", "label_timestamp"]
    assert window["prediction_id"].tolist() == ["pred-2", "pred-3", "pred-4"]


# Checking ----------------------------------------------------------------------------------------------


def test_status_drift_alert_stored_once(monitor, model_id, t0, caplog) -> None:
    _record_stream(monitor, model_id, _stream(200, shift=30.0), t0)
    caplog.set_level(logging.WARNING, logger="workbench.monitoring.monitor")

    first = monitor.status(model_id, "last:200")
    monitor.status(model_id, "last:200")

    assert first.drift.drifted_features == ["intensity"]
    assert [alert["kind"] for alert in monitor.alerts(model_id)] == ["drift"]
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING
    assert model_id in caplog.records[0].getMessage()


def test_status_no_alert_without_shift(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(200, seed=3), t0)

    status = monitor.status(model_id, "last:200")

    assert status.alert is False
    assert monitor.alerts(model_id) == []


def test_status_open_window_alerts_again_on_new_data(monitor, model_id, t0) -> None:
    # "all" has no end, so new predictions make it a new window with its own alert.
    _record_stream(monitor, model_id, _stream(100, shift=30.0), t0)
    monitor.status(model_id, "all")
    _record_stream(monitor, model_id, _stream(100, shift=30.0, seed=1), t0 + timedelta(days=1), prefix="next")
    monitor.status(model_id, "all")

    assert len(monitor.alerts(model_id)) == 2


def test_status_closed_range_alerts_once(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(100, shift=30.0), t0)
    window = Window.between(t0, t0 + timedelta(days=1))

    monitor.status(model_id, window)
    monitor.status(model_id, window)

    assert len(monitor.alerts(model_id)) == 1


def test_status_without_store_alerts(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(100, shift=30.0), t0)

    status = monitor.status(model_id, "all", store_alerts=False)

    assert status.drift.alert is True
    assert monitor.alerts(model_id) == []


def test_status_decay_when_labels_disagree(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(100, seed=4), t0, labels="disagree")

    status = monitor.status(model_id, "all")

    assert status.decay.status == "decay"
    assert "decay" in [alert["kind"] for alert in monitor.alerts(model_id)]


def test_status_ok_when_labels_agree(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(100, seed=4), t0, labels="agree")

    assert monitor.status(model_id, "all").decay.status == "ok"


def test_status_insufficient_labels(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(100, seed=4), t0, labels=None)
    _record_stream(monitor, model_id, _stream(10, seed=5), t0 + timedelta(days=1), prefix="labelled",
                   labels="disagree")

    decay = monitor.status(model_id, "all").decay

    assert decay.status == "insufficient_labels"
    assert decay.labelled == 10


def test_status_model_without_baseline_rejected(monitor) -> None:
    monitor.registry.register("report-reader", 1)

    with pytest.raises(ValidationError, match="'report-reader:1' has no baseline statistics"):
        monitor.status("report-reader:1")


def test_status_empty_window(monitor, model_id) -> None:
    status = monitor.status(model_id)

    assert status.window.predictions == 0
    assert status.drift.features[0].reason == "no valid current values"


def test_status_summary_names_model(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(100, shift=30.0), t0)

    summary = monitor.status(model_id, "all").summary()

    assert summary.startswith("Model lesion-classifier:1 (staging), window all: 100 predictions")


def test_status_all_skips_archived(monitor, model_id, reference, t0) -> None:
    baseline = compute_baseline(reference)
    monitor.registry.register("lesion-classifier", 2, baseline_statistics=baseline, stage="archived")
    monitor.registry.register("lesion-classifier", 3, baseline_statistics=baseline, stage="production")
    monitor.registry.register("report-reader", 1)
    _record_stream(monitor, model_id, _stream(50), t0)

    statuses = monitor.status_all("all")

    assert [status.model_id for status in statuses] == ["lesion-classifier:1", "lesion-classifier:3"]


def test_history_one_row_per_period(monitor, model_id, t0) -> None:
    for day in range(3):
        _record_stream(monitor, model_id, _stream(40, seed=day), t0 + timedelta(days=day), prefix=f"day{day}")

    history = monitor.history(model_id, every="1D")

    midnight = pd.Timestamp(t0).floor("1D")
    assert history["period_start"].tolist() == [midnight + pd.Timedelta(days=day) for day in range(3)]
    assert history["predictions"].tolist() == [40, 40, 40]
    assert history["labelled"].tolist() == [40, 40, 40]


def test_history_keeps_empty_period(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(10), t0, prefix="first")
    _record_stream(monitor, model_id, _stream(10), t0 + timedelta(days=2), prefix="third")

    history = monitor.history(model_id, every="1D")

    midnight = pd.Timestamp(t0).floor("1D")
    assert history["period_start"].tolist() == [midnight + pd.Timedelta(days=day) for day in range(3)]
    assert history["predictions"].tolist() == [10, 0, 10]
    assert history["drifted_features"].isna().tolist() == [False, True, False]


def test_history_of_empty_model(monitor, model_id) -> None:
    history = monitor.history(model_id, every="1D")

    assert history.empty


def test_history_stores_no_alert(monitor, model_id, t0) -> None:
    _record_stream(monitor, model_id, _stream(100, shift=30.0), t0)

    history = monitor.history(model_id, every="1D")

    assert history["drifted_features"].tolist() == [1]
    assert monitor.alerts(model_id) == []


# Wrapper -----------------------------------------------------------------------------------------------


@pytest.fixture
def classifier_case(monitor, t0):
    """A logistic regression fitted on numeric features and registered with its baseline."""
    rng = np.random.default_rng(9)
    frame = pd.DataFrame({"intensity": rng.normal(100, 15, 300), "volume": rng.normal(20, 4, 300)})
    labels = (frame["intensity"] + 2 * frame["volume"] > 140).astype(int)
    classifier = LogisticRegression(max_iter=1000).fit(frame, labels)
    baseline = compute_baseline(frame, labels=labels, predictions=classifier.predict(frame),
                                probabilities=classifier.predict_proba(frame), classes=classifier.classes_)
    monitor.registry.register("volume-lr", 1, baseline_statistics=baseline)
    return classifier, frame


def test_wrapper_records_every_prediction(monitor, classifier_case) -> None:
    classifier, frame = classifier_case
    batch = frame.iloc[:25]
    wrapped = MonitoredModel(classifier, monitor, "volume-lr:1")

    predictions = wrapped.predict(batch, prediction_ids=[f"pred-{index}" for index in range(25)])

    stored = monitor.load_window("volume-lr:1", "all").set_index("prediction_id")
    np.testing.assert_array_equal(predictions, classifier.predict(batch))
    assert monitor.store.count_predictions("volume-lr:1") == 25
    assert stored.loc["pred-3", "prediction"] == predictions[3]
    # Probabilities go through JSON, whose float repr round-trips float64 exactly.
    np.testing.assert_array_equal(np.array(stored["probability"].tolist()), classifier.predict_proba(batch))


def test_wrapper_records_nothing_when_disabled(monitor, classifier_case) -> None:
    classifier, frame = classifier_case
    disabled = Monitor(store=monitor.store, settings=monitor.settings.replace(monitoring_enabled=False))
    wrapped = MonitoredModel(classifier, disabled, "volume-lr:1")

    predictions = wrapped.predict(frame.iloc[:10])

    np.testing.assert_array_equal(predictions, classifier.predict(frame.iloc[:10]))
    assert monitor.store.count_predictions() == 0


def test_wrapper_predict_proba_records(monitor, classifier_case) -> None:
    classifier, frame = classifier_case
    wrapped = MonitoredModel(classifier, monitor, "volume-lr:1")

    probabilities = wrapped.predict_proba(frame.iloc[:10])

    np.testing.assert_array_equal(probabilities, classifier.predict_proba(frame.iloc[:10]))
    assert monitor.store.count_predictions("volume-lr:1") == 10


def test_wrapper_delegates_attributes(monitor, classifier_case) -> None:
    classifier, _ = classifier_case

    wrapped = MonitoredModel(classifier, monitor, "volume-lr:1")

    np.testing.assert_array_equal(wrapped.coef_, classifier.coef_)


def test_wrapper_can_be_copied(monitor, classifier_case) -> None:
    classifier, _ = classifier_case
    wrapped = MonitoredModel(classifier, monitor, "volume-lr:1")

    duplicate = copy.copy(wrapped)

    assert duplicate.model is classifier
