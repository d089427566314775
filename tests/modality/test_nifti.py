"""NIfTI reading: scaling applied once, sform/qform choice, 4D volumes through the array proxy."""

from __future__ import annotations

import gzip
import json
import struct
import tracemalloc
import warnings
from collections.abc import Iterable
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.arrayproxy import ArrayProxy
from nibabel.testing import data_path

from workbench.errors import ImageError, NotFoundError, ValidationError, WorkbenchWarning
from workbench.modality.nifti import _proxy_with_standard_scaling, iter_volumes, read_nifti

# xyzt_units codes from nifti1.h: NIFTI_UNITS_METER 1, MM 2, SEC 8, MSEC 16, HZ 32.
METER, MM, SEC, MSEC, HZ = 1, 2, 8, 16, 32

# Stored values of the (2, 2, 1) case, in file (Fortran) order.
SMALL_VALUES = [0, 1000, 4095, -100]


def write_nifti(path: Path, shape: tuple[int, ...], volumes: Iterable[np.ndarray], *, slope: float = 1.0,
                inter: float = 0.0, xyzt_units: int = MM | SEC, pixdim: Iterable[float] | None = None,
                dtype: type = np.int16) -> Path:
    """Write a single-file NIfTI-1 header and then each volume, so no volume but the current one is in memory.

    The header's scl_slope and scl_inter are written as given, which nibabel's image API does not allow
    for a slope of 0 or NaN.
    """
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(dtype)
    header["scl_slope"] = slope
    header["scl_inter"] = inter
    header["xyzt_units"] = xyzt_units
    if pixdim is not None:
        values = list(pixdim)
        header["pixdim"][1:1 + len(values)] = values
    header["vox_offset"] = 352
    with path.open("wb") as handle:
        header.write_to(handle)
        handle.write(b"\x00" * (352 - handle.tell()))
        for volume in volumes:
            handle.write(np.asarray(volume, dtype=dtype).tobytes(order="F"))
    return path


def small_volume() -> np.ndarray:
    return np.array(SMALL_VALUES, dtype=np.int16).reshape((2, 2, 1), order="F")


def test_nifti_slope_and_intercept_applied_once(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "scaled.nii", (2, 2, 1), [small_volume()], slope=0.5, inter=-100)

    record = read_nifti(path)

    # Hand check, y = 0.5 x - 100: 0 -> -100, 1000 -> 400, 4095 -> 1947.5, -100 -> -150.
    assert record.pixels.ravel(order="F").tolist() == [-100.0, 400.0, 1947.5, -150.0]
    assert record.pixels.dtype == np.float64
    assert record.metadata["scaling_applied"] is True


def test_nifti_slope_zero_means_unscaled(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "slope0.nii", (2, 2, 1), [small_volume()], slope=0.0, inter=5.0)

    record = read_nifti(path)

    # nifti1.h scales only when scl_slope is nonzero, so the intercept of 5 is ignored too.
    assert record.pixels.ravel(order="F").tolist() == SMALL_VALUES
    assert record.pixels.dtype == np.int16
    assert record.metadata["scaling_applied"] is False
    assert record.metadata["scl_inter"] == 5.0


def test_nifti_slope_nan_means_unscaled(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "slope_nan.nii", (2, 2, 1), [small_volume()], slope=np.nan, inter=5.0)

    record = read_nifti(path)

    assert record.pixels.ravel(order="F").tolist() == SMALL_VALUES
    assert record.pixels.dtype == np.int16


def test_nifti_proxy_scaling_replaced_when_it_differs(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "slope0.nii", (2, 2, 1), [small_volume()], slope=0.0, inter=5.0)
    with path.open("rb") as handle:
        header = nib.Nifti1Header.from_fileobj(handle)
    # A proxy that scales although the header's slope is 0, as a reader ignoring nifti1.h would.
    wrong = ArrayProxy(str(path), ((2, 2, 1), np.dtype(np.int16), 352, 3.0, 5.0), mmap=False)

    proxy = _proxy_with_standard_scaling(wrong, header)

    assert np.asarray(proxy[...]).ravel(order="F").tolist() == SMALL_VALUES


def test_nifti_unsigned_16_bit_widened_to_int32(tmp_path: Path) -> None:
    values = np.array([0, 1, 40000, 65535], dtype=np.uint16).reshape((2, 2, 1), order="F")
    path = write_nifti(tmp_path / "u16.nii", (2, 2, 1), [values], dtype=np.uint16)

    record = read_nifti(path)

    assert record.pixels.dtype == np.int32
    assert record.pixels.ravel(order="F").tolist() == [0, 1, 40000, 65535]


