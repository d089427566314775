"""process_folder: one feature row per file, broken files reported and skipped, workers and pseudonyms."""

from __future__ import annotations

import io
import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from workbench.errors import NotFoundError, ValidationError
from workbench.modality import folders
from workbench.modality.deid import SALT_VARIABLE, Deidentifier
from workbench.modality.features import FEATURE_TYPES, image_features
from workbench.modality.folders import (
    ERROR_COLUMNS,
    FEATURE_COLUMNS,
    INTENSITY_COLUMNS,
    FolderResult,
    list_files,
    process_folder,
)
from workbench.modality.process import process_image

SALT = "folder test salt, not a secret"

# Made-up identifiers written into one fixture file; none may appear in any output.
FAKE_IDENTIFIERS = {
    "PatientName": "Test^Alpha",
    "PatientID": "ANON0001",
    "AccessionNumber": "ACC7731",
    "InstitutionName": "Fake General Hospital",
    "StationName": "SCANNERCT7",
}


def shipped(name: str) -> Path:
    # download=False: pydicom's data manager would otherwise try the network.
    return Path(get_testdata_file(name, download=False))


def write_copy(source: Path, target: Path, index: int) -> None:
    """Write a copy of a DICOM file with its own SOPInstanceUID, as a scanner would send it."""
    ds = pydicom.dcmread(source)
    uid = generate_uid(entropy_srcs=["test_folders", str(index)])
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """A folder of DICOM files in three encodings, a colour multi-frame file, a PNG, a hidden and a broken file."""
    folder = tmp_path / "incoming"
    for subfolder in ("mr", "colour"):
        (folder / subfolder).mkdir(parents=True)
    shutil.copy(shipped("CT_small.dcm"), folder / "CT_small.dcm")
    shutil.copy(shipped("MR_small.dcm"), folder / "mr" / "MR_small.dcm")
    shutil.copy(shipped("MR_small_RLE.dcm"), folder / "mr" / "MR_small_RLE.dcm")
    shutil.copy(shipped("JPEG2000.dcm"), folder / "nm.dcm")
    shutil.copy(shipped("SC_rgb_rle_2frame.dcm"), folder / "colour" / "two_frames.dcm")
    buffer = io.BytesIO()
    Image.fromarray(np.array([[0, 64], [128, 255]], dtype=np.uint8)).save(buffer, format="PNG")
    (folder / "photo.png").write_bytes(buffer.getvalue())
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "broken.dcm").write_text("This is a note someone saved with a .dcm name, not an image.\n")
    return folder


@pytest.fixture
def ct_copies(tmp_path: Path) -> Path:
    """Twelve copies of CT_small.dcm in three subfolders. Two workers get them in chunks of one file."""
    folder = tmp_path / "ct"
    for index in range(12):
        write_copy(shipped("CT_small.dcm"), folder / f"series{index % 3}" / f"image{index:02d}.dcm", index)
    return folder


def test_broken_file_reported_and_skipped(image_folder: Path) -> None:
    result = process_folder(image_folder, workers=1, progress=False, salt=SALT)

    assert list(result.errors.columns) == list(ERROR_COLUMNS)
    assert result.errors["file"].tolist() == ["broken.dcm"]
    assert result.errors["error"].tolist() == ["NotDicomError"]
    assert "broken.dcm is not DICOM" in result.errors["message"].iloc[0]
    assert result.features["file"].tolist() == ["CT_small.dcm", "colour/two_frames.dcm", "mr/MR_small.dcm",
                                                "mr/MR_small_RLE.dcm", "nm.dcm", "photo.png"]
    assert result.file_count == 7


def test_rows_match_image_features(image_folder: Path) -> None:
    result = process_folder(image_folder, workers=1, progress=False, salt=SALT)
    deidentifier = Deidentifier(salt=SALT)

    assert list(result.features.columns) == list(FEATURE_COLUMNS)
    for row in result.features.to_dict(orient="records"):
        expected = image_features(process_image(image_folder / row["file"], deidentifier=deidentifier))
        for column in FEATURE_TYPES:
            value = row[column]
            if isinstance(value, float) and np.isnan(value):
                assert expected[column] is None, f"{row['file']}: {column}"
            else:
                assert value == expected[column], f"{row['file']}: {column}"


def test_feature_dtypes(image_folder: Path) -> None:
    features = process_folder(image_folder, workers=1, progress=False, salt=SALT).features

    for column, kind in FEATURE_TYPES.items():
        expected = np.dtype("float64") if kind == "numeric" else np.dtype(object)
        assert features[column].dtype == expected, column
    # CT_small.dcm has no BodyPartExamined: a missing text value is None, not NaN.
    assert features.loc[features["file"] == "CT_small.dcm", "body_part_examined"].iloc[0] is None


