"""Classification metrics of a model on labelled rows, computed with scikit-learn.

For two classes, precision, recall and F1 are those of the positive class, the second entry of
``classes`` (scikit-learn's convention of ``pos_label=1`` for labels 0 and 1), and ROC AUC uses that
class's probability. For more classes they are macro averages and ROC AUC is one-vs-rest.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm
from sklearn.exceptions import UndefinedMetricWarning

#: Metrics in the order they are reported.
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def infer_classes(*arrays: Any) -> tuple[Any, ...]:
    """Return the sorted union of the values in ``arrays`` as plain Python values."""
    values = set()
    for array in arrays:
        values.update(_plain(value) for value in np.asarray(array).tolist())
    return tuple(sorted(values, key=lambda value: (str(type(value)), value)))


def plain_classes(classes: Sequence[Any] | np.ndarray) -> tuple[Any, ...]:
    """Return ``classes`` in their order as a tuple of plain Python values.

    A scikit-learn ``classes_`` array contains NumPy scalars, which the JSON store cannot encode.
    """
    return tuple(_plain(value) for value in classes)


def classification_metrics(
    labels: np.ndarray,
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
    classes: Sequence[Any],
) -> dict[str, float | None]:
    """Compute accuracy, precision, recall, F1 and ROC AUC.

    ROC AUC is None when probabilities are missing or the labels hold a single class, because the
    area is undefined then.

    >>> classification_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]),
    ...                        np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]]), (0, 1))
    {'accuracy': 0.75, 'precision': 1.0, 'recall': 0.5, 'f1': 0.6666666666666666, 'roc_auc': 1.0}
    """
    classes = list(classes)
    binary = len(classes) == 2
    average_options: dict[str, Any] = (
        {"average": "binary", "pos_label": classes[1]} if binary else {"average": "macro", "labels": classes}
    )
    with warnings.catch_warnings():
        # A class with no predicted rows makes precision 0 by scikit-learn's zero_division rule. That value
        # is reported as it is, so every window does not warn about it.
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        metrics: dict[str, float | None] = {
            "accuracy": float(skm.accuracy_score(labels, predictions)),
            "precision": float(skm.precision_score(labels, predictions, zero_division=0, **average_options)),
            "recall": float(skm.recall_score(labels, predictions, zero_division=0, **average_options)),
            "f1": float(skm.f1_score(labels, predictions, zero_division=0, **average_options)),
        }
    metrics["roc_auc"] = _roc_auc(labels, probabilities, classes)
    return metrics


def _roc_auc(labels: np.ndarray, probabilities: np.ndarray | None, classes: list[Any]) -> float | None:
    if probabilities is None or len(set(labels.tolist())) < 2:
        return None
    if len(classes) == 2:
        return float(skm.roc_auc_score(labels == classes[1], probabilities[:, 1]))
    present = sorted(set(labels.tolist()))
    if len(present) < len(classes):
        # One-vs-rest AUC needs every class among the labels.
        return None
    return float(skm.roc_auc_score(labels, probabilities, multi_class="ovr", labels=classes))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
