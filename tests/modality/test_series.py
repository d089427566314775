"""Reading DICOM series into volumes: ordering by position, gaps, localizers, mixed slices, identity."""

from __future__ import annotations

import itertools
import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
from pydicom import uid as dicom_uid
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset

from workbench.errors import NotDicomError, SeriesError
from workbench.modality.deid import Deidentifier
from workbench.modality.series import read_series, read_volume

IDENTIFIERS = {"PatientName": "Test^Alpha", "PatientID": "ANON0001", "AccessionNumber": "ACC0000042",
               "InstitutionName": "Test Institution Beta"}
AXIAL = (1, 0, 0, 0, 1, 0)
SAGITTAL = (0, 1, 0, 0, 0, -1)
SERIES_UID = dicom_uid.generate_uid()


@pytest.fixture
def deidentifier() -> Deidentifier:
    return Deidentifier(salt="test salt")


def ct_slice(position: tuple[float, float, float], value: int, *, instance: int = 1,
             orientation: tuple[float, ...] = AXIAL, size: tuple[int, int] = (2, 2), series_uid: str = SERIES_UID,
             series_number: int = 1, image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
             intercept: float = 0.0) -> Dataset:
    """Build one CT slice whose pixels all store ``value``, with fake identifiers."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = dicom_uid.ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = dicom_uid.CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = dicom_uid.generate_uid()
    ds.SOPClassUID = dicom_uid.CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance
    for keyword, identifier in IDENTIFIERS.items():
        setattr(ds, keyword, identifier)
    ds.Modality = "CT"
    ds.ImageType = list(image_type)
    ds.ImagePositionPatient = list(position)
    ds.ImageOrientationPatient = list(orientation)
    ds.PixelSpacing = [0.5, 0.5]
    ds.Rows, ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = intercept
    ds.PixelData = np.full(size, value, dtype="<u2").tobytes()
    return ds


def write(folder: Path, name: str, ds: Dataset) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


def axial_series(folder: Path, z_values: list[float], *, names: list[str] | None = None) -> list[Path]:
    """Write one axial slice per z, InstanceNumber 1, 2, ... and pixels 100 × InstanceNumber."""
    names = names or [f"slice{index}.dcm" for index in range(len(z_values))]
    return [write(folder, name, ct_slice((0.0, 0.0, z), 100 * (index + 1), instance=index + 1))
            for index, (z, name) in enumerate(zip(z_values, names, strict=True))]


def value_at_z(record, z: float) -> float:
    """Return the voxel (k, 0, 0) whose centre the affine places at ``z``."""
    for index in range(record.shape[0]):
        if np.isclose((record.affine @ [index, 0, 0, 1])[2], z):
            return record.pixels[index, 0, 0]
    raise AssertionError(f"no slice at z = {z}")


# --- Ordering by position ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_slices_found_at_their_positions(tmp_path: Path, order: tuple[int, ...], deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [70.0, -187.5, -445.0])

    record = read_volume([paths[index] for index in order], deidentifier=deidentifier)

    # Pixels are 100 × InstanceNumber, and InstanceNumber 1, 2, 3 sit at z = 70, −187.5, −445.
    assert value_at_z(record, 70.0) == 100
    assert value_at_z(record, -187.5) == 200
    assert value_at_z(record, -445.0) == 300


def test_volume_ordered_along_normal(tmp_path: Path, deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [70.0, -187.5, -445.0])

    record = read_volume(paths, deidentifier=deidentifier)

    # The axial normal is (1, 0, 0) × (0, 1, 0) = (0, 0, 1), so slices run from z = −445 upwards and the
    # spacing is 70 − (−187.5) = 257.5 mm.
    assert record.pixels[:, 0, 0].tolist() == [300, 200, 100]
    assert record.spacing == (257.5, 0.5, 0.5)
    assert record.affine[:3, 3].tolist() == [0.0, 0.0, -445.0]
    assert record.affine[:3, 0].tolist() == [0.0, 0.0, 257.5]
    assert record.axes == "slice,row,column"
    assert record.frame_count == 3
    assert record.format == "dicom-series"
    assert record.coordinate_system == "LPS"


def test_shuffled_files_give_identical_volumes(tmp_path: Path, deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [float(z) for z in range(0, 12, 2)])
    reference = read_volume(paths, deidentifier=deidentifier)

    for seed in range(4):
        shuffled = list(np.random.default_rng(seed).permutation(paths))
        record = read_volume(shuffled, deidentifier=deidentifier)

        assert np.array_equal(record.pixels, reference.pixels)
        assert np.array_equal(record.affine, reference.affine)


def test_file_names_and_instance_numbers_ignored(tmp_path: Path, deidentifier: Deidentifier) -> None:
    # The names sort opposite to the positions, and InstanceNumber counts downwards along z.
    for index, (z, name) in enumerate([(0.0, "c.dcm"), (1.0, "b.dcm"), (2.0, "a.dcm")]):
        write(tmp_path, name, ct_slice((0.0, 0.0, z), 10 * (index + 1), instance=3 - index))

    record = read_volume(tmp_path, deidentifier=deidentifier)

    assert record.pixels[:, 0, 0].tolist() == [10, 20, 30]


def test_per_slice_rescale_applied(tmp_path: Path, deidentifier: Deidentifier) -> None:
    write(tmp_path, "a.dcm", ct_slice((0.0, 0.0, 0.0), 1000, intercept=-1024))
    write(tmp_path, "b.dcm", ct_slice((0.0, 0.0, 1.0), 1000, intercept=-1000))

    record = read_volume(tmp_path, deidentifier=deidentifier)

    # 1000 − 1024 = −24 and 1000 − 1000 = 0.
    assert record.pixels[:, 0, 0].tolist() == [-24, 0]
    assert record.units == "HU"


# --- Gaps and spacing ----------------------------------------------------------------------------------------


def test_missing_slice_reported(tmp_path: Path, deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [0.0, 1.0, 3.0, 4.0])

    with pytest.raises(SeriesError) as caught:
        read_volume(paths, deidentifier=deidentifier)

    assert "missing slice between z = 1 and z = 3" in str(caught.value)
    assert "1.333" not in str(caught.value)


def test_missing_slice_filled_when_allowed(tmp_path: Path, deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [0.0, 1.0, 3.0, 4.0])

    record = read_volume(paths, deidentifier=deidentifier, allow_gaps=True)

    # Slices at z = 0, 1, (2), 3, 4: five slices 1 mm apart, the one at z = 2 all NaN.
    assert record.shape == (5, 2, 2)
    assert record.spacing[0] == 1.0
    assert np.isnan(record.pixels[2]).all()
    assert value_at_z(record, 3.0) == 300
    assert "missing slice between z = 1 and z = 3: filled with NaN" in record.notes


@pytest.mark.parametrize(("thickness", "noted"), [(1.25, True), (2.5, False)])
def test_spacing_above_thickness_noted(tmp_path: Path, deidentifier: Deidentifier, thickness: float,
                                       noted: bool) -> None:
    # Two slices 2.5 mm apart: a slice lost between them leaves evenly spaced positions.
    paths = []
    for index, z in enumerate((0.0, 2.5)):
        ds = ct_slice((0.0, 0.0, z), 100, instance=index + 1)
        ds.SliceThickness = thickness
        paths.append(write(tmp_path, f"slice{index}.dcm", ds))

    record = read_volume(paths, deidentifier=deidentifier)

    assert any("more than 1.5 times SliceThickness" in note for note in record.notes) is noted


def test_uneven_spacing_rejected(tmp_path: Path, deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [0.0, 1.0, 2.5])

    with pytest.raises(SeriesError, match=r"uneven slice spacing between z = 1 and z = 2\.5"):
        read_volume(paths, deidentifier=deidentifier, allow_gaps=True)


def test_spacing_within_tolerance_accepted(tmp_path: Path, deidentifier: Deidentifier) -> None:
    # Steps of 1.004 and 0.996 mm differ by 0.008 mm, within max(0.01 mm, 1 % of 0.996 mm) = 0.01 mm.
    paths = axial_series(tmp_path, [0.0, 1.004, 2.0])

    record = read_volume(paths, deidentifier=deidentifier)

    assert record.shape == (3, 2, 2)


def test_spacing_beyond_tolerance_rejected(tmp_path: Path, deidentifier: Deidentifier) -> None:
    # Steps of 1.02 and 0.98 mm differ by 0.04 mm, more than max(0.01 mm, 1 % of 0.98 mm) = 0.01 mm.
    paths = axial_series(tmp_path, [0.0, 1.02, 2.0])

    with pytest.raises(SeriesError, match="uneven slice spacing"):
        read_volume(paths, deidentifier=deidentifier)


def test_duplicate_position_rejected(tmp_path: Path, deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [0.0, 1.0, 1.0, 2.0])

    with pytest.raises(SeriesError, match=r"same position \(z = 1\)"):
        read_volume(paths, deidentifier=deidentifier)


def test_reversed_normal_names_lps_coordinate(tmp_path: Path, deidentifier: Deidentifier) -> None:
    # Rows along x and columns along −y give the normal (1, 0, 0) × (0, −1, 0) = (0, 0, −1), so slices run
    # from high z to low z, and the message still names the z coordinates themselves.
    orientation = (1, 0, 0, 0, -1, 0)
    for index, z in enumerate([0.0, 1.0, 3.0, 4.0]):
        write(tmp_path, f"s{index}.dcm", ct_slice((0.0, 0.0, z), index, orientation=orientation))

    with pytest.raises(SeriesError, match="missing slice between z = 3 and z = 1"):
        read_volume(tmp_path, deidentifier=deidentifier)


def test_sagittal_gap_names_x(tmp_path: Path, deidentifier: Deidentifier) -> None:
    # Normal (0, 1, 0) × (0, 0, −1) = (−1, 0, 0): positions along it are −x.
    for index, x in enumerate([0.0, 2.0, 6.0]):
        write(tmp_path, f"s{index}.dcm", ct_slice((x, 0.0, 0.0), index, orientation=SAGITTAL))

    with pytest.raises(SeriesError, match="missing slice between x = 6 and x = 2"):
        read_volume(tmp_path, deidentifier=deidentifier)


def test_sheared_stack_noted(tmp_path: Path, deidentifier: Deidentifier) -> None:
    # Each slice moves 1 mm up and 0.2 mm posterior, as with a tilted gantry.
    for index in range(3):
        write(tmp_path, f"s{index}.dcm", ct_slice((0.0, 0.2 * index, float(index)), index))

    record = read_volume(tmp_path, deidentifier=deidentifier)

    assert record.spacing[0] == pytest.approx(1.0)
    assert (record.affine @ [2, 0, 0, 1])[:3] == pytest.approx([0.0, 0.4, 2.0])
    assert any(note.startswith("slices are sheared") for note in record.notes)


# --- Localizers, orientations, sizes and grouping ------------------------------------------------------------


def test_localizer_left_out(tmp_path: Path, deidentifier: Deidentifier) -> None:
    axial_series(tmp_path, [0.0, 1.0, 2.0])
    write(tmp_path, "scout.dcm", ct_slice((0.0, 0.0, 50.0), 7, image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")))

    record = read_volume(tmp_path, deidentifier=deidentifier)

    assert record.shape == (3, 2, 2)
    assert "1 localizer image(s) left out (ImageType LOCALIZER): scout.dcm" in record.notes


def test_minority_orientation_left_out(tmp_path: Path, deidentifier: Deidentifier) -> None:
    axial_series(tmp_path, [0.0, 1.0, 2.0])
    write(tmp_path, "side.dcm", ct_slice((0.0, 0.0, 0.0), 7, orientation=SAGITTAL))

    record = read_volume(tmp_path, deidentifier=deidentifier)

    assert record.shape == (3, 2, 2)
    assert any("orientation different from the other 3 left out as localizers: side.dcm" in note
               for note in record.notes)


def test_tied_orientations_rejected(tmp_path: Path, deidentifier: Deidentifier) -> None:
    axial_series(tmp_path, [0.0, 1.0])
    write(tmp_path, "side0.dcm", ct_slice((0.0, 0.0, 0.0), 7, orientation=SAGITTAL))
    write(tmp_path, "side1.dcm", ct_slice((1.0, 0.0, 0.0), 7, orientation=SAGITTAL))

    with pytest.raises(SeriesError, match="2 slice orientations"):
        read_volume(tmp_path, deidentifier=deidentifier)


def test_mixed_sizes_rejected(tmp_path: Path, deidentifier: Deidentifier) -> None:
    axial_series(tmp_path, [0.0, 1.0])
    write(tmp_path, "big.dcm", ct_slice((0.0, 0.0, 2.0), 7, size=(3, 3)))

    with pytest.raises(SeriesError, match="different sizes"):
        read_volume(tmp_path, deidentifier=deidentifier)


def test_series_grouped_by_uid(tmp_path: Path, deidentifier: Deidentifier) -> None:
    other_uid = dicom_uid.generate_uid()
    for index in range(3):
        write(tmp_path, f"a{index}.dcm", ct_slice((0.0, 0.0, float(index)), 1, series_number=2))
        write(tmp_path, f"b{index}.dcm", ct_slice((0.0, 0.0, 2.0 * index), 2, series_uid=other_uid,
                                                   series_number=1))

    records = read_series(tmp_path, deidentifier=deidentifier)

    # Ordered by SeriesNumber: the 2 mm series (number 1) first.
    assert [record.spacing[0] for record in records] == [2.0, 1.0]
    assert [int(record.pixels[0, 0, 0]) for record in records] == [2, 1]


def test_read_volume_rejects_two_series(tmp_path: Path, deidentifier: Deidentifier) -> None:
    write(tmp_path, "a0.dcm", ct_slice((0.0, 0.0, 0.0), 1))
    write(tmp_path, "a1.dcm", ct_slice((0.0, 0.0, 1.0), 1))
    write(tmp_path, "b0.dcm", ct_slice((0.0, 0.0, 0.0), 2, series_uid=dicom_uid.generate_uid()))

    with pytest.raises(SeriesError, match="expected one series, found 2"):
        read_volume(tmp_path, deidentifier=deidentifier)


def test_single_file_series_read_as_image(tmp_path: Path, deidentifier: Deidentifier) -> None:
    write(tmp_path, "only.dcm", ct_slice((0.0, 0.0, 5.0), 42))

    record = read_volume(tmp_path, deidentifier=deidentifier)

    assert record.format == "dicom"
    assert record.pixels.tolist() == [[42, 42], [42, 42]]


def test_folder_skips_non_dicom_file(tmp_path: Path, deidentifier: Deidentifier) -> None:
    axial_series(tmp_path / "scan", [0.0, 1.0])
    (tmp_path / "scan" / "readme.txt").write_text("Exported by a workstation; see the study log.\n")

    record = read_volume(tmp_path, deidentifier=deidentifier)

    assert record.shape == (2, 2, 2)
    assert "1 file(s) in the folder skipped as not DICOM images: readme.txt" in record.notes


def test_listed_non_dicom_file_raises(tmp_path: Path, deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [0.0, 1.0])
    text = tmp_path / "readme.txt"
    text.write_text("Exported by a workstation; see the study log.\n")

    with pytest.raises(NotDicomError, match="readme.txt is not DICOM"):
        read_series([*paths, text], deidentifier=deidentifier)


# --- pydicom's shipped CT series -----------------------------------------------------------------------------


def shipped_series(folder: str) -> Path:
    path = get_testdata_file("CT_small.dcm", download=False)
    assert path is not None
    return Path(os.path.dirname(path)) / "dicomdirtests" / folder


def test_shipped_series_gap_reported(deidentifier: Deidentifier) -> None:
    # The four CT2 files are InstanceNumber 18, 180, 181 and 182 of a 1.25 mm series: z = −99.48, then
    # 103.02, 104.27 and 105.52, so (103.02 − (−99.48)) / 1.25 − 1 = 161 slices are missing.
    with pytest.raises(SeriesError, match="161 missing slices between z = -99.48 and z = 103.02"):
        read_volume(shipped_series("77654033/CT2"), deidentifier=deidentifier)


def test_shipped_contiguous_slices_stack(deidentifier: Deidentifier) -> None:
    folder = shipped_series("77654033/CT2")

    record = read_volume([folder / "17136", folder / "17166", folder / "17196"], deidentifier=deidentifier)

    assert record.shape == (3, 16, 16)
    assert record.spacing[0] == pytest.approx(1.25, abs=1e-4)
    assert record.units == "HU"


def test_shipped_localizer_series_left_out(deidentifier: Deidentifier) -> None:
    # CT2N contains two LOCALIZER images, so it has no volume.
    with pytest.raises(SeriesError, match="1 series of localizer images only left out"):
        read_series(shipped_series("98892001/CT2N"), deidentifier=deidentifier)


# --- Identity ------------------------------------------------------------------------------------------------


def test_no_identifier_in_volume_or_errors(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                          deidentifier: Deidentifier) -> None:
    paths = axial_series(tmp_path, [0.0, 1.0, 3.0])
    caplog.set_level(logging.DEBUG)

    record = read_volume(paths, deidentifier=deidentifier, allow_gaps=True)
    with pytest.raises(SeriesError) as caught:
        read_volume(paths, deidentifier=deidentifier)

    outputs = {"repr": repr(record), "to_dict": json.dumps(record.to_dict()), "error": str(caught.value),
               "logs": caplog.text}
    for identifier in IDENTIFIERS.values():
        for output_name, text in outputs.items():
            assert identifier not in text, f"{identifier!r} found in {output_name}"
