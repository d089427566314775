"""Reading single DICOM files: encodings, compressed pixel data, physical units, geometry and identity."""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom import dcmwrite
from pydicom import uid as dicom_uid
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_decoder

from workbench.errors import ImageError, NotDicomError, PixelDecodeError
from workbench.modality.deid import Deidentifier
from workbench.modality.dicom import looks_like_raw_dataset, physical_pixels, read_dataset, read_dicom
from workbench.modality.dicom_pixels import compact_dtype

# Fake identifiers written into the fixtures. None of them may reach any output.
IDENTIFIERS = {
    "PatientName": "Test^Alpha",
    "PatientID": "ANON0001",
    "AccessionNumber": "ACC0000042",
    "InstitutionName": "Test Institution Beta",
    "ReferringPhysicianName": "Test^Gamma",
}
# Stored values of a 4×4 CT with 12 bits stored, and the HU each gives: HU = stored × 1 + (−1024).
CT_STORED = [[0, 24, 1024, 1064], [1124, 1224, 1324, 1424], [2024, 2524, 3024, 4095], [1023, 1025, 1022, 1026]]
CT_HU = [[-1024, -1000, 0, 40], [100, 200, 300, 400], [1000, 1500, 2000, 3071], [-1, 1, -2, 2]]

# SC_rgb_jpeg.dcm declares explicit VR but encodes one element with implicit VR, which pydicom reads with a warning.
SC_RGB_JPEG_WARNING = "ignore:Expected explicit VR, but found implicit VR"


@pytest.fixture
def deidentifier() -> Deidentifier:
    return Deidentifier(salt="test salt")


def shipped(name: str) -> str:
    """Return the path of a file that pydicom ships in its wheel (never downloaded)."""
    path = get_testdata_file(name, download=False)
    assert path is not None, f"pydicom does not ship {name}"
    return str(path)


