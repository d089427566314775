"""Checks of single prediction records against a baseline."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ValidationError
from workbench.monitoring import compute_baseline
from workbench.monitoring.validation import (
    check_class,
    check_features,
    check_prediction_id,
    check_probability,
    prepare_prediction,
)

CLASSES = (0, 1)


@pytest.fixture
def baseline():
    frame = pd.DataFrame({"intensity": [90.0, 110.0, 100.0], "modality": ["CT", "MR", "CT"]})
    return compute_baseline(frame)


def test_features_accept_baseline_names(baseline) -> None:
    checked = check_features(baseline, {"modality": "MR", "intensity": 95})

    assert checked == {"intensity": 95, "modality": "MR"}


def test_features_store_missing_as_none(baseline) -> None:
    checked = check_features(baseline, {"intensity": float("nan"), "modality": None})

    assert checked == {"intensity": None, "modality": None}


def test_features_store_pandas_na_as_none(baseline) -> None:
    # A missing cell of a nullable-dtype column (Int64, string) read with frame.at[...] is pd.NA.
    checked = check_features(baseline, {"intensity": pd.NA, "modality": pd.NA})

    assert checked == {"intensity": None, "modality": None}


def test_features_convert_numpy_scalars(baseline) -> None:
    checked = check_features(baseline, {"intensity": np.float32(95.5), "modality": np.str_("CT")})

    assert type(checked["intensity"]) is float


def test_features_missing_named(baseline) -> None:
    with pytest.raises(ValidationError, match=r"missing \['modality'\].*use None for a missing value"):
        check_features(baseline, {"intensity": 95.0})


def test_features_extra_named(baseline) -> None:
    with pytest.raises(ValidationError, match=r"not in the baseline \['site_code'\]"):
        check_features(baseline, {"intensity": 95.0, "modality": "CT", "site_code": "A"})


def test_features_string_for_numeric(baseline) -> None:
    with pytest.raises(ValidationError, match="feature 'intensity' is numeric and got '95' of type str"):
        check_features(baseline, {"intensity": "95", "modality": "CT"})


def test_features_boolean_for_numeric(baseline) -> None:
    with pytest.raises(ValidationError, match="feature 'intensity' is numeric and got True"):
        check_features(baseline, {"intensity": True, "modality": "CT"})


def test_features_infinite_numeric(baseline) -> None:
    with pytest.raises(ValidationError, match="feature 'intensity' is inf; send a finite number"):
        check_features(baseline, {"intensity": float("inf"), "modality": "CT"})


def test_features_list_for_categorical(baseline) -> None:
    with pytest.raises(ValidationError, match=r"feature 'modality' is categorical and got \['CT'\]"):
        check_features(baseline, {"intensity": 95.0, "modality": ["CT"]})


def test_features_not_mapping(baseline) -> None:
    with pytest.raises(ValidationError, match="features must be a mapping .* got list"):
        check_features(baseline, [95.0, "CT"])


def test_features_message_names_row(baseline) -> None:
    with pytest.raises(ValidationError, match="^row 7: feature 'intensity'"):
        check_features(baseline, {"intensity": "high", "modality": "CT"}, where="row 7: ")


def test_probability_in_class_order() -> None:
    assert check_probability([0.25, 0.75], CLASSES) == [0.25, 0.75]


def test_probability_mapping_reordered() -> None:
    assert check_probability({1: 0.75, 0: 0.25}, CLASSES) == [0.25, 0.75]


def test_probability_none_allowed() -> None:
    assert check_probability(None, CLASSES) is None


def test_probability_float32_softmax_accepted() -> None:
    # 1/3 rounds up in float32, so the three values sum to about 1 + 3e-8, inside the 1e-4 tolerance.
    values = np.array([1 / 3, 1 / 3, 1 / 3], dtype=np.float32)

    assert len(check_probability(values, (0, 1, 2))) == 3


@pytest.mark.parametrize(
    ("probability", "message"),
    [
        ([-0.1, 1.1], r"probability=\[-0.1, 1.1\] has a negative, NaN or infinite value"),
        ([float("nan"), 1.0], r"probability=\[nan, 1.0\] has a negative, NaN or infinite value"),
        ([0.3, 0.3], r"sums to 0.6, not 1; normalise it"),
        ([0.2, 0.3, 0.5], r"has 3 values but the model has 2 classes"),
        ({0: 0.5, 2: 0.5}, r"unknown \[2\], missing \[1\]"),
        (["a", "b"], r"is not a list of numbers"),
    ],
    ids=["negative", "nan", "sum", "length", "keys", "text"],
)
def test_probability_rejected(probability, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        check_probability(probability, CLASSES)


def test_class_accepts_member() -> None:
    assert check_class(np.int64(1), CLASSES, "prediction") == 1


def test_class_rejects_non_member() -> None:
    with pytest.raises(ValidationError, match=r"label=2 is not one of the model's classes \[0, 1\]"):
        check_class(2, CLASSES, "label")


def test_class_rejects_missing() -> None:
    with pytest.raises(ValidationError, match="label is missing; send a class label"):
        check_class(None, CLASSES, "label")


def test_class_rejects_pandas_na() -> None:
    with pytest.raises(ValidationError, match="prediction is missing"):
        check_class(pd.NA, CLASSES, "prediction")


def test_class_any_value_without_classes() -> None:
    assert check_class("benign", (), "prediction") == "benign"


def test_prediction_id_generated_when_none() -> None:
    assert len(check_prediction_id(None)) == 32


def test_prediction_id_int_becomes_string() -> None:
    assert check_prediction_id(17) == "17"


@pytest.mark.parametrize("value", ["", True, 1.5, ["a"]], ids=["empty", "bool", "float", "list"])
def test_prediction_id_rejected(value) -> None:
    with pytest.raises(ValidationError, match="prediction_id=.* is invalid"):
        check_prediction_id(value)


def test_prepare_prediction_row(baseline) -> None:
    timestamp = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

    row = prepare_prediction("lesion-classifier:1", baseline, CLASSES, {"intensity": 95, "modality": "CT"},
                             1, [0.3, 0.7], prediction_id="pred-1", timestamp=timestamp)

    assert row == {"prediction_id": "pred-1", "model_id": "lesion-classifier:1", "timestamp": timestamp,
                   "features": {"intensity": 95, "modality": "CT"}, "prediction": 1, "probability": [0.3, 0.7]}


def test_prepare_prediction_rejects_naive_timestamp(baseline) -> None:
    with pytest.raises(ValidationError, match="timestamp='2026-03-02T08:00:00' has no time zone"):
        prepare_prediction("lesion-classifier:1", baseline, CLASSES, {"intensity": 95, "modality": "CT"},
                           1, None, timestamp=datetime(2026, 3, 2, 8, 0))
