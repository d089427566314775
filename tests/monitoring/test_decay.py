"""Decay of a window's metrics against the baseline metrics, and the metrics themselves."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from workbench.monitoring import evaluate_decay
from workbench.monitoring.metrics import classification_metrics, infer_classes, plain_classes

# Metrics are single scikit-learn calls on the same arrays, so only float rounding can differ.
RTOL = 1e-12

BASELINE = {"accuracy": 0.9, "precision": 0.9, "recall": 0.9, "f1": 0.9, "roc_auc": 0.95}


def _binary_window(agreement: float, rows: int = 200, seed: int = 4):
    """Labels, predictions and probabilities where a share ``agreement`` of predictions is right."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, rows)
    predictions = np.where(rng.random(rows) < agreement, labels, 1 - labels)
    positive = np.where(predictions == 1, 0.8, 0.2)
    return labels, predictions, np.column_stack([1 - positive, positive])


def test_decay_detected_when_predictions_disagree() -> None:
    labels, predictions, probabilities = _binary_window(agreement=0.5)

    report = evaluate_decay(BASELINE, labels, predictions, probabilities, (0, 1))

    assert report.status == "decay"
    assert report.alert is True
    assert "accuracy" in report.decayed_metrics


def test_decay_metrics_match_sklearn() -> None:
    labels, predictions, probabilities = _binary_window(agreement=0.5)

    rows = {item.metric: item for item in evaluate_decay(BASELINE, labels, predictions, probabilities,
                                                         (0, 1)).metrics}

    assert rows["accuracy"].current == pytest.approx(skm.accuracy_score(labels, predictions), rel=RTOL)
    assert rows["f1"].current == pytest.approx(skm.f1_score(labels, predictions), rel=RTOL)
    assert rows["roc_auc"].current == pytest.approx(skm.roc_auc_score(labels, probabilities[:, 1]), rel=RTOL)
    assert rows["accuracy"].difference == pytest.approx(rows["accuracy"].current - 0.9, rel=RTOL)


def test_decay_ok_when_predictions_agree() -> None:
    labels, predictions, probabilities = _binary_window(agreement=1.0)

    report = evaluate_decay(BASELINE, labels, predictions, probabilities, (0, 1))

    assert report.status == "ok"
    assert report.decayed_metrics == []


def test_decay_tolerance_allows_small_drop() -> None:
    # 4 of 5 right: accuracy 0.8, which is 0.1 below a baseline of 0.9. Tolerance 0.15 admits it,
    # tolerance 0.05 does not.
    labels, predictions = np.array([0, 1, 1, 0, 1]), np.array([0, 1, 1, 0, 0])

    lenient = evaluate_decay({"accuracy": 0.9}, labels, predictions, None, (0, 1), tolerance=0.15, min_labels=5)
    strict = evaluate_decay({"accuracy": 0.9}, labels, predictions, None, (0, 1), tolerance=0.05, min_labels=5)

    assert lenient.status == "ok"
    assert strict.status == "decay"


def test_decay_insufficient_labels() -> None:
    labels, predictions, probabilities = _binary_window(agreement=0.5, rows=29)

    report = evaluate_decay(BASELINE, labels, predictions, probabilities, (0, 1), min_labels=30)

    assert report.status == "insufficient_labels"
    assert report.labelled == 29
    assert report.metrics == ()


def test_decay_without_baseline_metrics() -> None:
    labels, predictions, probabilities = _binary_window(agreement=0.5)

    report = evaluate_decay({}, labels, predictions, probabilities, (0, 1))

    assert report.status == "no_baseline_metrics"


def test_decay_roc_auc_none_for_single_class() -> None:
    labels = np.ones(40, dtype=int)
    predictions = np.ones(40, dtype=int)
    probabilities = np.tile([0.2, 0.8], (40, 1))

    rows = {item.metric: item for item in evaluate_decay(BASELINE, labels, predictions, probabilities,
                                                         (0, 1)).metrics}

    assert rows["roc_auc"].current is None
    assert rows["roc_auc"].decayed is False


def test_decay_frame_one_row_per_metric() -> None:
    labels, predictions, probabilities = _binary_window(agreement=0.5)

    frame = evaluate_decay(BASELINE, labels, predictions, probabilities, (0, 1)).to_frame()

    assert list(frame.index) == ["accuracy", "precision", "recall", "f1", "roc_auc"]


def test_metrics_positive_class_is_second() -> None:
    # Classes ("benign", "malignant"): precision and recall are those of "malignant".
    labels = np.array(["benign", "malignant", "malignant", "benign"])
    predictions = np.array(["benign", "malignant", "benign", "malignant"])

    metrics = classification_metrics(labels, predictions, None, ("benign", "malignant"))

    assert metrics["precision"] == pytest.approx(
        skm.precision_score(labels, predictions, pos_label="malignant"), rel=RTOL)
    assert metrics["recall"] == pytest.approx(skm.recall_score(labels, predictions, pos_label="malignant"),
                                              rel=RTOL)
    assert metrics["roc_auc"] is None


def test_metrics_multiclass_match_sklearn() -> None:
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 3, 300)
    predictions = np.where(rng.random(300) < 0.7, labels, rng.integers(0, 3, 300))
    probabilities = rng.dirichlet([1, 1, 1], 300)

    metrics = classification_metrics(labels, predictions, probabilities, (0, 1, 2))

    assert metrics["f1"] == pytest.approx(skm.f1_score(labels, predictions, average="macro"), rel=RTOL)
    assert metrics["roc_auc"] == pytest.approx(
        skm.roc_auc_score(labels, probabilities, multi_class="ovr"), rel=RTOL)


def test_metrics_multiclass_auc_none_when_class_absent() -> None:
    labels = np.array([0, 1, 0, 1])
    probabilities = np.array([[0.6, 0.3, 0.1]] * 4)

    metrics = classification_metrics(labels, labels, probabilities, (0, 1, 2))

    assert metrics["roc_auc"] is None


def test_infer_classes_plain_and_sorted() -> None:
    classes = infer_classes(np.array([2, 0]), np.array([1, 0]))

    assert classes == (0, 1, 2)
    assert type(classes[0]) is int


def test_plain_classes_keeps_order() -> None:
    classes = plain_classes(np.array(["malignant", "benign"]))

    assert classes == ("malignant", "benign")
    assert type(classes[0]) is str
