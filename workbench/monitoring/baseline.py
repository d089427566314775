"""Baseline statistics computed at training time and kept with the model in the registry.

A baseline describes each feature of the reference data (the training or validation frame) and the
model's metrics on it. Drift and decay checks later compare production windows against it.

Reference sample bound
----------------------
For each numeric feature the baseline keeps a sorted sample of at most ``reference_sample_size`` valid
reference values (default 10,000), drawn without replacement with a fixed seed. Two-sample tests use
that sample as the reference. When the reference has more valid values than the bound, the test
compares the current window with a random subset, so it keeps its nominal false-alarm rate but loses
some power: the Kolmogorov–Smirnov p-value depends on the effective size ``n*m/(n+m)``, which cannot
exceed the bound. Raise the bound when the reference is large and small shifts matter.
Categorical features keep the full reference counts, so their tests lose nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import BaselineError, ValidationError
from workbench.monitoring.features import (
    CATEGORICAL,
    NUMERIC,
    as_numeric,
    category_counts,
    resolve_kinds,
)
from workbench.timeutil import to_utc, utc_now

#: Quantiles stored for each numeric feature.
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)

#: Number of equal-frequency bins whose edges are stored for the population stability index.
PSI_BINS = 10

DEFAULT_REFERENCE_SAMPLE_SIZE = 10_000
DEFAULT_SEED = 20_240_601


@dataclass(frozen=True)
class FeatureBaseline:
    """Reference statistics of one feature.

    Attributes
    ----------
    name : str
        Column name.
    kind : str
        ``"numeric"`` or ``"categorical"``.
    count : int
        Number of reference rows, missing values included.
    missing : int
        Number of missing reference values.
    mean, std, minimum, maximum : float or None
        Moments and range of the valid values (numeric only; ``std`` with one degree of freedom).
    quantiles : dict
        Quantile level (as a string such as ``"0.5"``) to value (numeric only).
    bin_edges, bin_shares : tuple of float
        Equal-frequency bin edges of the reference and the reference share in each bin, used for the
        population stability index (numeric only; the outer bins are open-ended).
    sample : numpy.ndarray or None
        Sorted reference sample for two-sample tests (numeric only), at most the configured bound.
    frequencies : dict
        Canonical category key to count (categorical only).
    """

    name: str
    kind: str
    count: int
    missing: int
    mean: float | None = None
    std: float | None = None
    minimum: float | None = None
    maximum: float | None = None
    quantiles: dict[str, float] = field(default_factory=dict)
    bin_edges: tuple[float, ...] = ()
    bin_shares: tuple[float, ...] = ()
    sample: np.ndarray | None = field(default=None, repr=False, compare=False)
    frequencies: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> int:
        """Number of non-missing reference values."""
        return self.count - self.missing

    @property
    def missing_share(self) -> float:
        """Share of reference values that are missing."""
        return self.missing / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values; the sample becomes a list."""
        data = {
            "name": self.name,
            "kind": self.kind,
            "count": self.count,
            "missing": self.missing,
            "missing_share": self.missing_share,
            "mean": self.mean,
            "std": self.std,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "quantiles": dict(self.quantiles),
            "bin_edges": list(self.bin_edges),
            "bin_shares": list(self.bin_shares),
            "sample": None if self.sample is None else self.sample.tolist(),
            "frequencies": dict(self.frequencies),
        }
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureBaseline:
        """Rebuild a feature baseline from :meth:`to_dict` output."""
        sample = data.get("sample")
        return cls(
            name=data["name"],
            kind=data["kind"],
            count=int(data["count"]),
            missing=int(data["missing"]),
            mean=data.get("mean"),
            std=data.get("std"),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
            quantiles=dict(data.get("quantiles") or {}),
            bin_edges=tuple(data.get("bin_edges") or ()),
            bin_shares=tuple(data.get("bin_shares") or ()),
            sample=None if sample is None else np.asarray(sample, dtype="float64"),
            frequencies={str(k): int(v) for k, v in (data.get("frequencies") or {}).items()},
        )


