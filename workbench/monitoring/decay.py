"""Model decay: a window's metrics on labelled predictions against the baseline metrics."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.monitoring.metrics import METRICS, classification_metrics

DECAY = "decay"
OK = "ok"
INSUFFICIENT_LABELS = "insufficient_labels"
NO_BASELINE_METRICS = "no_baseline_metrics"


@dataclass(frozen=True)
class MetricDecay:
    """One metric of a window against its baseline.

    ``difference`` is current minus baseline; the metric decayed when it is below ``-tolerance``.
    """

    metric: str
    baseline: float | None
    current: float | None
    difference: float | None
    tolerance: float
    decayed: bool


@dataclass(frozen=True)
class DecayReport:
    """Decay check of one window.

    Attributes
    ----------
    status : str
        ``"decay"``, ``"ok"``, ``"insufficient_labels"`` or ``"no_baseline_metrics"``.
    labelled : int
        Labelled predictions in the window.
    min_labels : int
        Fewest labelled predictions for a verdict.
    tolerance : float
        Largest drop below baseline, in metric units, that is not decay.
    metrics : tuple of MetricDecay
        Per-metric comparison; empty without a verdict.
    """

    status: str
    labelled: int
    min_labels: int
    tolerance: float
    metrics: tuple[MetricDecay, ...] = ()

    @property
    def alert(self) -> bool:
        """Whether any metric decayed."""
        return self.status == DECAY

    @property
    def decayed_metrics(self) -> list[str]:
        """Names of the metrics below baseline by more than the tolerance."""
        return [item.metric for item in self.metrics if item.decayed]

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        data = asdict(self)
        data["alert"] = self.alert
        data["decayed_metrics"] = self.decayed_metrics
        return data

    def to_frame(self) -> pd.DataFrame:
        """Return one row per metric."""
        columns = ["metric", "baseline", "current", "difference", "tolerance", "decayed"]
        return pd.DataFrame([asdict(item) for item in self.metrics], columns=columns).set_index("metric")

    def _repr_html_(self) -> str:
        caption = f"Decay: {self.status} ({self.labelled} labelled predictions, tolerance {self.tolerance})"
        return f"<p>{html.escape(caption)}</p>" + self.to_frame().to_html(float_format=lambda v: f"{v:.4f}")


def evaluate_decay(
    baseline_metrics: dict[str, float | None],
    labels: np.ndarray,
    predictions: np.ndarray,
    probabilities: np.ndarray | None,
    classes: tuple[Any, ...],
    *,
    tolerance: float = 0.05,
    min_labels: int = 30,
) -> DecayReport:
    """Compare the metrics of labelled predictions with the baseline metrics.

    A metric decays when it falls more than ``tolerance`` below its baseline value. A metric that the
    baseline or the window cannot compute (ROC AUC with a single class, say) is reported without a
    verdict.

    Examples
    --------
    >>> report = evaluate_decay({"accuracy": 0.9, "recall": 0.8}, np.array([0, 1, 1, 0]),
    ...                         np.array([0, 0, 0, 0]), None, (0, 1), min_labels=4)
    >>> report.status, report.decayed_metrics
    ('decay', ['accuracy', 'recall'])
    """
    labelled = len(labels)
    if not any(value is not None for value in baseline_metrics.values()):
        return DecayReport(NO_BASELINE_METRICS, labelled, min_labels, tolerance)
    if labelled < min_labels:
        return DecayReport(INSUFFICIENT_LABELS, labelled, min_labels, tolerance)

    current = classification_metrics(labels, predictions, probabilities, classes)
    rows = []
    for metric in METRICS:
        reference, value = baseline_metrics.get(metric), current.get(metric)
        difference = None if reference is None or value is None else value - reference
        decayed = difference is not None and difference < -tolerance
        rows.append(MetricDecay(metric, reference, value, difference, tolerance, decayed))
    status = DECAY if any(row.decayed for row in rows) else OK
    return DecayReport(status, labelled, min_labels, tolerance, tuple(rows))