def test_nifti_4d_one_volume_value_and_memory(tmp_path: Path) -> None:
    shape = (64, 64, 32, 200)
    x, y, z = np.meshgrid(np.arange(64), np.arange(64), np.arange(32), indexing="ij")
    volumes = (((7 * t + x + y + z) % 3000).astype(np.int16) for t in range(shape[3]))
    # Uncompressed, so that the proxy seeks to the one volume it reads.
    path = write_nifti(tmp_path / "series.nii", shape, volumes, slope=2.0, inter=-10.0, xyzt_units=MM | MSEC,
                       pixdim=(3.0, 3.0, 4.0, 2500.0))
    # 64 * 64 * 32 * 200 voxels * 2 bytes = 52,428,800 bytes after the 352-byte header.
    assert path.stat().st_size == 352 + 52_428_800

    tracemalloc.start()
    try:
        record = read_nifti(path, volume=150)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # Hand check: (7 * 150 + 10 + 20 + 5) mod 3000 = 1085, and 1085 * 2 - 10 = 2160.
    assert record.pixels[10, 20, 5] == 2160.0
    expected = ((7 * 150 + x + y + z) % 3000) * 2.0 - 10.0
    assert np.array_equal(record.pixels, expected)
    assert record.shape == (64, 64, 32)
    assert record.frame_count == 200
    assert record.metadata["volume_index"] == 150
    # pixdim[4] = 2500 with the unit msec is 2.5 s.
    assert record.metadata["repetition_time_s"] == 2.5
    assert record.metadata["repetition_time"] == 2500.0
    assert record.metadata["repetition_time_unit"] == "msec"
    # One volume is 256 KiB stored and 1 MiB as float64. The whole file is 52 MB.
    assert peak < 20 * 1024 * 1024


def test_nifti_one_volume_series(tmp_path: Path) -> None:
    volume = np.arange(64, dtype=np.int16).reshape((4, 4, 4), order="F")
    path = write_nifti(tmp_path / "single.nii", (4, 4, 4, 1), [volume], pixdim=(1.0, 1.0, 1.0, 2.0))

    record = read_nifti(path)

    assert record.shape == (4, 4, 4)
    assert record.frame_count == 1
    assert record.axes == "i,j,k"
    assert record.metadata["volume_count"] == 1
    assert record.metadata["repetition_time_s"] == 2.0
    assert np.array_equal(record.pixels, volume)


def test_iter_volumes_yields_every_volume(tmp_path: Path) -> None:
    volumes = [np.full((2, 2, 2), 10 * t, dtype=np.int16) for t in range(3)]
    path = write_nifti(tmp_path / "three.nii", (2, 2, 2, 3), volumes)

    records = list(iter_volumes(path))

    assert [record.metadata["volume_index"] for record in records] == [0, 1, 2]
    assert [float(record.pixels.mean()) for record in records] == [0.0, 10.0, 20.0]
    assert all(record.frame_count == 3 for record in records)


def test_iter_volumes_reads_gzipped_file(tmp_path: Path) -> None:
    volumes = [np.full((2, 2, 2), 10 * t, dtype=np.int16) for t in range(3)]
    plain = write_nifti(tmp_path / "three.nii", (2, 2, 2, 3), volumes)
    packed = tmp_path / "three.nii.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))

    records = list(iter_volumes(packed))

    assert [float(record.pixels.mean()) for record in records] == [0.0, 10.0, 20.0]


def test_nifti_volume_out_of_range_rejected(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "three.nii", (2, 2, 2, 3), [np.zeros((2, 2, 2))] * 3)

    with pytest.raises(ValidationError, match="volume must be an integer from 0 to 2, got 3"):
        read_nifti(path, volume=3)


def test_nifti_hertz_axis_not_repetition_time(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "spectrum.nii", (2, 2, 2, 2), [np.zeros((2, 2, 2))] * 2,
                       xyzt_units=MM | HZ, pixdim=(1.0, 1.0, 1.0, 50.0))

    record = read_nifti(path)

    assert record.metadata["repetition_time_s"] is None
    assert record.metadata["repetition_time_unit"] == "hz"
    assert any("not a time unit" in note for note in record.notes)


def save_with_xforms(path: Path, sform: np.ndarray, sform_code: int, qform: np.ndarray,
                     qform_code: int) -> Path:
    image = nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.int16), None)
    image.set_sform(sform, code=sform_code)
    image.set_qform(qform, code=qform_code)
    image.header.set_xyzt_units("mm", "sec")
    nib.save(image, path)
    return path


def shifted(z: float) -> np.ndarray:
    affine = np.diag([2.0, 3.0, 4.0, 1.0])
    affine[:3, 3] = [10.0, 20.0, z]
    return affine


def test_nifti_sform_used_when_sform_code_set(tmp_path: Path) -> None:
    path = save_with_xforms(tmp_path / "both.nii", shifted(30.0), 2, shifted(30.0), 1)

    record = read_nifti(path)

    assert np.array_equal(record.affine, shifted(30.0))
    assert record.metadata["affine_source"] == "sform"
    assert record.coordinate_system == "RAS"
    assert record.spacing == (2.0, 3.0, 4.0)


def test_nifti_qform_used_when_sform_code_zero(tmp_path: Path) -> None:
    path = save_with_xforms(tmp_path / "qform.nii", shifted(99.0), 0, shifted(30.0), 1)

    record = read_nifti(path)

    assert np.array_equal(record.affine, shifted(30.0))
    assert record.metadata["affine_source"] == "qform"