def image_dataset(stored: np.ndarray, *, modality: str = "CT", bits_stored: int = 12,
                  syntax: str = dicom_uid.ExplicitVRLittleEndian) -> Dataset:
    """Build a greyscale image dataset with fake identifiers and file meta for ``syntax``."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = dicom_uid.CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = dicom_uid.generate_uid()
    ds.SOPClassUID = dicom_uid.CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = dicom_uid.generate_uid()
    ds.SeriesInstanceUID = dicom_uid.generate_uid()
    for keyword, value in IDENTIFIERS.items():
        setattr(ds, keyword, value)
    ds.Modality = modality
    ds.Manufacturer = "Test Manufacturer"
    frames = stored.shape[0] if stored.ndim == 3 else 1
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = stored.astype("<u2").tobytes()
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


# --- Files with and without the preamble and file meta -------------------------------------------------------


def raw_mr_bytes() -> bytes:
    """Return a 2×2 MR dataset with 12-bit pixels, implicit VR little endian, without preamble and file meta."""
    ds = Dataset()
    ds.PatientName = "Test^Alpha"
    ds.PatientID = "ANON0001"
    ds.Modality = "MR"
    ds.Rows = 2
    ds.Columns = 2
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.array([[0, 100], [200, 4095]], dtype="<u2").tobytes()
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, implicit_vr=True, little_endian=True, enforce_file_format=False)
    return buffer.getvalue()


def test_raw_dataset_loads_exact_pixels(tmp_path: Path, deidentifier: Deidentifier) -> None:
    path = tmp_path / "raw.dcm"
    path.write_bytes(raw_mr_bytes())

    record = read_dicom(path, deidentifier=deidentifier)

    assert path.read_bytes()[128:132] != b"DICM"
    assert record.pixels.tolist() == [[0, 100], [200, 4095]]
    assert record.pixels.dtype == np.int32
    assert "no file meta: transfer syntax inferred as Implicit VR Little Endian" in record.notes
    assert record.modality == "MR"
    assert record.source == "raw.dcm"


def test_raw_dataset_from_bytes(deidentifier: Deidentifier) -> None:
    record = read_dicom(raw_mr_bytes(), deidentifier=deidentifier)

    assert record.pixels.tolist() == [[0, 100], [200, 4095]]
    assert record.source == "<bytes>"


def test_file_meta_without_preamble_read(tmp_path: Path, deidentifier: Deidentifier) -> None:
    ds = pydicom.dcmread(shipped("MR_small.dcm"))
    ds.preamble = None
    path = tmp_path / "meta_only.dcm"
    dcmwrite(path, ds, enforce_file_format=False)

    record = read_dicom(path, deidentifier=deidentifier)

    assert path.read_bytes()[:2] == b"\x02\x00"
    assert np.array_equal(record.pixels, ds.pixel_array)
    assert "no 128-byte preamble and DICM prefix" in record.notes
    assert not any("inferred" in note for note in record.notes)


def test_text_file_rejected_as_not_dicom(tmp_path: Path) -> None:
    text = ("This is a plain English text file that was given a DICOM file name by mistake. "
            "It holds no data elements, no preamble and no pixel data, so a reader must reject it\n")
    path = tmp_path / "x.dcm"
    path.write_text(text, encoding="ascii")

    with pytest.raises(NotDicomError) as caught:
        read_dicom(path, deidentifier=Deidentifier(salt="test salt"))

    assert path.stat().st_size == 164
    assert "x.dcm is not DICOM" in str(caught.value)
    assert "starts with text" in str(caught.value)
    assert caught.value.source == "x.dcm"


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "the file is empty"),
    (b"\x89PNG\r\n\x1a\n" + bytes(200), "is a PNG image"),
    (b"\xff\xd8\xff\xe0" + bytes(200), "is a JPEG image"),
    (np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "binary data"),
])
def test_non_dicom_bytes_rejected(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "other.dcm"
    path.write_bytes(content)

    with pytest.raises(NotDicomError, match=expected):
        read_dataset(path)


def test_elements_without_standard_tags_rejected(tmp_path: Path) -> None:
    # Three well-formed explicit VR elements: one standard, two private. They pass the first-bytes check
    # but read as a dataset with a single standard element and no pixel data.
    ds = Dataset()
    ds.Modality = "CT"
    ds.add_new(0x00090010, "LO", "TEST CREATOR")
    ds.add_new(0x00091001, "LO", "value")
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, implicit_vr=False, little_endian=True, enforce_file_format=False)
    path = tmp_path / "sparse.dcm"
    path.write_bytes(buffer.getvalue())

    with pytest.raises(NotDicomError, match="1 standard data element"):
        read_dataset(path)
    assert looks_like_raw_dataset(buffer.getvalue(), len(buffer.getvalue()))


def test_text_fails_first_element_check() -> None:
    text = b"Dear colleague, the attached file holds the report of the examination."

    assert not looks_like_raw_dataset(text, len(text))


def test_caller_stream_stays_open(deidentifier: Deidentifier) -> None:
    with open(shipped("CT_small.dcm"), "rb") as stream:
        record = read_dicom(stream, deidentifier=deidentifier)

        assert not stream.closed
    assert record.source == "CT_small.dcm"


# --- Transfer syntaxes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [
    "MR_small_implicit.dcm",  # Implicit VR Little Endian
    "MR_small_bigendian.dcm",  # Explicit VR Big Endian
    "MR_small_expb.dcm",  # Explicit VR Big Endian, written by DCMTK
    "MR_small_RLE.dcm",  # RLE Lossless
    "MR_small_jp2klossless.dcm",  # JPEG 2000 Lossless
    "MR_small_jpeg_ls_lossless.dcm",  # JPEG-LS Lossless
])
def test_mr_small_encodings_identical(name: str, deidentifier: Deidentifier) -> None:
    # pydicom ships MR_small in several transfer syntaxes with the same pixels (its test_files README).
    reference = read_dicom(shipped("MR_small.dcm"), deidentifier=deidentifier)

    record = read_dicom(shipped(name), deidentifier=deidentifier)

    assert np.array_equal(record.pixels, reference.pixels)
    assert np.allclose(record.affine, reference.affine)


def test_deflated_twin_identical(tmp_path: Path, deidentifier: Deidentifier) -> None:
    ds = pydicom.dcmread(shipped("MR_small.dcm"))
    ds.file_meta.TransferSyntaxUID = dicom_uid.DeflatedExplicitVRLittleEndian
    path = save(ds, tmp_path / "deflated.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == dicom_uid.DeflatedExplicitVRLittleEndian
    assert np.array_equal(record.pixels, read_dicom(shipped("MR_small.dcm"), deidentifier=deidentifier).pixels)


def test_shipped_deflated_file_loads(deidentifier: Deidentifier) -> None:
    record = read_dicom(shipped("image_dfl.dcm"), deidentifier=deidentifier)

    assert record.shape == (512, 512)
    assert np.array_equal(record.pixels, pydicom.dcmread(shipped("image_dfl.dcm")).pixel_array)


@pytest.mark.parametrize("name", [
    "SC_rgb_jpeg_gdcm.dcm",  # JPEG Lossless, Selection Value 1
    "SC_rgb_gdcm_KY.dcm",  # JPEG 2000, whose stream decodes to exactly the RLE twin's values
])
def test_rgb_compressed_matches_rle_twin(name: str, deidentifier: Deidentifier) -> None:
    reference = read_dicom(shipped("SC_rgb_rle.dcm"), deidentifier=deidentifier)

    record = read_dicom(shipped(name), deidentifier=deidentifier)

    assert record.axes == "row,column,sample"
    assert np.array_equal(record.pixels, reference.pixels)


def test_jpeg_ls_near_lossless_within_bound(deidentifier: Deidentifier) -> None:
    # JPEG-LS near-lossless bounds the error per sample by the NEAR parameter. The largest difference
    # from the RLE twin, measured with pylibjpeg-libjpeg 2.5, is 2.
    reference = read_dicom(shipped("SC_rgb_rle.dcm"), deidentifier=deidentifier).pixels.astype(int)

    record = read_dicom(shipped("SC_rgb_jls_lossy_line.dcm"), deidentifier=deidentifier)

    assert np.abs(record.pixels.astype(int) - reference).max() <= 2


@pytest.mark.filterwarnings(SC_RGB_JPEG_WARNING)
def test_jpeg_baseline_matches_decompressed_twin(deidentifier: Deidentifier) -> None:
    # SC_rgb_jpeg_dcmd.dcm is the same stream decompressed by another decoder. Lossy JPEG decoders may
    # round the inverse DCT differently, and the largest difference measured with libjpeg 2.5 is 1.
    reference = read_dicom(shipped("SC_rgb_jpeg_dcmd.dcm"), deidentifier=deidentifier).pixels.astype(int)

    record = read_dicom(shipped("SC_rgb_jpeg.dcm"), deidentifier=deidentifier)

    assert record.photometric_interpretation == "RGB"
    assert np.abs(record.pixels.astype(int) - reference).max() <= 1


def test_jpeg_extended_decodes_12_bit(deidentifier: Deidentifier) -> None:
    record = read_dicom(shipped("JPGExtended.dcm"), deidentifier=deidentifier)

    assert record.shape == (1024, 256)
    assert record.pixels.max() <= 4095
    assert record.pixels.max() > record.pixels.min()


def test_multi_frame_rle_matches_native(deidentifier: Deidentifier) -> None:
    reference = read_dicom(shipped("rtdose.dcm"), deidentifier=deidentifier)

    record = read_dicom(shipped("rtdose_rle.dcm"), deidentifier=deidentifier)

    assert record.axes == "frame,row,column"
    assert record.frame_count == 15
    assert np.array_equal(record.pixels, reference.pixels)


# --- Compressed pixel data that cannot be decoded ------------------------------------------------------------


def rle_ct(tmp_path: Path) -> Path:
    ds = image_dataset(np.array(CT_STORED))
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.compress(dicom_uid.RLELossless, encoding_plugin="pydicom")
    return save(ds, tmp_path / "rle.dcm")


def test_rle_ct_decodes_bit_exact_and_hu(tmp_path: Path, deidentifier: Deidentifier) -> None:
    path = rle_ct(tmp_path)

    record = read_dicom(path, deidentifier=deidentifier)

    assert pydicom.dcmread(path).file_meta.TransferSyntaxUID == dicom_uid.RLELossless
    assert pydicom.dcmread(path).pixel_array.tolist() == CT_STORED
    assert record.pixels.tolist() == CT_HU
    assert record.pixels.dtype == np.int32
    assert record.units == "HU"


@pytest.mark.parametrize(("syntax", "name"), [
    (dicom_uid.JPEGLosslessSV1, "JPEG Lossless, Non-Hierarchical, First-Order Prediction"),
    (dicom_uid.JPEGLossless, "JPEG Lossless, Non-Hierarchical (Process 14)"),
])
def test_corrupt_jpeg_lossless_raises(tmp_path: Path, syntax: str, name: str, deidentifier: Deidentifier) -> None:
    ds = image_dataset(np.array(CT_STORED), syntax=syntax)
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(30) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    path = save(ds, tmp_path / "corrupt.dcm")

    with pytest.raises(PixelDecodeError) as caught:
        read_dicom(path, deidentifier=deidentifier)

    assert str(syntax) in caught.value.transfer_syntax
    assert name in caught.value.transfer_syntax
    assert str(syntax) in str(caught.value)
    assert "corrupt.dcm" in str(caught.value)


def test_shipped_corrupt_jpeg_raises(deidentifier: Deidentifier) -> None:
    # pydicom's JPEG-lossy.dcm is a JPEG Extended stream with invalid scan parameters (its README).
    with pytest.raises(PixelDecodeError, match=r"1\.2\.840\.10008\.1\.2\.4\.51 \(JPEG Extended"):
        read_dicom(shipped("JPEG-lossy.dcm"), deidentifier=deidentifier)


def test_truncated_native_pixels_raise(deidentifier: Deidentifier) -> None:
    with pytest.raises(PixelDecodeError, match="less than expected"):
        read_dicom(shipped("MR_truncated.dcm"), deidentifier=deidentifier)


@pytest.mark.parametrize("name", ["SC_rgb_dcmtk_+eb+cr.dcm", "JPGExtended.dcm", "MR_small_jpeg_ls_lossless.dcm"])
def test_truncated_stream_raises(tmp_path: Path, name: str, deidentifier: Deidentifier) -> None:
    # pylibjpeg-libjpeg 2.5 decodes these streams cut in half without an error, filling the missing rows.
    ds = pydicom.dcmread(shipped(name))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])
    path = save(ds, tmp_path / "cut.dcm")

    with pytest.raises(PixelDecodeError, match="does not end with the end marker FFD9"):
        read_dicom(path, deidentifier=deidentifier)


@pytest.mark.parametrize(("name", "packages"), [
    ("MR_small_jpeg_ls_lossless.dcm", "pip install pylibjpeg pylibjpeg-libjpeg"),
    ("MR_small_jp2klossless.dcm", "pip install pylibjpeg pylibjpeg-openjpeg"),
    ("MR_small_RLE.dcm", "pip install pylibjpeg pylibjpeg-rle"),
])
def test_missing_decoder_names_packages(name: str, packages: str, monkeypatch: pytest.MonkeyPatch,
                                        deidentifier: Deidentifier) -> None:
    ds = pydicom.dcmread(shipped(name))
    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    # Hide every installed plugin of this transfer syntax, as on a machine without them.
    monkeypatch.setattr(decoder, "_available", {})

    with pytest.raises(PixelDecodeError) as caught:
        read_dicom(shipped(name), deidentifier=deidentifier)

    assert packages in str(caught.value)
    assert str(ds.file_meta.TransferSyntaxUID) in caught.value.transfer_syntax


@pytest.mark.filterwarnings(SC_RGB_JPEG_WARNING)
def test_pillow_skipped_when_loading_truncated(monkeypatch: pytest.MonkeyPatch, deidentifier: Deidentifier) -> None:
    from PIL import ImageFile

    decoder = get_decoder(dicom_uid.JPEGBaseline8Bit)
    monkeypatch.setattr(decoder, "_available", {"pillow": decoder._available["pillow"]})
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)

    with pytest.raises(PixelDecodeError, match="pip install pylibjpeg pylibjpeg-libjpeg"):
        read_dicom(shipped("SC_rgb_jpeg.dcm"), deidentifier=deidentifier)


def test_partial_image_warning_raises(monkeypatch: pytest.MonkeyPatch, deidentifier: Deidentifier) -> None:
    def partial_decoder(src: bytes, runner: object) -> bytearray:
        warnings.warn("image data is truncated, the rest is filled with zeros", UserWarning, stacklevel=1)
        return bytearray(64 * 64 * 2)

    decoder = get_decoder(dicom_uid.RLELossless)
    monkeypatch.setattr(decoder, "_available", {"partial": partial_decoder})

    with pytest.raises(PixelDecodeError, match="incomplete image"):
        read_dicom(shipped("MR_small_RLE.dcm"), deidentifier=deidentifier)


# --- Physical units ------------------------------------------------------------------------------------------


def enhanced_ct(per_frame: list[tuple[float, float]] | None, shared: tuple[float, float] | None) -> Dataset:
    """Build an enhanced CT of 2 frames of 1×2 pixels, both stored [1, 10], with the given rescales."""
    ds = image_dataset(np.array([[[1, 10]], [[1, 10]]]))
    ds.SOPClassUID = dicom_uid.EnhancedCTImageStorage
    ds.file_meta.MediaStorageSOPClassUID = dicom_uid.EnhancedCTImageStorage

    def transformation(slope: float, intercept: float) -> Dataset:
        item = Dataset()
        item.RescaleSlope = slope
        item.RescaleIntercept = intercept
        item.RescaleType = "HU"
        group = Dataset()
        group.PixelValueTransformationSequence = [item]
        return group

    ds.PerFrameFunctionalGroupsSequence = [transformation(*values) for values in per_frame] if per_frame else [
        Dataset(), Dataset()]
    shared_group = transformation(*shared) if shared else Dataset()
    ds.SharedFunctionalGroupsSequence = [shared_group]
    return ds


def test_enhanced_ct_per_frame_rescale(tmp_path: Path, deidentifier: Deidentifier) -> None:
    path = save(enhanced_ct([(3, -1), (7, -3)], None), tmp_path / "enhanced.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    # Frame 1: 1 × 3 − 1 = 2 and 10 × 3 − 1 = 29. Frame 2: 1 × 7 − 3 = 4 and 10 × 7 − 3 = 67.
    assert record.pixels.tolist() == [[[2, 29]], [[4, 67]]]
    assert record.axes == "frame,row,column"
    assert record.frame_count == 2
    assert record.units == "HU"


def test_enhanced_ct_shared_rescale(tmp_path: Path, deidentifier: Deidentifier) -> None:
    path = save(enhanced_ct(None, (3, -1)), tmp_path / "enhanced.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    # Both frames: 1 × 3 − 1 = 2 and 10 × 3 − 1 = 29.
    assert record.pixels.tolist() == [[[2, 29]], [[2, 29]]]


def test_ct_small_in_hounsfield_units(deidentifier: Deidentifier) -> None:
    ds = pydicom.dcmread(shipped("CT_small.dcm"))

    record = read_dicom(shipped("CT_small.dcm"), deidentifier=deidentifier)

    # CT_small.dcm declares RescaleSlope 1 and RescaleIntercept −1024: HU = stored − 1024.
    assert np.array_equal(record.pixels, ds.pixel_array.astype(np.int32) - 1024)
    assert record.units == "HU"
    assert record.pixels.dtype == np.int32


def test_physical_pixels_of_dataset() -> None:
    ds = pydicom.dcmread(shipped("CT_small.dcm"))

    values = physical_pixels(ds)

    assert np.array_equal(values, ds.pixel_array.astype(np.int32) - 1024)


def test_modality_lut_sequence_applied(tmp_path: Path, deidentifier: Deidentifier) -> None:
    ds = image_dataset(np.array([[0, 1], [2, 3]]), modality="OT")
    item = Dataset()
    item.LUTDescriptor = [4, 0, 16]
    item.ModalityLUTType = "OD"
    item.add_new(0x00283006, "US", [10, 20, 30, 40])  # LUTData
    ds.ModalityLUTSequence = [item]
    path = save(ds, tmp_path / "lut.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    # Stored 0..3 index the four LUT entries.
    assert record.pixels.tolist() == [[10, 20], [30, 40]]
    assert record.units == "OD"


def test_fractional_slope_gives_exact_floats(tmp_path: Path, deidentifier: Deidentifier) -> None:
    ds = image_dataset(np.array([[0, 1], [3, 4095]]), modality="PT")
    ds.RescaleSlope = 0.5
    ds.RescaleIntercept = -100
    path = save(ds, tmp_path / "half.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    # 0 × 0.5 − 100 = −100, 1 × 0.5 − 100 = −99.5, 3 × 0.5 − 100 = −98.5, 4095 × 0.5 − 100 = 1947.5,
    # all exact in float32.
    assert record.pixels.tolist() == [[-100.0, -99.5], [-98.5, 1947.5]]
    assert record.pixels.dtype == np.float32


@pytest.mark.parametrize(("values", "dtype"), [
    (np.array([-1024.0, 3071.0]), np.int32),  # integers in range
    (np.array([0.5, 1947.5]), np.float32),  # halves are exact in float32
    (np.array([0.1, 1.0]), np.float64),  # 0.1 changes in float32
    (np.array([0.0, 2.0**31]), np.float32),  # integral but beyond int32, and a power of two is exact in float32
    (np.array([0.0, 2.0**31 + 1]), np.float64),  # beyond int32 and not exact in float32
    (np.array([0, 65535], dtype=np.uint16), np.int32),  # unsigned stored values, no rescale
])
def test_compact_dtype_rule(values: np.ndarray, dtype: type) -> None:
    result = compact_dtype(values)

    assert result.dtype == dtype
    assert np.array_equal(result.astype(np.float64), values.astype(np.float64))


def test_monochrome1_noted_not_inverted(tmp_path: Path, deidentifier: Deidentifier) -> None:
    ds = image_dataset(np.array([[0, 100], [200, 300]]), modality="CR")
    ds.PhotometricInterpretation = "MONOCHROME1"
    path = save(ds, tmp_path / "mono1.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    assert record.pixels.tolist() == [[0, 100], [200, 300]]
    assert record.photometric_interpretation == "MONOCHROME1"
    assert any(note.startswith("MONOCHROME1") for note in record.notes)


def test_palette_colour_mapped_to_rgb(deidentifier: Deidentifier) -> None:
    record = read_dicom(shipped("examples_palette.dcm"), deidentifier=deidentifier)

    assert record.photometric_interpretation == "RGB"
    assert record.shape == (350, 800, 3)
    assert any("PALETTE COLOR" in note for note in record.notes)


def test_ybr_jpeg_converted_to_rgb(deidentifier: Deidentifier) -> None:
    record = read_dicom(shipped("SC_rgb_dcmtk_+eb+cy+np.dcm"), deidentifier=deidentifier)

    assert record.photometric_interpretation == "RGB"
    assert "colour converted from YBR_FULL_422 to RGB" in record.notes


def test_object_without_pixels_rejected(deidentifier: Deidentifier) -> None:
    with pytest.raises(ImageError, match=r"contains no pixel data \(its SOP class is RT Plan Storage\)"):
        read_dicom(shipped("rtplan.dcm"), deidentifier=deidentifier)


# --- Geometry ------------------------------------------------------------------------------------------------


def test_affine_follows_ps3_3_formula(tmp_path: Path, deidentifier: Deidentifier) -> None:
    ds = image_dataset(np.zeros((3, 4)))
    ds.ImagePositionPatient = [10, 20, 30]
    ds.ImageOrientationPatient = [0, 1, 0, 0, 0, -1]  # sagittal: rows run to posterior, columns to feet
    ds.PixelSpacing = [2, 3]  # 2 mm between rows, 3 mm between columns
    path = save(ds, tmp_path / "sagittal.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    # P = S + X·Δc·c + Y·Δr·r with X = (0, 1, 0), Y = (0, 0, −1), Δc = 3, Δr = 2. For r = 1, c = 2:
    # (10, 20, 30) + (0, 6, 0) + (0, 0, −2) = (10, 26, 28).
    assert (record.affine @ [1, 2, 0, 1])[:3].tolist() == [10, 26, 28]
    assert record.spacing == (2.0, 3.0)
    assert record.coordinate_system == "LPS"
    # Normal N = X × Y = (0, 1, 0) × (0, 0, −1) = (−1, 0, 0).
    assert record.direction[:, 2].tolist() == [-1, 0, 0]


def test_ct_small_affine_origin(deidentifier: Deidentifier) -> None:
    ds = pydicom.dcmread(shipped("CT_small.dcm"))

    record = read_dicom(shipped("CT_small.dcm"), deidentifier=deidentifier)

    assert np.allclose(record.affine[:3, 3], [float(value) for value in ds.ImagePositionPatient])
    assert record.spacing == (float(ds.PixelSpacing[0]), float(ds.PixelSpacing[1]))


def test_enhanced_frames_spaced_from_positions(tmp_path: Path, deidentifier: Deidentifier) -> None:
    ds = enhanced_ct([(1, 0), (1, 0)], None)
    for frame, z in zip(ds.PerFrameFunctionalGroupsSequence, (-10.0, -5.0), strict=True):
        position = Dataset()
        position.ImagePositionPatient = [0, 0, z]
        frame.PlanePositionSequence = [position]
    orientation, measures = Dataset(), Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    measures.PixelSpacing = [0.5, 0.75]
    ds.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence = [orientation]
    ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence = [measures]
    path = save(ds, tmp_path / "frames.dcm")

    record = read_dicom(path, deidentifier=deidentifier)

    # Frames at z = −10 and −5: 5 mm apart along the normal (0, 0, 1).
    assert record.spacing == (5.0, 0.5, 0.75)
    assert (record.affine @ [1, 0, 0, 1])[:3].tolist() == [0, 0, -5]


def test_multi_frame_positions_from_grid_offsets(deidentifier: Deidentifier) -> None:
    ds = pydicom.dcmread(shipped("rtdose.dcm"))

    record = read_dicom(shipped("rtdose.dcm"), deidentifier=deidentifier)

    offsets = [float(value) for value in ds.GridFrameOffsetVector]
    assert record.spacing[0] == pytest.approx(offsets[1] - offsets[0], abs=1e-9)
    assert record.affine[2, 3] == pytest.approx(float(ds.ImagePositionPatient[2]), abs=1e-9)


def test_image_without_position_has_no_affine(deidentifier: Deidentifier) -> None:
    record = read_dicom(shipped("JPGExtended.dcm"), deidentifier=deidentifier)

    assert record.affine is None
    assert record.coordinate_system == "pixel"
    assert record.spacing == (2.26, 2.26)


# --- Identity ------------------------------------------------------------------------------------------------


class ValueConvertingDeidentifier(Deidentifier):
    """Converts every header value first, as a careless de-identifier would, then de-identifies."""

    def metadata(self, ds: Dataset) -> dict:
        for element in ds.iterall():
            str(element.value)
        return super().metadata(ds)


def identifying_ct(tmp_path: Path) -> Path:
    ds = image_dataset(np.array(CT_STORED))
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [1, 1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds.PatientBirthDate = "1901/02/03"
        # A UID with the patient ID in it is invalid, and pydicom's value validation would quote it in a
        # warning and a log line when the value is read.
        ds.StudyInstanceUID = "1.2.840.99999.ANON0001"
        return save(ds, tmp_path / "identifying.dcm")


def test_no_identifier_in_record_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = identifying_ct(tmp_path)
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        record = read_dicom(path, deidentifier=ValueConvertingDeidentifier(salt="test salt"))

    outputs = {
        "repr": repr(record),
        "to_dict": json.dumps(record.to_dict()),
        "logs": caplog.text,
        "warnings": " ".join(str(warning.message) for warning in caught),
    }
    for value in [*IDENTIFIERS.values(), "1901/02/03"]:
        for output_name, text in outputs.items():
            assert value not in text, f"{value!r} found in {output_name}"


def test_no_identifier_in_decode_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ds = image_dataset(np.array(CT_STORED), syntax=dicom_uid.JPEGLosslessSV1)
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(30) + b"\xff\xd9"])
    ds["PixelData"].VR = "OB"
    path = save(ds, tmp_path / "corrupt.dcm")
    caplog.set_level(logging.DEBUG)

    with pytest.raises(PixelDecodeError) as caught:
        read_dicom(path, deidentifier=Deidentifier(salt="test salt"))

    for value in IDENTIFIERS.values():
        assert value not in str(caught.value)
        assert value not in caplog.text
