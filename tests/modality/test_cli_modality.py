"""The ``workbench modality image`` and ``workbench modality folder`` commands, run in-process through ``main``."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from nibabel.testing import data_path as nibabel_data
from pydicom.data import get_testdata_file
from pydicom.pixels import apply_modality_lut

from workbench.cli import main
from workbench.modality.deid import SALT_VARIABLE
from workbench.modality.folders import FEATURE_COLUMNS


def shipped(name: str) -> Path:
    # download=False: pydicom's data manager would otherwise try the network.
    return Path(get_testdata_file(name, download=False))


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in a temporary folder, with the feature switch unset and a fixed de-identification salt."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("MULTI_MODALITY_ENABLED", raising=False)
    monkeypatch.setenv(SALT_VARIABLE, "cli test salt, not a secret")


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "incoming"
    (folder / "mr").mkdir(parents=True)
    shutil.copy(shipped("CT_small.dcm"), folder / "CT_small.dcm")
    shutil.copy(shipped("MR_small.dcm"), folder / "mr" / "MR_small.dcm")
    (folder / "broken.dcm").write_text("This is a note someone saved with a .dcm name, not an image.\n")
    return folder


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_image_summary_text(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "modality", "image", str(shipped("CT_small.dcm")))

    assert status == 0, err
    assert "format: dicom" in out
    assert "units: HU" in out
    assert "shape: 128 × 128 (row,column), int32" in out
    # CT_small.dcm is axial: ImageOrientationPatient 1\0\0\0\1\0, so rows run to posterior and columns
    # to the patient's left.
    assert "orientation: LPS; row → P, column → L, normal → S" in out
    assert "metadata (de-identified):" in out
    assert "CT01_OC0" not in out


def test_image_json_matches_pydicom(capsys: pytest.CaptureFixture[str]) -> None:
    ds = pydicom.dcmread(shipped("CT_small.dcm"))
    hounsfield = apply_modality_lut(ds.pixel_array, ds)

    status, out, err = run(capsys, "modality", "image", str(shipped("CT_small.dcm")), "--json")
    data = json.loads(out)

    assert status == 0, err
    assert data["shape"] == [128, 128]
    assert data["units"] == "HU"
    assert data["coordinate_system"] == "LPS"
    assert data["statistics"]["min"] == float(hounsfield.min())
    assert data["statistics"]["max"] == float(hounsfield.max())
    assert data["metadata"]["StationName"] not in (None, "CT01_OC0")


def test_image_thumbnail(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    thumbnail = tmp_path / "thumb.png"

    status, out, err = run(capsys, "modality", "image", str(shipped("MR_small.dcm")), "--thumbnail",
                           str(thumbnail), "--json")

    assert status == 0, err
    assert thumbnail.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert json.loads(out)["thumbnail"] == str(thumbnail)


def test_image_nifti_with_modality(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(capsys, "modality", "image", str(Path(nibabel_data) / "anatomical.nii"),
                           "--modality", "MR")

    assert status == 0, err
    assert "format: nifti" in out
    assert "modality: MR" in out
    assert "orientation: RAS;" in out


def test_image_series_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Three neighbouring slices of pydicom's dicomdirtests CT series, 1.25 mm apart.
    source = shipped("CT_small.dcm").parent / "dicomdirtests" / "77654033" / "CT2"
    series = tmp_path / "series"
    series.mkdir()
    for name in ("17136", "17166", "17196"):
        shutil.copy(source / name, series / name)

    status, out, err = run(capsys, "modality", "image", str(series), "--json")
    data = json.loads(out)

    assert status == 0, err
    assert data["format"] == "dicom-series"
    assert data["shape"] == [3, 16, 16]
    assert data["spacing"][0] == pytest.approx(1.25, abs=1e-3)


def test_image_errors_exit_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("A plain English note with no image in it.\n")

    unknown = run(capsys, "modality", "image", str(text))
    missing = run(capsys, "modality", "image", str(tmp_path / "missing.dcm"))

    assert unknown[0] == 1
    assert unknown[2].startswith("error: notes.txt: format not recognised")
    assert missing[0] == 1
    assert "missing.dcm: no such file or directory" in missing[2]


def test_folder_text_lists_errors(capsys: pytest.CaptureFixture[str], image_folder: Path) -> None:
    status, out, err = run(capsys, "modality", "folder", str(image_folder), "--workers", "1")

    assert status == 0, err
    assert out.startswith("read 2 of 3 file(s); 1 could not be read")
    assert "broken.dcm: NotDicomError: broken.dcm is not DICOM" in out
    assert "mr/MR_small.dcm" in out


def test_folder_json(capsys: pytest.CaptureFixture[str], image_folder: Path) -> None:
    status, out, err = run(capsys, "modality", "folder", str(image_folder), "--json")
    data = json.loads(out)

    assert status == 0, err
    assert data["files"] == 3
    assert data["processed"] == 2
    assert [row["file"] for row in data["features"]] == ["CT_small.dcm", "mr/MR_small.dcm"]
    assert data["errors"][0]["error"] == "NotDicomError"
    # --json turns the progress bar off, so stderr contains no bar.
    assert "file/s" not in err


def test_folder_progress_bar_on_stderr(capsys: pytest.CaptureFixture[str], image_folder: Path) -> None:
    status, _, err = run(capsys, "modality", "folder", str(image_folder), "--workers", "1")

    assert status == 0
    assert "3/3" in err


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_folder_output_file(capsys: pytest.CaptureFixture[str], image_folder: Path, tmp_path: Path,
                            suffix: str) -> None:
    output = tmp_path / f"features{suffix}"

    status, out, err = run(capsys, "modality", "folder", str(image_folder), "--workers", "1", "--headers-only",
                           "--output", str(output))
    table = pd.read_csv(output) if suffix == ".csv" else pd.read_parquet(output)

    assert status == 0, err
    assert f"feature table written to {output}" in out
    assert list(table.columns) == list(FEATURE_COLUMNS)
    assert table["file"].tolist() == ["CT_small.dcm", "mr/MR_small.dcm"]
    assert table["intensity_mean"].isna().all()
    assert np.allclose(table["pixel_spacing_row_mm"], [0.661468, 0.3125])


def test_folder_output_suffix_rejected(capsys: pytest.CaptureFixture[str], image_folder: Path) -> None:
    status, _, err = run(capsys, "modality", "folder", str(image_folder), "--output", "features.xlsx")

    assert status == 1
    assert "use a .csv or .parquet file" in err


def test_folder_none_readable_exits_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "broken.dcm").write_text("This is a note, not an image.\n")

    status, out, err = run(capsys, "modality", "folder", str(folder), "--workers", "1")

    assert status == 1
    assert "broken.dcm: NotDicomError" in out
    assert "none of the 1 file(s) could be read" in err


def test_folder_empty_exits_one(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()

    status, _, err = run(capsys, "modality", "folder", str(folder), "--pattern", "*.dcm")

    assert status == 1
    assert "error: empty contains no files matching '*.dcm'" in err


def test_folder_invalid_workers(capsys: pytest.CaptureFixture[str], image_folder: Path) -> None:
    status, _, err = run(capsys, "modality", "folder", str(image_folder), "--workers", "0")

    assert status == 1
    assert "workers must be a positive integer, got 0" in err


@pytest.fixture
def report_file(tmp_path: Path) -> Path:
    path = tmp_path / "report.txt"
    path.write_text("FINDINGS: Mass measures 3.2 x 1.5 cm (previously 2.8 x 1.4 cm) in the liver.\n"
                    "IMPRESSION:\n1.No evidence of pneumonia.\n", encoding="utf-8")
    return path


def test_report_text(capsys: pytest.CaptureFixture[str], report_file: Path) -> None:
    status, out, err = run(capsys, "modality", "report", str(report_file))

    assert status == 0, err
    assert "sections: findings, impression" in out
    # 3.2 x 1.5 cm is 32 x 15 mm, and the size in brackets after "previously" is the prior one.
    assert "  - mass: present, liver, 32 × 15 mm, previously 28 × 14 mm [findings]" in out
    assert "  - pneumonia: negated [impression]" in out


def test_report_json(capsys: pytest.CaptureFixture[str], report_file: Path) -> None:
    status, out, err = run(capsys, "modality", "report", str(report_file), "--json")

    assert status == 0, err
    data = json.loads(out)
    statuses = [(f["name"], f["status"]) for f in data["findings"]]
    assert statuses == [("mass", "present"), ("pneumonia", "negated")]
    assert data["findings"][0]["measurements"][0]["dimensions_mm"] == [32, 15]


def test_report_from_standard_input(capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"No pneumothorax.\n")))

    status, out, err = run(capsys, "modality", "report", "-", "--json")

    assert status == 0, err
    assert json.loads(out)["findings"][0]["status"] == "negated"


def test_report_invalid_utf8(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("Small pleural effusion. Caf\u00e9.".encode("latin-1"))

    strict = run(capsys, "modality", "report", str(path))
    replaced = run(capsys, "modality", "report", str(path), "--replace-invalid")

    assert strict[0] == 1
    # "Small pleural effusion. Caf" is 27 bytes, so the Latin-1 byte of "é" is at position 27.
    assert "position 27" in strict[2]
    assert replaced[0] == 0
    assert "U+FFFD" in replaced[1]


def test_report_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = run(capsys, "modality", "report", str(tmp_path / "missing.txt"))

    assert status == 1
    assert "missing.txt: No such file or directory" in err


@pytest.mark.parametrize("command", ["image", "folder"])
def test_switched_off(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, image_folder: Path,
                      command: str) -> None:
    monkeypatch.setenv("MULTI_MODALITY_ENABLED", "false")
    target = image_folder / "CT_small.dcm" if command == "image" else image_folder

    status, out, err = run(capsys, "modality", command, str(target))

    assert status == 1
    assert out == ""
    assert "MULTI_MODALITY_ENABLED=true" in err