def test_two_workers_give_same_tables(image_folder: Path) -> None:
    single_worker = process_folder(image_folder, workers=1, progress=False, salt=SALT)
    two_workers = process_folder(image_folder, workers=2, progress=False, salt=SALT)

    pd.testing.assert_frame_equal(single_worker.features, two_workers.features)
    pd.testing.assert_frame_equal(single_worker.errors, two_workers.errors)


def test_pseudonyms_agree_across_workers(ct_copies: Path) -> None:
    # The reference pseudonym comes from a Deidentifier with the same salt in this process.
    expected = Deidentifier(salt=SALT).metadata(pydicom.dcmread(shipped("CT_small.dcm")))["StationName"]

    result = process_folder(ct_copies, workers=2, progress=False, salt=SALT)

    assert len(result.features) == 12
    assert expected not in (None, "CT01_OC0")
    assert result.features["station_name"].tolist() == [expected] * 12


def test_random_salt_shared_by_workers(ct_copies: Path, monkeypatch: pytest.MonkeyPatch,
                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv(SALT_VARIABLE, raising=False)
    folders.folder_salt.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="workbench.modality.folders"):
            first = process_folder(ct_copies, workers=2, progress=False)
        second = process_folder(ct_copies, workers=1, progress=False)
    finally:
        folders.folder_salt.cache_clear()

    assert first.features["station_name"].nunique() == 1
    assert first.features["station_name"].tolist() == second.features["station_name"].tolist()
    assert f"{SALT_VARIABLE} is unset" in caplog.text


def test_salt_from_environment(ct_copies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SALT_VARIABLE, SALT)
    folders.folder_salt.cache_clear()
    try:
        from_environment = process_folder(ct_copies, workers=1, progress=False)
    finally:
        folders.folder_salt.cache_clear()
    from_argument = process_folder(ct_copies, workers=1, progress=False, salt=SALT)

    pd.testing.assert_frame_equal(from_environment.features, from_argument.features)