def test_nifti_negative_sform_code_ignored(tmp_path: Path) -> None:
    path = save_with_xforms(tmp_path / "negative.nii", shifted(99.0), 2, shifted(30.0), 1)
    # sform_code is the little-endian int16 at byte 254 of a NIfTI-1 header (nifti1.h). nibabel's writer
    # would reset -1 to 0, so the byte is patched after saving.
    data = bytearray(path.read_bytes())
    data[254:256] = struct.pack("<h", -1)
    path.write_bytes(bytes(data))

    record = read_nifti(path)

    # nifti1.h uses the sform only when sform_code > 0.
    assert record.metadata["affine_source"] == "qform"
    assert np.array_equal(record.affine, shifted(30.0))


def test_nifti_pixdim_affine_when_no_codes(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "method1.nii", (2, 2, 1), [small_volume()], pixdim=(0.5, 0.75, 3.0))

    record = read_nifti(path)

    # NIfTI-1 method 1: x = pixdim[1] * i and so on, with no offset.
    assert np.array_equal(record.affine, np.diag([0.5, 0.75, 3.0, 1.0]))
    assert record.metadata["affine_source"] == "pixdim"
    assert any("method 1" in note for note in record.notes)


def test_nifti_sform_qform_disagreement_warns(tmp_path: Path) -> None:
    path = save_with_xforms(tmp_path / "differ.nii", shifted(30.0), 2, shifted(35.0), 1)

    with pytest.warns(WorkbenchWarning, match="sform and qform differ by up to 5 mm"):
        record = read_nifti(path)

    assert np.array_equal(record.affine, shifted(30.0))
    assert any("differ" in note for note in record.notes)


def test_nifti_agreeing_xforms_do_not_warn(tmp_path: Path) -> None:
    # 0.0005 mm is below the 0.001 mm tolerance.
    path = save_with_xforms(tmp_path / "agree.nii", shifted(30.0), 2, shifted(30.0005), 1)

    with warnings.catch_warnings():
        warnings.simplefilter("error", WorkbenchWarning)
        read_nifti(path)


def test_nifti_metres_converted_to_millimetres(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "metres.nii", (2, 2, 1), [small_volume()], xyzt_units=METER | SEC,
                       pixdim=(0.001, 0.002, 0.003))

    record = read_nifti(path)

    assert record.spacing == pytest.approx((1.0, 2.0, 3.0), rel=1e-6)  # float32 pixdim, so 1e-6
    assert record.metadata["spatial_unit"] == "meter"


def test_nifti_free_text_fields_not_copied(tmp_path: Path) -> None:
    image = nib.Nifti1Image(np.zeros((2, 2, 2), dtype=np.int16), np.eye(4))
    image.header["descrip"] = b"Test^Alpha"
    image.header["aux_file"] = b"ANON0001"
    image.header["db_name"] = b"ANON0001"
    image.header["intent_name"] = b"Test^Alpha"
    image.header.extensions.append(nib.nifti1.Nifti1Extension(6, b"Test^Alpha ANON0001"))
    path = tmp_path / "text.nii"
    nib.save(image, path)

    record = read_nifti(path)
    stored = json.dumps(record.to_dict())

    assert "Test^Alpha" not in stored
    assert "ANON0001" not in stored
    assert record.metadata["extension_codes"] == [6]


def test_nifti_bytes_match_file(tmp_path: Path) -> None:
    path = write_nifti(tmp_path / "scaled.nii", (2, 2, 1), [small_volume()], slope=0.5, inter=-100)

    from_file = read_nifti(path)
    from_bytes = read_nifti(gzip.compress(path.read_bytes()))

    assert np.array_equal(from_bytes.pixels, from_file.pixels)
    assert from_bytes.source == "<bytes>"


@pytest.mark.parametrize("name", ["anatomical.nii", "example4d.nii.gz", "functional.nii",
                                  "example_nifti2.nii.gz"])
def test_nifti_nibabel_files_match_get_fdata(name: str) -> None:
    path = Path(data_path) / name
    image = nib.load(path)
    volume = image.shape[3] - 1 if image.ndim == 4 else None
    expected = image.get_fdata() if volume is None else image.get_fdata()[..., volume]

    record = read_nifti(path, volume=volume)

    # functional.nii is scaled (slope 0.0754, intercept 3100.76). The others are stored unscaled.
    assert np.array_equal(record.pixels, expected)
    assert record.coordinate_system == "RAS"


def test_nifti_example4d_repetition_time_as_stored() -> None:
    record = read_nifti(Path(data_path) / "example4d.nii.gz")

    # The file stores pixdim[4] = 2000 with the unit sec, and the value is reported as stored.
    assert record.frame_count == 2
    assert record.metadata["repetition_time_s"] == 2000.0


def test_nifti_text_file_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notes.nii"
    path.write_text("This is a plain English sentence, not an image header.\n" * 8)

    with pytest.raises(ImageError, match="notes.nii: not a readable NIfTI file"):
        read_nifti(path)


def test_nifti_missing_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="absent.nii: no such NIfTI file"):
        read_nifti(tmp_path / "absent.nii")
