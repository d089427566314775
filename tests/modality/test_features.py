"""Acquisition and intensity features of image records, and their use by the drift monitor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file

from workbench.errors import BaselineError
from workbench.modality.deid import Deidentifier
from workbench.modality.features import FEATURE_TYPES, features_frame, image_features
from workbench.modality.record import ImageRecord
from workbench.monitoring import compute_baseline, detect_drift


def _metadata(**changes) -> dict:
    """Return metadata shaped like Deidentifier.metadata for a CT slice, with ``changes`` applied."""
    metadata = {
        "Modality": "CT",
        "Manufacturer": "ACME",
        "ManufacturerModelName": "Model 9",
        "StationName": "K3J9Q0W2E8R1",
        "KVP": 120.0,
        "SliceThickness": 1.25,
        "PixelSpacing": [0.7, 0.8],
        "ConvolutionKernel": "STANDARD",
        "ContrastBolusAgentPresent": False,
        "BodyPartExamined": "CHEST",
        "PhotometricInterpretation": "MONOCHROME2",
        "Rows": 4,
        "Columns": 4,
    }
    metadata.update(changes)
    return metadata


def _record(pixels: np.ndarray, **metadata_changes) -> ImageRecord:
    return ImageRecord(
        pixels=pixels, format="dicom-series", modality="CT", units="HU", spacing=(2.5, 0.7, 0.8),
        coordinate_system="LPS", axes="slice,row,column", frame_count=pixels.shape[0],
        photometric_interpretation="MONOCHROME2", metadata=_metadata(**metadata_changes),
    )


def test_row_values_from_record():
    # Values 0 to 31 HU. Computed by hand, the mean is 15.5, the minimum 0 and the maximum 31.
    pixels = np.arange(32, dtype=np.int16).reshape(2, 4, 4)

    row = image_features(_record(pixels))

    assert row["modality"] == "CT"
    assert row["manufacturer"] == "ACME"
    assert row["manufacturer_model_name"] == "Model 9"
    assert row["station_name"] == "K3J9Q0W2E8R1"
    assert row["body_part_examined"] == "CHEST"
    assert row["convolution_kernel"] == "STANDARD"
    assert row["contrast_bolus_agent_present"] is False
    assert row["photometric_interpretation"] == "MONOCHROME2"
    assert row["kvp"] == 120.0
    assert row["slice_thickness_mm"] == 1.25
    assert row["pixel_spacing_row_mm"] == 0.7
    assert row["pixel_spacing_column_mm"] == 0.8
    assert row["slice_spacing_mm"] == 2.5
    assert row["rows"] == 4.0
    assert row["columns"] == 4.0
    assert row["frames"] == 2.0
    assert row["intensity_mean"] == 15.5
    assert row["intensity_min"] == 0.0
    assert row["intensity_max"] == 31.0
    assert row["intensity_p50"] == pytest.approx(np.percentile(pixels, 50))
    assert row["intensity_p1"] == pytest.approx(np.percentile(pixels, 1))
    assert row["intensity_p99"] == pytest.approx(np.percentile(pixels, 99))
    assert row["intensity_std"] == pytest.approx(np.std(pixels))


def test_row_columns_match_feature_types():
    row = image_features(_record(np.zeros((2, 4, 4), dtype=np.int16)))

    assert list(row) == list(FEATURE_TYPES)


def test_row_without_metadata_is_none():
    record = ImageRecord(pixels=np.zeros((3, 5), dtype=np.uint8), format="png")

    row = image_features(record)

    assert row["manufacturer"] is None
    assert row["kvp"] is None
    assert row["contrast_bolus_agent_present"] is None
    assert row["slice_spacing_mm"] is None
    assert row["rows"] == 3.0
    assert row["columns"] == 5.0
    assert row["frames"] == 1.0


def test_row_invalid_numbers_are_none():
    record = _record(np.zeros((2, 4, 4), dtype=np.int16), KVP="not a number", SliceThickness=float("nan"))

    row = image_features(record)

    assert row["kvp"] is None
    assert row["slice_thickness_mm"] is None


def test_multivalued_kernel_joined():
    row = image_features(_record(np.zeros((2, 4, 4), dtype=np.int16), ConvolutionKernel=["FC18", "AIDR"]))

    assert row["convolution_kernel"] == "FC18\\AIDR"


def test_nifti_geometry_by_axis():
    # NIfTI keeps (i, j, k) order: a slice is shown with j down the rows and i across the columns.
    record = ImageRecord(pixels=np.zeros((6, 5, 4), dtype=np.float32), format="nifti", spacing=(1.0, 2.0, 3.0),
                         coordinate_system="RAS", axes="i,j,k")

    row = image_features(record)

    assert row["rows"] == 5.0
    assert row["columns"] == 6.0
    assert row["pixel_spacing_row_mm"] == 2.0
    assert row["pixel_spacing_column_mm"] == 1.0
    assert row["slice_spacing_mm"] == 3.0


def test_in_plane_spacing_of_multiframe():
    # Frames of a cine loop are not positions in space, so the record has in-plane spacing only.
    record = ImageRecord(pixels=np.zeros((10, 4, 6), dtype=np.int16), format="dicom", spacing=(0.5, 0.6),
                         axes="frame,row,column", frame_count=10)

    row = image_features(record)

    assert row["pixel_spacing_row_mm"] == 0.5
    assert row["pixel_spacing_column_mm"] == 0.6
    assert row["slice_spacing_mm"] is None
    assert row["rows"] == 4.0
    assert row["columns"] == 6.0
    assert row["frames"] == 10.0


def test_colour_image_geometry():
    record = ImageRecord(pixels=np.zeros((4, 6, 3), dtype=np.uint8), format="png", spacing=(0.2, 0.3),
                         axes="row,column,sample", photometric_interpretation="RGB")

    row = image_features(record)

    assert row["rows"] == 4.0
    assert row["columns"] == 6.0
    assert row["pixel_spacing_row_mm"] == 0.2
    assert row["photometric_interpretation"] == "RGB"


def test_real_file_row():
    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    metadata = Deidentifier(salt="feature test").metadata(ds)
    pixels = pydicom.pixels.apply_rescale(ds.pixel_array, ds)
    record = ImageRecord(pixels=pixels, format="dicom", modality="CT", units="HU", metadata=metadata)

    row = image_features(record)

    # Header values of CT_small.dcm as pydicom prints them: KVP 120, Pixel Spacing 0.661468,
    # Convolution Kernel STANDARD, Manufacturer GE MEDICAL SYSTEMS.
    assert row["kvp"] == 120.0
    assert row["pixel_spacing_row_mm"] == 0.661468
    assert row["convolution_kernel"] == "STANDARD"
    assert row["manufacturer"] == "GE MEDICAL SYSTEMS"
    assert row["station_name"] == metadata["StationName"]
    assert row["rows"] == 128.0
    assert row["intensity_min"] == float(pixels.min())


def test_frame_dtypes_and_order():
    records = [_record(np.zeros((2, 4, 4), dtype=np.int16)) for _ in range(3)]

    frame = features_frame(records)

    assert list(frame.columns) == list(FEATURE_TYPES)
    assert len(frame) == 3
    for column, kind in FEATURE_TYPES.items():
        if kind == "numeric":
            assert frame[column].dtype == np.float64, column
        else:
            assert frame[column].dtype == object, column


def test_frame_drop_empty_columns():
    records = [ImageRecord(pixels=np.zeros((3, 5), dtype=np.uint8), format="png") for _ in range(3)]

    full = features_frame(records)
    reduced = features_frame(records, drop_empty=True)

    assert "kvp" in full.columns
    assert "kvp" not in reduced.columns
    assert "intensity_mean" in reduced.columns


def test_empty_column_rejected_by_baseline():
    records = [ImageRecord(pixels=np.zeros((3, 5), dtype=np.uint8) + index, format="png") for index in range(5)]
    frame = features_frame(records)

    with pytest.raises(BaselineError, match="kvp"):
        compute_baseline(frame, feature_types=FEATURE_TYPES)


def _population(rng: np.random.Generator, size: int, kernels: list[str], kernel_shares: list[float],
                kvp: float) -> list[ImageRecord]:
    records = []
    for _ in range(size):
        pixels = rng.normal(40.0, 12.0, size=(2, 4, 4)).round().astype(np.int16)
        kernel = str(rng.choice(kernels, p=kernel_shares))
        records.append(_record(pixels, ConvolutionKernel=kernel, KVP=kvp + float(rng.normal(0.0, 1.0)),
                               ContrastBolusAgentPresent=bool(rng.random() < 0.4)))
    return records


def test_monitor_flags_new_kernel_and_kvp():
    rng = np.random.default_rng(20240601)
    reference = features_frame(_population(rng, 300, ["STANDARD", "BONE"], [0.7, 0.3], kvp=120.0))
    # The current window: a new reconstruction kernel on 40 % of the images and a lower tube voltage.
    current = features_frame(_population(rng, 150, ["STANDARD", "BONE", "FC18"], [0.4, 0.2, 0.4], kvp=100.0))

    baseline = compute_baseline(reference, feature_types=FEATURE_TYPES)
    report = detect_drift(baseline, current)

    assert baseline.features["convolution_kernel"].kind == "categorical"
    assert baseline.features["kvp"].kind == "numeric"
    assert report["convolution_kernel"].drift
    assert report["convolution_kernel"].unseen_categories == ("FC18",)
    assert report["kvp"].drift
    assert not report["intensity_mean"].drift
    assert not report["contrast_bolus_agent_present"].drift


def test_monitor_quiet_without_change():
    rng = np.random.default_rng(7)
    reference = features_frame(_population(rng, 300, ["STANDARD", "BONE"], [0.7, 0.3], kvp=120.0))
    current = features_frame(_population(rng, 150, ["STANDARD", "BONE"], [0.7, 0.3], kvp=120.0))

    report = detect_drift(compute_baseline(reference, feature_types=FEATURE_TYPES), current)

    assert report.drifted_features == []


def test_frame_from_no_records():
    frame = features_frame([])

    assert list(frame.columns) == list(FEATURE_TYPES)
    assert isinstance(frame, pd.DataFrame)
    assert len(frame) == 0