def test_metadata_cached_per_acquisition(ct_copies: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = pydicom.dcmread(ct_copies / "series0" / "image00.dcm")
    changed.KVP = 100
    changed.save_as(ct_copies / "series0" / "image00.dcm")
    calls = []
    original = Deidentifier.metadata

    def counting(self: Deidentifier, ds: pydicom.Dataset) -> dict[str, object]:
        calls.append(ds)
        return original(self, ds)

    monkeypatch.setattr(Deidentifier, "metadata", counting)
    result = process_folder(ct_copies, workers=1, progress=False, salt=SALT, headers_only=True)

    # One call for the file with KVP 100 and one for the eleven unchanged copies.
    assert len(calls) == 2
    assert "SOPInstanceUID" not in calls[0]
    assert result.features["kvp"].tolist() == [100.0] + [120.0] * 11


def test_headers_only_matches_full_read(image_folder: Path) -> None:
    full = process_folder(image_folder, workers=1, progress=False, salt=SALT)
    headers = process_folder(image_folder, workers=1, progress=False, salt=SALT, headers_only=True)
    other_columns = [column for column in FEATURE_COLUMNS if column not in INTENSITY_COLUMNS]

    assert headers.headers_only
    pd.testing.assert_frame_equal(headers.features[other_columns], full.features[other_columns])
    assert headers.features[list(INTENSITY_COLUMNS)].isna().all().all()
    pd.testing.assert_frame_equal(headers.errors, full.errors)


def test_headers_only_multi_frame_colour(image_folder: Path) -> None:
    headers = process_folder(image_folder / "colour", workers=1, progress=False, salt=SALT, headers_only=True)
    row = headers.features.iloc[0]

    # The header of SC_rgb_rle_2frame.dcm (pydicom 3.0.2): NumberOfFrames 2, Rows and Columns 100, RGB.
    assert row["frames"] == 2.0
    assert row["rows"] == 100.0
    assert row["columns"] == 100.0
    assert row["photometric_interpretation"] == "RGB"


def test_headers_only_rejects_header_without_image(tmp_path: Path) -> None:
    ds = pydicom.dcmread(shipped("CT_small.dcm"))
    del ds.Rows
    del ds.Columns
    del ds.PixelData
    ds.save_as(tmp_path / "no_image.dcm")

    result = process_folder(tmp_path, workers=1, progress=False, salt=SALT, headers_only=True)

    assert result.errors["file"].tolist() == ["no_image.dcm"]
    assert "no_image.dcm contains no image" in result.errors["message"].iloc[0]


def test_progress_bar_on_and_off(ct_copies: Path, capsys: pytest.CaptureFixture[str]) -> None:
    quiet = process_folder(ct_copies, workers=1, progress=False, salt=SALT)
    quiet_output = capsys.readouterr()
    with_bar = process_folder(ct_copies, workers=2, progress=True, salt=SALT)
    bar_output = capsys.readouterr()

    assert quiet_output.err == ""
    assert quiet_output.out == ""
    assert "12/12" in bar_output.err
    pd.testing.assert_frame_equal(quiet.features, with_bar.features)


def test_pattern_and_hidden_files(image_folder: Path) -> None:
    dicom_named = process_folder(image_folder, workers=1, progress=False, salt=SALT, pattern="*.dcm")

    assert list_files(image_folder, "mr/*") == ["mr/MR_small.dcm", "mr/MR_small_RLE.dcm"]
    assert ".DS_Store" not in list_files(image_folder)
    assert "photo.png" not in dicom_named.features["file"].tolist()
    assert dicom_named.file_count == 6


def test_hidden_folders_skipped(image_folder: Path) -> None:
    shutil.copy(shipped("CT_small.dcm"), image_folder / "skipped.dcm")
    (image_folder / ".cache").mkdir()
    shutil.move(image_folder / "skipped.dcm", image_folder / ".cache" / "skipped.dcm")

    assert not any(name.startswith(".cache") for name in list_files(image_folder))


def test_empty_folder(tmp_path: Path) -> None:
    result = process_folder(tmp_path, progress=False, salt=SALT)

    assert result.file_count == 0
    assert list(result.features.columns) == list(FEATURE_COLUMNS)
    assert list(result.errors.columns) == list(ERROR_COLUMNS)


def test_invalid_arguments(tmp_path: Path) -> None:
    single_file = tmp_path / "one.dcm"
    shutil.copy(shipped("CT_small.dcm"), single_file)

    with pytest.raises(NotFoundError, match="missing: no such folder"):
        process_folder(tmp_path / "missing", progress=False)
    with pytest.raises(ValidationError, match="one.dcm is a file, not a folder"):
        process_folder(single_file, progress=False)
    with pytest.raises(ValidationError, match="workers must be a positive integer, got 0"):
        process_folder(tmp_path, workers=0, progress=False)


def test_os_error_message_hides_path(image_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def unreadable(path: Path, **options: object) -> None:
        raise PermissionError(13, "Permission denied", f"/srv/Test^Alpha/{Path(path).name}")

    monkeypatch.setattr(folders, "process_image", unreadable)
    result = process_folder(image_folder / "mr", workers=1, progress=False, salt=SALT)

    assert result.errors["error"].tolist() == ["PermissionError", "PermissionError"]
    assert result.errors["message"].iloc[0] == "MR_small.dcm could not be read: Permission denied"


def test_unexpected_error_text_withheld(image_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(path: Path, **options: object) -> None:
        raise RuntimeError("value Test^Alpha could not be parsed")

    monkeypatch.setattr(folders, "process_image", failing)
    result = process_folder(image_folder / "mr", workers=1, progress=False, salt=SALT)

    assert result.errors["error"].tolist() == ["RuntimeError", "RuntimeError"]
    assert "Test^Alpha" not in result.errors["message"].iloc[0]
    assert "unexpected RuntimeError" in result.errors["message"].iloc[0]


def test_no_identifier_in_outputs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = pydicom.dcmread(shipped("CT_small.dcm"))
    for keyword, value in FAKE_IDENTIFIERS.items():
        setattr(ds, keyword, value)
    ds.save_as(tmp_path / "image.dcm")
    (tmp_path / "broken.dcm").write_bytes(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100" + b"\xff" * 20)

    outputs = []
    for headers_only in (False, True):
        with caplog.at_level(logging.DEBUG):
            result = process_folder(tmp_path, workers=1, progress=False, salt=SALT, headers_only=headers_only)
        outputs.append(json.dumps(result.to_dict()))
    outputs.append(caplog.text)

    assert all("image.dcm" in output for output in outputs[:2])
    for value in FAKE_IDENTIFIERS.values():
        for output in outputs:
            assert value not in output


def test_to_dict_is_json_ready(image_folder: Path) -> None:
    result = process_folder(image_folder, workers=1, progress=False, salt=SALT, headers_only=True)
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))

    assert data["files"] == 7
    assert data["processed"] == 6
    assert data["failed"] == 1
    assert data["headers_only"] is True
    assert data["errors"][0]["file"] == "broken.dcm"
    assert data["features"][0]["intensity_mean"] is None


def test_result_is_frozen(tmp_path: Path) -> None:
    result = process_folder(tmp_path, progress=False, salt=SALT)

    assert isinstance(result, FolderResult)
    with pytest.raises(AttributeError):
        result.headers_only = True  # type: ignore[misc]