@dataclass(frozen=True)
class BaselineStatistics:
    """Baseline of a model: per-feature statistics and the model's metrics on the reference data.

    Attributes
    ----------
    features : dict
        Feature name to :class:`FeatureBaseline`, in column order.
    metrics : dict
        Metric name (accuracy, precision, recall, f1, roc_auc) to value; empty without labels.
    classes : tuple
        Class labels in the order of the probability columns.
    n_rows : int
        Number of reference rows.
    reference_sample_size : int
        Bound on the stored numeric sample per feature.
    seed : int
        Seed of the sample draw.
    created_at : datetime
        UTC time of computation.
    """

    features: dict[str, FeatureBaseline]
    metrics: dict[str, float | None]
    classes: tuple[Any, ...]
    n_rows: int
    reference_sample_size: int
    seed: int
    created_at: datetime

    @property
    def feature_names(self) -> list[str]:
        """Feature names in column order."""
        return list(self.features)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values for storage in the registry."""
        return {
            "features": [feature.to_dict() for feature in self.features.values()],
            "metrics": dict(self.metrics),
            "classes": list(self.classes),
            "n_rows": self.n_rows,
            "reference_sample_size": self.reference_sample_size,
            "seed": self.seed,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineStatistics:
        """Rebuild a baseline from :meth:`to_dict` output."""
        features = [FeatureBaseline.from_dict(item) for item in data["features"]]
        created_at = data["created_at"]
        return cls(
            features={feature.name: feature for feature in features},
            metrics=dict(data.get("metrics") or {}),
            classes=tuple(data.get("classes") or ()),
            n_rows=int(data["n_rows"]),
            reference_sample_size=int(data["reference_sample_size"]),
            seed=int(data["seed"]),
            created_at=created_at if isinstance(created_at, datetime) else to_utc(created_at),
        )

    def to_frame(self) -> pd.DataFrame:
        """Return one row per feature with its kind, counts, moments and median."""
        rows = []
        for feature in self.features.values():
            rows.append({
                "feature": feature.name,
                "kind": feature.kind,
                "count": feature.count,
                "missing_share": feature.missing_share,
                "mean": feature.mean,
                "std": feature.std,
                "median": feature.quantiles.get("0.5"),
                "categories": len(feature.frequencies) if feature.kind == CATEGORICAL else None,
            })
        return pd.DataFrame(rows).set_index("feature")

    def _repr_html_(self) -> str:
        return self.to_frame()._repr_html_()


def compute_baseline(
    reference: pd.DataFrame,
    *,
    feature_types: Mapping[str, str] | None = None,
    labels: Sequence[Any] | np.ndarray | pd.Series | None = None,
    predictions: Sequence[Any] | np.ndarray | pd.Series | None = None,
    probabilities: np.ndarray | pd.DataFrame | None = None,
    classes: Sequence[Any] | None = None,
    reference_sample_size: int = DEFAULT_REFERENCE_SAMPLE_SIZE,
    seed: int = DEFAULT_SEED,
) -> BaselineStatistics:
    """Compute baseline statistics of the reference features and, given labels, the model's metrics.

    Parameters
    ----------
    reference : pandas.DataFrame
        Reference features, one column per feature. The frame is not modified.
    feature_types : mapping, optional
        Column to ``"numeric"`` or ``"categorical"``. A declared type always wins over the guess,
        which treats numeric dtypes except booleans as numeric.
    labels, predictions : array-like, optional
        True classes and the model's predicted classes on the reference rows. With both, the baseline
        contains accuracy, precision, recall, F1 and (given ``probabilities``) ROC AUC.
    probabilities : array-like of shape (n_rows, n_classes), optional
        Class probabilities, columns in the order of ``classes``.
    classes : sequence, optional
        Class labels in probability-column order; by default the sorted union of labels and
        predictions.
    reference_sample_size : int
        Maximum number of valid values kept per numeric feature for two-sample tests (see the module
        notes for what the bound does to p-values).
    seed : int
        Seed of the sample draw, so the same reference gives the same baseline.

    Returns
    -------
    BaselineStatistics

    Raises
    ------
    BaselineError
        If a column is entirely missing or not numeric where declared numeric. The error's ``baseline``
        attribute contains the baseline of the remaining columns and ``columns`` names the failed ones.
    ValidationError
        If the reference is empty or labels, predictions and probabilities do not fit it.

    Examples
    --------
    >>> frame = pd.DataFrame({"age": [61.0, 47.0, 55.0, None], "site": ["A", "B", "A", "A"]})
    >>> baseline = compute_baseline(frame)
    >>> baseline.features["age"].missing_share, baseline.features["site"].frequencies
    (0.25, {'A': 3, 'B': 1})
    """
    if not isinstance(reference, pd.DataFrame) or reference.shape[0] == 0 or reference.shape[1] == 0:
        raise ValidationError(
            "The reference must be a DataFrame with at least one row and one column.",
            field="reference", value=getattr(reference, "shape", type(reference).__name__),
        )
    if reference_sample_size < 1:
        raise ValidationError(
            f"reference_sample_size={reference_sample_size} is invalid; it must be at least 1.",
            field="reference_sample_size", value=reference_sample_size,
        )

    kinds = resolve_kinds(reference, feature_types)
    rng = np.random.default_rng(seed)
    features: dict[str, FeatureBaseline] = {}
    failures: dict[str, str] = {}
    for column, kind in kinds.items():
        try:
            features[column] = _feature_baseline(reference[column], column, kind, reference_sample_size, rng)
        except ValidationError as exc:
            failures[column] = str(exc)

    metrics, class_tuple = _reference_metrics(reference, labels, predictions, probabilities, classes)
    baseline = BaselineStatistics(
        features=features,
        metrics=metrics,
        classes=class_tuple,
        n_rows=int(reference.shape[0]),
        reference_sample_size=reference_sample_size,
        seed=seed,
        created_at=utc_now(),
    )
    if failures:
        detail = " ".join(failures.values())
        error = BaselineError(
            f"Baseline failed for {len(failures)} column(s) {sorted(failures)}: {detail} "
            f"The other {len(features)} column(s) were baselined and are in the error's `baseline`.",
            field=",".join(sorted(failures)), value=sorted(failures),
        )
        error.baseline = baseline
        error.columns = sorted(failures)
        raise error
    return baseline


def _feature_baseline(
    series: pd.Series, column: str, kind: str, sample_size: int, rng: np.random.Generator
) -> FeatureBaseline:
    count = int(series.shape[0])
    missing = int(series.isna().sum())
    if missing == count:
        raise ValidationError(
            f"Column {column!r} is entirely missing ({count} of {count} values); drop it or fill it "
            "before computing the baseline.",
            field=column, value=count,
        )
    if kind == CATEGORICAL:
        return FeatureBaseline(name=column, kind=kind, count=count, missing=missing,
                               frequencies=category_counts(series))

    values = as_numeric(series, column)
    valid = values[~np.isnan(values)]
    if not np.isfinite(valid).all():
        raise ValidationError(
            f"Column {column!r} contains infinite values; replace them with NaN or finite numbers.",
            field=column, value=float(valid[~np.isfinite(valid)][0]),
        )
    sample = valid if valid.size <= sample_size else rng.choice(valid, size=sample_size, replace=False)
    edges, shares = _equal_frequency_bins(valid)
    return FeatureBaseline(
        name=column,
        kind=NUMERIC,
        count=count,
        missing=missing,
        mean=float(valid.mean()),
        std=float(valid.std(ddof=1)) if valid.size > 1 else 0.0,
        minimum=float(valid.min()),
        maximum=float(valid.max()),
        quantiles={str(q): float(v) for q, v in zip(QUANTILES, np.quantile(valid, QUANTILES), strict=True)},
        bin_edges=tuple(float(edge) for edge in edges),
        bin_shares=tuple(float(share) for share in shares),
        sample=np.sort(sample),
    )


def _equal_frequency_bins(valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return inner edges of up to :data:`PSI_BINS` equal-frequency bins and the reference share per bin."""
    inner = np.unique(np.quantile(valid, np.linspace(0, 1, PSI_BINS + 1)[1:-1]))
    counts = np.diff(np.concatenate(([0], np.searchsorted(np.sort(valid), inner, side="right"), [valid.size])))
    return inner, counts / valid.size


def _reference_metrics(
    reference: pd.DataFrame,
    labels: Any,
    predictions: Any,
    probabilities: Any,
    classes: Sequence[Any] | None,
) -> tuple[dict[str, float | None], tuple[Any, ...]]:
    from workbench.monitoring.metrics import classification_metrics, infer_classes, plain_classes

    if (labels is None) != (predictions is None):
        raise ValidationError(
            "Give both labels and predictions to compute baseline metrics, or neither.",
            field="labels" if labels is None else "predictions", value=None,
        )
    if labels is None:
        return {}, () if classes is None else plain_classes(classes)

    n_rows = reference.shape[0]
    for name, values in (("labels", labels), ("predictions", predictions)):
        if len(values) != n_rows:
            raise ValidationError(
                f"{name} has {len(values)} values but the reference has {n_rows} rows; pass one per row.",
                field=name, value=len(values),
            )
    class_tuple = plain_classes(classes) if classes is not None else infer_classes(labels, predictions)
    proba = None if probabilities is None else np.asarray(probabilities, dtype="float64")
    metrics = classification_metrics(np.asarray(labels), np.asarray(predictions), proba, class_tuple)
    return metrics, class_tuple
