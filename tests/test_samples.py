"""Tests for data_samples/build_samples.py, which is loaded by path because data_samples is not a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "data_samples" / "build_samples.py"
SHIFT_START = pd.Timestamp("2026-10-05T00:00:00Z")
TEXTURE_COLUMNS = ("mean_texture", "texture_error", "worst_texture")


def load_script():
    spec = importlib.util.spec_from_file_location("build_samples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # dataclasses looks the module up in sys.modules while the module body runs.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build_samples():
    return load_script().build_samples


@pytest.fixture(scope="module")
def sample_dir(build_samples, tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("samples")
    build_samples(output_dir)
    return output_dir


@pytest.fixture(scope="module")
def production(sample_dir):
    return pd.read_csv(sample_dir / "production.csv")


def test_build_is_byte_identical(build_samples, sample_dir, tmp_path):
    second = build_samples(tmp_path)

    assert sorted(second) == ["labels", "production", "reference"]
    for path in second.values():
        first_bytes = (sample_dir / path.name).read_bytes()
        assert path.read_bytes() == first_bytes, f"{path.name} differs between two builds"


def test_production_shape_and_ids(production):
    assert len(production) == 2400
    assert production["prediction_id"].is_unique
    assert production["prediction_id"].iloc[0] == "pred-000001"


def test_production_timestamps_sorted_utc(production):
    timestamps = production["timestamp"]

    assert timestamps.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
    parsed = pd.to_datetime(timestamps, utc=True)
    assert parsed.is_monotonic_increasing
    assert parsed.min() >= pd.Timestamp("2026-09-07T00:00:00Z")
    assert parsed.max() < pd.Timestamp("2026-11-02T00:00:00Z")


def test_site_b_texture_shift_after_start(sample_dir, production):
    reference = pd.read_csv(sample_dir / "reference.csv")
    after_start = pd.to_datetime(production["timestamp"], utc=True) >= SHIFT_START
    is_site_b = production["site"] == "B"

    for column in TEXTURE_COLUMNS:
        baseline = reference[column].median()
        before = production.loc[~after_start & is_site_b, column].median()
        shifted = production.loc[after_start & is_site_b, column].median()
        other_sites = production.loc[after_start & ~is_site_b, column].median()

        assert before < 1.15 * baseline, f"{column}: site B is shifted before {SHIFT_START}"
        assert shifted > 1.3 * baseline, f"{column}: site B is not shifted from {SHIFT_START} on"
        assert other_sites < 1.15 * baseline, f"{column}: sites A and C are shifted"


def test_site_b_share_rises_after_start(production):
    after_start = pd.to_datetime(production["timestamp"], utc=True) >= SHIFT_START
    is_site_b = production["site"] == "B"

    assert is_site_b[~after_start].mean() == pytest.approx(0.3, abs=0.05)
    assert is_site_b[after_start].mean() == pytest.approx(0.55, abs=0.05)


def test_unshifted_rows_are_source_rows(production):
    features, _ = load_script().load_source_data()
    after_start = pd.to_datetime(production["timestamp"], utc=True) >= SHIFT_START
    unshifted = production.loc[~(after_start & (production["site"] == "B")), list(features.columns)]
    matched = unshifted.merge(features.drop_duplicates(), how="left", indicator=True)

    assert len(unshifted) > 0
    assert (matched["_merge"] == "both").all(), "some unshifted production rows are not rows of the source data"


def test_labels_reference_predictions(sample_dir, production):
    labels = pd.read_csv(sample_dir / "labels.csv")
    unknown = sorted(set(labels["prediction_id"]) - set(production["prediction_id"]))

    assert not unknown, f"labels.csv has unknown prediction ids: {unknown[:5]}"
    assert labels["prediction_id"].is_unique
    assert labels["label"].isin([0, 1]).all()


def test_labels_arrive_one_to_ten_days_later(sample_dir, production):
    labels = pd.read_csv(sample_dir / "labels.csv")
    merged = labels.merge(production[["prediction_id", "timestamp"]], on="prediction_id", suffixes=("", "_prediction"))
    delay = pd.to_datetime(merged["timestamp"], utc=True) - pd.to_datetime(merged["timestamp_prediction"], utc=True)

    assert delay.min() >= pd.Timedelta(days=1)
    assert delay.max() <= pd.Timedelta(days=10)


@pytest.fixture(scope="module")
def built_images(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("sample_images")
    return output_dir, load_script().build_images(output_dir)


def test_images_are_shipped_copies(built_images):
    import nibabel.testing
    from pydicom.data import get_testdata_file

    output_dir, paths = built_images
    series = Path(get_testdata_file("CT_small.dcm", download=False)).parent / "dicomdirtests" / "77654033" / "CT2"
    sources = {
        "CT_small.dcm": get_testdata_file("CT_small.dcm", download=False),
        "MR_small.dcm": get_testdata_file("MR_small.dcm", download=False),
        "MR_small_RLE.dcm": get_testdata_file("MR_small_RLE.dcm", download=False),
        "JPEG2000.dcm": get_testdata_file("JPEG2000.dcm", download=False),
        "ct_series/17136": series / "17136",
        "ct_series/17166": series / "17166",
        "ct_series/17196": series / "17196",
        "example4d.nii.gz": Path(nibabel.testing.data_path) / "example4d.nii.gz",
        "anatomical.nii": Path(nibabel.testing.data_path) / "anatomical.nii",
    }

    assert sorted(paths) == sorted(sources)
    for relative, source in sources.items():
        assert paths[relative] == output_dir / "images" / relative
        assert paths[relative].read_bytes() == Path(source).read_bytes(), relative


def test_images_stay_small(built_images):
    _, paths = built_images
    size = sum(path.stat().st_size for path in paths.values())

    # 475 KiB with pydicom 3.0.2 and nibabel 5.4.2; the folder should stay well under a few MB.
    assert size < 1024 * 1024


def test_images_never_download(monkeypatch, tmp_path):
    import pydicom.data

    original = pydicom.data.get_testdata_file
    downloads = []

    def no_download(name, *args, **kwargs):
        downloads.append(kwargs.get("download", True))
        return original(name, *args, **kwargs)

    monkeypatch.setattr(pydicom.data, "get_testdata_file", no_download)
    load_script().build_images(tmp_path)

    assert downloads
    assert not any(downloads), "get_testdata_file was called with download=True"


def test_images_read_without_errors(built_images):
    from workbench.modality.deid import Deidentifier
    from workbench.modality.folders import process_folder
    from workbench.modality.series import read_volume

    output_dir, _ = built_images
    result = process_folder(output_dir / "images", workers=1, progress=False, salt="sample test salt")
    volume = read_volume(output_dir / "images" / "ct_series", deidentifier=Deidentifier(salt="sample test salt"))

    assert len(result.errors) == 0, result.errors.to_dict(orient="records")
    assert len(result.features) == 9
    assert volume.shape == (3, 16, 16)
