"""Acquisition and intensity features of image records, as flat rows the monitor can baseline and drift-check.

A new scanner, a software update or a different reconstruction kernel changes images in ways a model
notices before anyone else does. :func:`image_features` turns one :class:`ImageRecord` into one row of
acquisition settings (from the de-identified ``metadata`` that :meth:`Deidentifier.metadata` fills),
geometry and intensity statistics. :func:`features_frame` stacks rows into a DataFrame, and
:data:`FEATURE_TYPES` declares each column's kind for :func:`workbench.monitoring.compute_baseline`.

Column names are stable snake_case, with units in the name where there is one (``_mm`` for
millimetres, ``kvp`` in kilovolts peak). Intensities are in the record's physical units, such as
Hounsfield units for CT.

>>> import numpy as np
>>> from workbench.modality.record import ImageRecord
>>> record = ImageRecord(pixels=np.array([[0, 100], [200, 300]], dtype=np.int16), format="dicom",
...                      modality="CT", metadata={"KVP": 120.0, "ConvolutionKernel": "STANDARD"})
>>> row = image_features(record)
>>> row["kvp"], row["convolution_kernel"], row["intensity_max"]
(120.0, 'STANDARD', 300.0)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from workbench.modality.record import ImageRecord
from workbench.monitoring.features import CATEGORICAL, NUMERIC

#: Column name to ``"numeric"`` or ``"categorical"``, in the column order of :func:`features_frame`.
FEATURE_TYPES: dict[str, str] = {
    "modality": CATEGORICAL,
    "manufacturer": CATEGORICAL,
    "manufacturer_model_name": CATEGORICAL,
    "station_name": CATEGORICAL,
    "body_part_examined": CATEGORICAL,
    "convolution_kernel": CATEGORICAL,
    "contrast_bolus_agent_present": CATEGORICAL,
    "photometric_interpretation": CATEGORICAL,
    "kvp": NUMERIC,
    "slice_thickness_mm": NUMERIC,
    "pixel_spacing_row_mm": NUMERIC,
    "pixel_spacing_column_mm": NUMERIC,
    "slice_spacing_mm": NUMERIC,
    "rows": NUMERIC,
    "columns": NUMERIC,
    "frames": NUMERIC,
    "intensity_mean": NUMERIC,
    "intensity_std": NUMERIC,
    "intensity_min": NUMERIC,
    "intensity_p1": NUMERIC,
    "intensity_p50": NUMERIC,
    "intensity_p99": NUMERIC,
    "intensity_max": NUMERIC,
}

# Metadata keyword (as in Deidentifier.metadata) behind each categorical acquisition column.
_CATEGORICAL_SOURCES = {
    "manufacturer": "Manufacturer",
    "manufacturer_model_name": "ManufacturerModelName",
    "station_name": "StationName",
    "body_part_examined": "BodyPartExamined",
    "convolution_kernel": "ConvolutionKernel",
    "photometric_interpretation": "PhotometricInterpretation",
}


def image_features(record: ImageRecord) -> dict[str, Any]:
    """Return one flat row of acquisition, geometry and intensity features of ``record``.

    Every key of :data:`FEATURE_TYPES` is present, with None where the record does not tell.
    Categorical values are stripped text (multiple DICOM values joined with a backslash), except
    ``contrast_bolus_agent_present``, which is a bool. Numeric values are floats.

    Notes
    -----
    - ``pixel_spacing_row_mm`` and ``pixel_spacing_column_mm`` come from DICOM PixelSpacing, which lists
      the row spacing (distance between adjacent rows) first (PS3.3 section 10.7.1.3). Without it they
      come from the record's ``spacing`` along its row and column axes.
    - ``slice_spacing_mm`` is the record's spacing along its frame, slice or ``k`` axis, and None for a
      single plane.
    - ``rows`` and ``columns`` are the DICOM Rows and Columns, else the sizes of the record's row and
      column axes. For NIfTI's ``i,j,k`` order they are the sizes along ``j`` and ``i``, which is how
      a slice is shown.
    - Intensity columns are the record's :class:`IntensityStatistics`: ``p1``, ``p50`` and ``p99`` are
      percentiles, NaNs are left out, and colour samples are pooled.
    """
    metadata = record.metadata or {}
    row: dict[str, Any] = {"modality": _category(record.modality or metadata.get("Modality"))}
    for column, keyword in _CATEGORICAL_SOURCES.items():
        row[column] = _category(metadata.get(keyword))
    if row["photometric_interpretation"] is None:
        row["photometric_interpretation"] = _category(record.photometric_interpretation)
    contrast = metadata.get("ContrastBolusAgentPresent")
    row["contrast_bolus_agent_present"] = None if contrast is None else bool(contrast)

    row["kvp"] = _number(metadata.get("KVP"))
    row["slice_thickness_mm"] = _number(metadata.get("SliceThickness"))
    row.update(_geometry(record, metadata))
    row.update(_intensity(record))
    return {column: row.get(column) for column in FEATURE_TYPES}


def features_frame(records: Iterable[ImageRecord], *, drop_empty: bool = False) -> pd.DataFrame:
    """Return one row of :func:`image_features` per record, columns in :data:`FEATURE_TYPES` order.

    Parameters
    ----------
    records : iterable of ImageRecord
    drop_empty : bool
        Drop columns that are missing in every row. :func:`~workbench.monitoring.compute_baseline`
        rejects an entirely missing column, which happens for ``kvp`` in an MR-only set or for
        ``slice_spacing_mm`` when every record is a single plane. Pass
        ``feature_types={c: FEATURE_TYPES[c] for c in frame.columns}`` with the reduced frame.

    Returns
    -------
    pandas.DataFrame
        Numeric columns are float64. Categorical columns are object dtype with None for missing values.
    """
    rows = [image_features(record) for record in records]
    frame = pd.DataFrame(rows, columns=list(FEATURE_TYPES))
    for column, kind in FEATURE_TYPES.items():
        if kind == NUMERIC:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        else:
            frame[column] = frame[column].astype(object)
    if drop_empty:
        frame = frame.loc[:, frame.notna().any(axis=0)]
    return frame


def _geometry(record: ImageRecord, metadata: Mapping[str, Any]) -> dict[str, float | None]:
    names = record.axes.split(",")
    sizes = dict(zip(names, record.shape, strict=False))
    spacing = _spacing_by_axis(names, record.spacing or ())
    if names[0] == "i":
        row_axis, column_axis, stack_axis = "j", "i", "k"
    else:
        row_axis, column_axis, stack_axis = "row", "column", names[0]

    pixel_spacing = metadata.get("PixelSpacing")
    if isinstance(pixel_spacing, list | tuple) and len(pixel_spacing) == 2:
        row_spacing, column_spacing = _number(pixel_spacing[0]), _number(pixel_spacing[1])
    else:
        row_spacing, column_spacing = _number(spacing.get(row_axis)), _number(spacing.get(column_axis))

    return {
        "pixel_spacing_row_mm": row_spacing,
        "pixel_spacing_column_mm": column_spacing,
        "slice_spacing_mm": _number(spacing.get(stack_axis)) if stack_axis in ("frame", "slice", "k") else None,
        "rows": _number(metadata.get("Rows")) or _number(sizes.get(row_axis)),
        "columns": _number(metadata.get("Columns")) or _number(sizes.get(column_axis)),
        "frames": float(record.frame_count),
    }


def _spacing_by_axis(names: list[str], spacing: tuple[float, ...]) -> dict[str, float]:
    """Pair spacing values with axis names, aligned at the last spatial axis.

    A multi-frame object whose frames are not positions in space has in-plane spacing only, so the
    values belong to the last two spatial axes. A trailing colour ``sample`` axis has no spacing.
    """
    spatial = [name for name in names if name != "sample"]
    if not spacing or len(spacing) > len(spatial):
        return {}
    return dict(zip(spatial[-len(spacing):], spacing, strict=True))


def _intensity(record: ImageRecord) -> dict[str, float | None]:
    statistics = record.statistics
    percentiles = statistics.percentiles if statistics else {}
    return {
        "intensity_mean": _number(statistics.mean) if statistics else None,
        "intensity_std": _number(statistics.std) if statistics else None,
        "intensity_min": _number(statistics.minimum) if statistics else None,
        "intensity_p1": _number(percentiles.get("p1")),
        "intensity_p50": _number(percentiles.get("p50")),
        "intensity_p99": _number(percentiles.get("p99")),
        "intensity_max": _number(statistics.maximum) if statistics else None,
    }


def _category(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list | tuple):
        value = "\\".join(str(item).strip() for item in value)
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None when it is missing, not a number or not finite."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
