"""Baseline statistics of a reference frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from workbench.errors import BaselineError, ValidationError
from workbench.monitoring import BaselineStatistics, compute_baseline
from workbench.monitoring.baseline import QUANTILES

# Moments and quantiles are single numpy calls on the same values, so only float rounding can differ.
RTOL = 1e-12


def test_baseline_records_missing_share() -> None:
    values = np.linspace(0, 1, 1000)
    values[::10] = np.nan

    feature = compute_baseline(pd.DataFrame({"x": values})).features["x"]

    # 100 of 1,000 values are NaN.
    assert feature.count == 1000
    assert feature.missing == 100
    assert feature.valid == 900
    assert feature.missing_share == pytest.approx(0.1, rel=RTOL)


def test_baseline_numeric_moments_match_numpy(reference: pd.DataFrame) -> None:
    values = reference["intensity"].to_numpy()

    feature = compute_baseline(reference).features["intensity"]

    assert feature.kind == "numeric"
    assert feature.mean == pytest.approx(np.mean(values), rel=RTOL)
    assert feature.std == pytest.approx(np.std(values, ddof=1), rel=RTOL)
    assert feature.minimum == np.min(values)
    assert feature.maximum == np.max(values)
    for level, expected in zip(QUANTILES, np.quantile(values, QUANTILES), strict=True):
        assert feature.quantiles[str(level)] == pytest.approx(expected, rel=RTOL)


def test_baseline_psi_shares_sum_to_one(reference: pd.DataFrame) -> None:
    feature = compute_baseline(reference).features["intensity"]

    assert len(feature.bin_shares) == len(feature.bin_edges) + 1
    assert sum(feature.bin_shares) == pytest.approx(1.0, rel=RTOL)


def test_baseline_sample_bounded_and_sorted() -> None:
    values = np.random.default_rng(3).normal(size=5000)

    sample = compute_baseline(pd.DataFrame({"x": values}), reference_sample_size=1000).features["x"].sample

    assert sample.size == 1000
    assert np.all(np.diff(sample) >= 0)
    assert np.isin(sample, values).all()


def test_baseline_sample_repeats_with_seed() -> None:
    frame = pd.DataFrame({"x": np.random.default_rng(3).normal(size=5000)})

    first = compute_baseline(frame, reference_sample_size=500, seed=9).features["x"].sample
    second = compute_baseline(frame, reference_sample_size=500, seed=9).features["x"].sample

    np.testing.assert_array_equal(first, second)


def test_baseline_sample_keeps_all_below_bound() -> None:
    values = np.array([3.0, 1.0, np.nan, 2.0])

    sample = compute_baseline(pd.DataFrame({"x": values})).features["x"].sample

    np.testing.assert_array_equal(sample, [1.0, 2.0, 3.0])


def test_baseline_categorical_frequencies() -> None:
    frame = pd.DataFrame({"modality": ["CT", "MR", "CT", None, "CT"]})

    feature = compute_baseline(frame).features["modality"]

    assert feature.kind == "categorical"
    assert feature.frequencies == {"CT": 3, "MR": 1}
    assert feature.missing == 1


def test_baseline_declared_type_wins() -> None:
    frame = pd.DataFrame({"grade": [1, 2, 2, 3]})

    feature = compute_baseline(frame, feature_types={"grade": "categorical"}).features["grade"]

    assert feature.kind == "categorical"
    assert feature.frequencies == {"1": 1, "2": 2, "3": 1}


def test_baseline_merges_equal_category_keys() -> None:
    # 1, 1.0 and "1" are one category, so a float column of whole numbers matches an int one.
    frame = pd.DataFrame({"grade": pd.Series([1, 1.0, "1", 2], dtype=object)})

    feature = compute_baseline(frame, feature_types={"grade": "categorical"}).features["grade"]

    assert feature.frequencies == {"1": 3, "2": 1}


def test_baseline_skips_unused_categories() -> None:
    # value_counts lists unused categories of a pandas category column with count 0, which would break chi2.
    frame = pd.DataFrame({"modality": pd.Categorical(["CT", "MR"] * 5, categories=["CT", "MR", "US"])})

    feature = compute_baseline(frame).features["modality"]

    assert feature.frequencies == {"CT": 5, "MR": 5}


def test_baseline_boolean_is_categorical() -> None:
    frame = pd.DataFrame({"contrast": [True, False, True]})

    feature = compute_baseline(frame).features["contrast"]

    assert feature.kind == "categorical"
    assert feature.frequencies == {"True": 2, "False": 1}


def test_baseline_entirely_missing_column_raises() -> None:
    frame = pd.DataFrame({"intensity": [1.0, 2.0, 3.0], "empty": [np.nan, np.nan, np.nan]})

    with pytest.raises(BaselineError, match="'empty' is entirely missing") as excinfo:
        compute_baseline(frame)

    assert excinfo.value.columns == ["empty"]
    assert list(excinfo.value.baseline.features) == ["intensity"]


def test_baseline_non_numeric_in_numeric_column_raises() -> None:
    frame = pd.DataFrame({"intensity": ["1.5", "high", "2.0"], "modality": ["CT", "MR", "CT"]})

    with pytest.raises(BaselineError, match="'intensity' is numeric but contains 'high'") as excinfo:
        compute_baseline(frame, feature_types={"intensity": "numeric"})

    assert list(excinfo.value.baseline.features) == ["modality"]


def test_baseline_infinite_value_raises() -> None:
    frame = pd.DataFrame({"intensity": [1.0, np.inf, 2.0]})

    with pytest.raises(BaselineError, match="'intensity' contains infinite values"):
        compute_baseline(frame)


def test_baseline_rejects_empty_frame() -> None:
    with pytest.raises(ValidationError, match="at least one row and one column"):
        compute_baseline(pd.DataFrame({"x": []}))


def test_baseline_rejects_unknown_declared_column() -> None:
    with pytest.raises(ValidationError, match=r"not in the data: \['size'\]"):
        compute_baseline(pd.DataFrame({"x": [1.0]}), feature_types={"size": "numeric"})


def test_baseline_rejects_unknown_kind() -> None:
    with pytest.raises(ValidationError, match="Feature type 'ordinal' for column 'x' is invalid"):
        compute_baseline(pd.DataFrame({"x": [1.0]}), feature_types={"x": "ordinal"})


def test_baseline_rejects_labels_without_predictions() -> None:
    with pytest.raises(ValidationError, match="Give both labels and predictions"):
        compute_baseline(pd.DataFrame({"x": [1.0, 2.0]}), labels=[0, 1])


def test_baseline_rejects_label_count_mismatch() -> None:
    with pytest.raises(ValidationError, match="labels has 3 values but the reference has 2 rows"):
        compute_baseline(pd.DataFrame({"x": [1.0, 2.0]}), labels=[0, 1, 1], predictions=[0, 1])


def test_baseline_does_not_mutate_reference() -> None:
    frame = pd.DataFrame({
        "intensity": [1.0, np.nan, 3.0, 4.0],
        "modality": ["CT", None, "MR", "CT"],
        "grade": [1, 2, 2, 3],
    })
    original = frame.copy(deep=True)

    compute_baseline(frame, feature_types={"grade": "categorical"}, labels=[0, 1, 1, 0],
                     predictions=[0, 1, 0, 0])

    pd.testing.assert_frame_equal(frame, original)


def test_baseline_metrics_match_sklearn(reference: pd.DataFrame) -> None:
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=len(reference))
    predictions = np.where(rng.random(len(reference)) < 0.8, labels, 1 - labels)
    positive = np.clip(0.5 + 0.3 * (2 * predictions - 1) + rng.normal(0, 0.1, len(reference)), 0, 1)
    probabilities = np.column_stack([1 - positive, positive])

    metrics = compute_baseline(reference, labels=labels, predictions=predictions,
                               probabilities=probabilities).metrics

    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(labels, predictions), rel=RTOL)
    assert metrics["precision"] == pytest.approx(skm.precision_score(labels, predictions), rel=RTOL)
    assert metrics["recall"] == pytest.approx(skm.recall_score(labels, predictions), rel=RTOL)
    assert metrics["f1"] == pytest.approx(skm.f1_score(labels, predictions), rel=RTOL)
    assert metrics["roc_auc"] == pytest.approx(skm.roc_auc_score(labels, positive), rel=RTOL)


def test_baseline_classes_from_numpy_array() -> None:
    # scikit-learn's classes_ is an array of NumPy scalars, but the baseline keeps plain Python values.
    baseline = compute_baseline(pd.DataFrame({"x": [1.0, 2.0]}), classes=np.array([0, 1]))

    assert baseline.classes == (0, 1)
    assert type(baseline.classes[0]) is int


def test_baseline_classes_default_to_sorted_union() -> None:
    baseline = compute_baseline(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), labels=np.array(["b", "a", "b"]),
                                predictions=np.array(["c", "a", "b"]))

    assert baseline.classes == ("a", "b", "c")


def test_baseline_round_trips_through_dict(reference: pd.DataFrame) -> None:
    baseline = compute_baseline(reference)

    restored = BaselineStatistics.from_dict(baseline.to_dict())

    assert restored == baseline
    np.testing.assert_array_equal(restored.features["intensity"].sample, baseline.features["intensity"].sample)


def test_baseline_to_frame_one_row_per_feature(reference: pd.DataFrame) -> None:
    frame = compute_baseline(reference).to_frame()

    assert list(frame.index) == ["intensity", "modality"]
    assert frame.loc["modality", "categories"] == 2

