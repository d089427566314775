"""process_image: format detection, dispatch to each reader, the modality and text_report arguments."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from pydicom.data import get_testdata_file

from workbench.errors import ImageError, NotDicomError, NotFoundError, ValidationError
from workbench.modality import nifti
from workbench.modality.process import detect_format, process_image
from workbench.modality.record import ImageRecord

DICOM_PENDING = "workbench.modality.dicom is not importable in this tree"
SERIES_PENDING = "workbench.modality.series is not importable in this tree"


@pytest.fixture
def nifti_bytes() -> bytes:
    image = nib.Nifti1Image(np.arange(8, dtype=np.int16).reshape(2, 2, 2), np.eye(4))
    return image.to_bytes()


@pytest.fixture
def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_detect_dicom_by_preamble() -> None:
    assert detect_format(b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00") == "dicom"
    assert detect_format(get_testdata_file("CT_small.dcm")) == "dicom"


def test_detect_nifti_by_magic_and_name(tmp_path: Path, nifti_bytes: bytes) -> None:
    odd_name = tmp_path / "volume.bin"
    odd_name.write_bytes(nifti_bytes)

    assert detect_format(nifti_bytes) == "nifti"
    assert detect_format(gzip.compress(nifti_bytes)) == "nifti"
    assert detect_format(odd_name) == "nifti"
    assert detect_format(nib.Nifti2Image(np.zeros((2, 2, 2), np.int16), np.eye(4)).to_bytes()) == "nifti"


def test_detect_raster_and_unknown(png_bytes: bytes, tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("A plain English note with no image in it.\n")

    assert detect_format(png_bytes) == "raster"
    assert detect_format(text) is None
    assert detect_format(tmp_path) == "dicom-series"


def test_process_nifti_by_extension(tmp_path: Path, nifti_bytes: bytes) -> None:
    path = tmp_path / "volume.nii"
    path.write_bytes(nifti_bytes)

    record = process_image(path)

    assert record.format == "nifti"
    assert record.source == "volume.nii"
    assert np.array_equal(record.pixels, np.arange(8).reshape(2, 2, 2))


def test_process_nifti_gzip_bytes(nifti_bytes: bytes) -> None:
    record = process_image(gzip.compress(nifti_bytes))

    assert record.format == "nifti"
    assert record.source == "<bytes>"


def test_process_nifti_name_with_text_rejected(tmp_path: Path) -> None:
    path = tmp_path / "fake.nii"
    path.write_text("Not a NIfTI header at all, only words.\n" * 10)

    with pytest.raises(ImageError, match="fake.nii: not a readable NIfTI file"):
        process_image(path)


def test_process_png_path_and_bytes(tmp_path: Path, png_bytes: bytes) -> None:
    path = tmp_path / "picture.png"
    path.write_bytes(png_bytes)

    from_path = process_image(path)
    from_bytes = process_image(png_bytes)

    assert from_path.format == "png"
    assert np.array_equal(from_path.pixels, from_bytes.pixels)


def test_process_modality_fills_missing(png_bytes: bytes) -> None:
    record = process_image(png_bytes, modality="xa")

    assert record.modality == "XA"
    assert record.notes == ()


def test_process_modality_mismatch_noted(monkeypatch: pytest.MonkeyPatch, nifti_bytes: bytes) -> None:
    original = nifti.read_nifti

    def read_as_mr(source: bytes, *, volume: int | None = None) -> ImageRecord:
        return dataclasses.replace(original(source, volume=volume), modality="MR")

    monkeypatch.setattr(nifti, "read_nifti", read_as_mr)

    record = process_image(nifti_bytes, modality="CT")

    assert record.modality == "CT"
    assert "modality CT was given but the header has Modality MR; CT is used" in record.notes


@pytest.mark.parametrize("modality", ["", "C/T", "A" * 17, 5])
def test_process_invalid_modality_rejected(modality: object, png_bytes: bytes) -> None:
    with pytest.raises(ValidationError, match="modality must be a DICOM Modality code"):
        process_image(png_bytes, modality=modality)  # type: ignore[arg-type]


def test_process_text_report_length_only(png_bytes: bytes) -> None:
    report = "Findings: no acute abnormality. Reported for Test^Alpha."

    record = process_image(png_bytes, text_report=report)

    assert record.metadata["text_report_chars"] == len(report)
    assert "Test^Alpha" not in json.dumps(record.to_dict())


def test_process_missing_path_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="absent.png: no such file or directory"):
        process_image(tmp_path / "absent.png")


def test_process_text_named_dcm_not_dicom(tmp_path: Path) -> None:
    pytest.importorskip("workbench.modality.dicom", reason=DICOM_PENDING)
    path = tmp_path / "x.dcm"
    # 164 bytes of English text: not a DICOM preamble and no valid data elements.
    path.write_bytes((b"This file holds plain English text and no DICOM data elements at all. " * 3)[:164])

    with pytest.raises(NotDicomError, match=r"x.dcm"):
        process_image(path)


def test_process_unknown_format_lists_accepted(tmp_path: Path) -> None:
    pytest.importorskip("workbench.modality.dicom", reason=DICOM_PENDING)
    path = tmp_path / "x.bin"
    path.write_bytes((b"This file holds plain English text and no DICOM data elements at all. " * 3)[:164])

    with pytest.raises(ImageError, match=r"x.bin: format not recognised; accepted formats are .*NIfTI"):
        process_image(path)


def test_process_dicom_file_dispatched() -> None:
    pytest.importorskip("workbench.modality.dicom", reason=DICOM_PENDING)

    record = process_image(get_testdata_file("CT_small.dcm"))

    assert record.format == "dicom"
    assert record.modality == "CT"


def test_process_directory_dispatched_to_series(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    series = pytest.importorskip("workbench.modality.series", reason=SERIES_PENDING)
    calls: list[object] = []

    def read_volume(source: object) -> ImageRecord:
        calls.append(source)
        return ImageRecord(pixels=np.zeros((1, 2, 2)), format="dicom-series", modality="CT")

    monkeypatch.setattr(series, "read_volume", read_volume)

    record = process_image(tmp_path)

    assert calls == [tmp_path]
    assert record.format == "dicom-series"
