"""Feature kinds and the canonical form of categorical values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from workbench.errors import ValidationError

NUMERIC = "numeric"
CATEGORICAL = "categorical"
KINDS = (NUMERIC, CATEGORICAL)


def infer_kind(series: pd.Series) -> str:
    """Guess a column's kind: numeric for numeric dtypes except booleans, categorical otherwise."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return CATEGORICAL
    if pd.api.types.is_numeric_dtype(series.dtype):
        return NUMERIC
    return CATEGORICAL


def resolve_kinds(frame: pd.DataFrame, declared: Mapping[str, str] | None) -> dict[str, str]:
    """Return the kind of every column, a declared kind always winning over the guess.

    Raises
    ------
    ValidationError
        If a declared kind is unknown or names a column the frame lacks.
    """
    declared = dict(declared or {})
    unknown_columns = sorted(set(declared) - set(frame.columns))
    if unknown_columns:
        raise ValidationError(
            f"Declared feature types name columns that are not in the data: {unknown_columns}; "
            f"the data has {list(frame.columns)}.",
            field="feature_types", value=unknown_columns,
        )
    for column, kind in declared.items():
        if kind not in KINDS:
            raise ValidationError(
                f"Feature type {kind!r} for column {column!r} is invalid; use one of {KINDS}.",
                field=column, value=kind,
            )
    return {column: declared.get(column) or infer_kind(frame[column]) for column in frame.columns}


def as_numeric(series: pd.Series, column: str) -> np.ndarray:
    """Return ``series`` as float64 with NaN for missing values.

    Raises
    ------
    ValidationError
        If a value is not a number; the message names the column and the first bad value.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        raise ValidationError(
            f"Column {column!r} contains booleans but is declared numeric; declare it categorical.",
            field=column, value=series.dtype,
        )
    converted = pd.to_numeric(series, errors="coerce")
    bad = converted.isna() & series.notna()
    if bad.any():
        value = series[bad].iloc[0]
        raise ValidationError(
            f"Column {column!r} is numeric but contains {value!r}; fix the value or declare the column "
            "categorical.",
            field=column, value=value,
        )
    return converted.to_numpy(dtype="float64", na_value=np.nan)


def category_key(value: Any) -> str:
    """Return the canonical string of a categorical value, so ``1``, ``1.0`` and ``"1"`` are one category.

    >>> category_key(14.0), category_key(True), category_key("left")
    ('14', 'True', 'left')
    """
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, float | np.floating) and math.isfinite(value) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.integer):
        return str(int(value))
    return str(value)


def category_counts(series: pd.Series) -> dict[str, int]:
    """Count the non-missing values of ``series`` by canonical category key.

    Only values that occur are counted. An unused category of a pandas ``category`` column, which
    ``value_counts`` lists with count 0, is left out, because an all-zero column of the contingency
    table has no expected frequency and makes the chi-square test fail.
    """
    values = series[series.notna()]
    counts: dict[str, int] = {}
    for value, count in values.value_counts(sort=False, dropna=True).items():
        if count == 0:
            continue
        key = category_key(value)
        counts[key] = counts.get(key, 0) + int(count)
    return counts
