"""Checks of prediction records against a model's baseline before anything is stored.

Every check raises :class:`~workbench.errors.ValidationError` naming the value and the fix, so that a
batch with one bad row stores nothing.
"""

from __future__ import annotations

import math
import numbers
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ValidationError
from workbench.monitoring.baseline import BaselineStatistics
from workbench.monitoring.features import CATEGORICAL, category_key
from workbench.timeutil import to_utc, utc_now

#: Largest allowed distance of the sum of class probabilities from 1. It admits float32 softmax
#: output, whose sums are typically within 1e-7 of 1, and rejects probabilities that were never
#: normalised.
PROBABILITY_SUM_TOLERANCE = 1e-4


def prepare_prediction(
    model_id: str,
    baseline: BaselineStatistics,
    classes: Sequence[Any],
    features: Mapping[str, Any],
    prediction: Any,
    probability: Sequence[float] | Mapping[Any, float] | None,
    *,
    prediction_id: str | None = None,
    timestamp: datetime | str | None = None,
    where: str = "",
) -> dict[str, Any]:
    """Check one prediction and return the row to store.

    ``where`` prefixes messages, such as ``"row 17: "`` in a batch.
    """
    row = {
        "prediction_id": check_prediction_id(prediction_id, where),
        "model_id": model_id,
        "timestamp": utc_now() if timestamp is None else to_utc(timestamp, field=f"{where}timestamp"),
        "features": check_features(baseline, features, where),
        "prediction": check_class(prediction, classes, "prediction", where),
        "probability": check_probability(probability, classes, where),
    }
    return row


def check_prediction_id(prediction_id: Any, where: str = "") -> str:
    """Return the prediction id as a string, generating a random one when None."""
    if prediction_id is None:
        return uuid.uuid4().hex
    if not isinstance(prediction_id, str | int) or isinstance(prediction_id, bool) or str(prediction_id) == "":
        raise ValidationError(
            f"{where}prediction_id={prediction_id!r} is invalid; use a non-empty string that identifies the "
            "prediction, so a redelivered prediction is stored once.",
            field="prediction_id", value=prediction_id,
        )
    return str(prediction_id)


def check_features(baseline: BaselineStatistics, features: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """Check feature names and types against the baseline and return JSON-ready values.

    Missing values (None, NaN or ``pd.NA``) are stored as None.
    """
    if not isinstance(features, Mapping):
        raise ValidationError(
            f"{where}features must be a mapping of feature name to value, got {type(features).__name__}.",
            field="features", value=type(features).__name__,
        )
    expected = baseline.features
    missing = [name for name in expected if name not in features]
    extra = sorted(str(name) for name in features if name not in expected)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {missing}")
        if extra:
            parts.append(f"not in the baseline {extra}")
        raise ValidationError(
            f"{where}features do not match the model's baseline: {'; '.join(parts)}. Send exactly the "
            f"baseline features {list(expected)}; use None for a missing value.",
            field="features", value={"missing": missing, "extra": extra},
        )
    return {name: _check_feature_value(name, feature.kind, features[name], where)
            for name, feature in expected.items()}


def _check_feature_value(name: str, kind: str, value: Any, where: str) -> Any:
    # Fast path for the plain Python values that nearly every row has; the checks below cover the rest.
    value_type = type(value)
    if value_type is float:
        if math.isfinite(value):
            return value
        if math.isnan(value):
            return None
    elif (value_type is str and kind == CATEGORICAL) or (value_type is int and kind != CATEGORICAL):
        return value
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if kind == CATEGORICAL:
        if isinstance(value, str | bool | int) or (isinstance(value, float) and math.isfinite(value)):
            return value
        raise ValidationError(
            f"{where}feature {name!r} is categorical and got {value!r} of type {type(value).__name__}; "
            "send a string, an integer or a boolean.",
            field=name, value=value,
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(
            f"{where}feature {name!r} is numeric and got {value!r} of type {type(value).__name__}; send a "
            "number, or None when the value is missing.",
            field=name, value=value,
        )
    if not math.isfinite(value):
        raise ValidationError(
            f"{where}feature {name!r} is {value!r}; send a finite number, or None when the value is missing.",
            field=name, value=value,
        )
    return value


def check_class(value: Any, classes: Sequence[Any], field: str, where: str = "") -> Any:
    """Return ``value`` as a plain Python value, checking it is one of ``classes`` when they are known."""
    if isinstance(value, np.generic):
        value = value.item()
    if _is_missing(value):
        raise ValidationError(f"{where}{field} is missing; send a class label.", field=field, value=value)
    if classes and value not in classes:
        raise ValidationError(
            f"{where}{field}={value!r} is not one of the model's classes {list(classes)}; send one of them.",
            field=field, value=value,
        )
    return value


def check_probability(
    probability: Sequence[float] | Mapping[Any, float] | np.ndarray | None,
    classes: Sequence[Any],
    where: str = "",
) -> list[float] | None:
    """Check class probabilities and return them as a list in the order of ``classes``.

    A mapping is read by class label; a sequence must already be in class order. Probabilities must be
    finite, non-negative and sum to 1 within :data:`PROBABILITY_SUM_TOLERANCE`.
    """
    if probability is None:
        return None
    if isinstance(probability, Mapping):
        # JSON object keys are always strings, so keys are matched by canonical category key:
        # {"0": 0.3, "1": 0.7} fits classes [0, 1].
        by_key = {category_key(key): value for key, value in probability.items()}
        class_keys = [category_key(label) for label in classes]
        unknown = [key for key in probability if category_key(key) not in class_keys]
        missing = [label for label, key in zip(classes, class_keys, strict=True) if key not in by_key]
        if unknown or missing:
            raise ValidationError(
                f"{where}probability keys do not match the model's classes {list(classes)}: unknown "
                f"{unknown}, missing {missing}; give one probability per class.",
                field="probability", value=dict(probability),
            )
        probability = [by_key[key] for key in class_keys]
    try:
        values = np.asarray(probability, dtype="float64").reshape(-1)
    except (TypeError, ValueError):
        raise ValidationError(
            f"{where}probability={probability!r} is not a list of numbers; send one probability per class "
            f"in the order {list(classes)}.",
            field="probability", value=probability,
        ) from None
    if classes and values.size != len(classes):
        raise ValidationError(
            f"{where}probability has {values.size} values but the model has {len(classes)} classes "
            f"{list(classes)}; send one probability per class in that order.",
            field="probability", value=values.tolist(),
        )
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValidationError(
            f"{where}probability={values.tolist()} has a negative, NaN or infinite value; send probabilities "
            "in [0, 1].",
            field="probability", value=values.tolist(),
        )
    total = float(values.sum())
    if abs(total - 1.0) > PROBABILITY_SUM_TOLERANCE:
        raise ValidationError(
            f"{where}probability={values.tolist()} sums to {total:.6g}, not 1; normalise it (for example "
            "by dividing by the sum) before recording, and check the values are in class order.",
            field="probability", value=values.tolist(),
        )
    return values.tolist()


def _is_missing(value: Any) -> bool:
    """Return whether ``value`` is None, NaN or pandas' ``pd.NA``, all of which mean "not known"."""
    return value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value))
