"""Reading DICOM files into :class:`~workbench.modality.record.ImageRecord`: pixels in physical units,
geometry in LPS and de-identified metadata.

A file is read when it has the 128-byte preamble and ``DICM`` prefix, and also when it is a raw dataset
without them, as long as its first bytes form plausible data elements. Anything else raises
:class:`~workbench.errors.NotDicomError` rather than being forced into a garbage dataset. pydicom
handles implicit and explicit VR, little and big endian and deflated files. Compressed pixel data is
decoded as :mod:`workbench.modality.dicom_pixels` describes, and geometry is computed as
:mod:`workbench.modality.dicom_geometry` describes.

Patient identity never leaves this module: messages and logs name a file by its base name only and
quote no header value, and a record's metadata comes from a de-identifier.
"""

from __future__ import annotations

import io
import logging
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any, BinaryIO, Protocol

import numpy as np
import pydicom
from pydicom import config as dicom_config
from pydicom import uid as dicom_uid
from pydicom.datadict import dictionary_has_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError

from workbench.errors import ImageError, NotDicomError
from workbench.modality.deid import BURNED_IN_NOTE, burned_in_annotation
from workbench.modality.dicom_geometry import ImageGeometry, frame_stack_geometry, single_plane_geometry
from workbench.modality.dicom_pixels import decode_pixels, to_physical, transfer_syntax_label
from workbench.modality.record import ImageRecord

logger = logging.getLogger(__name__)

#: Bytes read from the start of a file to decide whether it is DICOM.
HEAD_SIZE = 65536

#: A raw dataset must contain pixel data or at least this many standard (non-private) data elements.
MIN_STANDARD_ELEMENTS = 3

#: VRs that explicit VR encoding allows (DICOM PS3.5 Table 6.2-1).
EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split())
#: Explicit VRs with two reserved bytes and a 32-bit length (DICOM PS3.5 Section 7.1.2).
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())

#: File signatures of formats often mistaken for DICOM, used to say what a rejected file is.
_SIGNATURES = ((b"\x89PNG", "is a PNG image"), (b"\xff\xd8\xff", "is a JPEG image"),
               (b"II*\x00", "is a TIFF image"), (b"MM\x00*", "is a TIFF image"),
               (b"\x1f\x8b", "is gzip-compressed"), (b"PK\x03\x04", "is a ZIP archive"),
               (b"%PDF", "is a PDF document"))

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO


class DatasetDeidentifier(Protocol):
    """Interface the readers require of a de-identifier, such as :class:`workbench.modality.deid.Deidentifier`."""

    def dataset(self, ds: Dataset) -> Dataset:
        """Return a de-identified copy of ``ds``."""

    def metadata(self, ds: Dataset) -> dict[str, Any]:
        """Return the header values of ``ds`` that are safe to store, keyed by DICOM keyword."""


def read_dicom(source: Source, *, deidentifier: DatasetDeidentifier | None = None) -> ImageRecord:
    """Read one DICOM file (single- or multi-frame) into an image record.

    Parameters
    ----------
    source : str, os.PathLike, bytes or binary file object
        The file. Messages and ``record.source`` name it by its base name only.
    deidentifier : DatasetDeidentifier, optional
        Produces the record's metadata. Defaults to :func:`default_deidentifier`, one instance for the
        whole process, so pseudonyms agree across calls.

    Returns
    -------
    ImageRecord
        A record with ``format="dicom"`` and pixels in physical units (HU for CT), as
        :func:`physical_pixels` returns them. Its axes are ``row,column`` or ``frame,row,column``, with a
        trailing ``sample`` axis for colour. ``coordinate_system`` is ``LPS`` when the affine is known and
        ``pixel`` otherwise.

    Raises
    ------
    NotDicomError
        If the input is not DICOM.
    ImageError
        If it is DICOM without pixel data, or its header cannot be parsed.
    PixelDecodeError
        If its pixel data cannot be decoded.

    Notes
    -----
    pydicom's value validation is switched off while the file is read, because its warnings and log
    lines quote the invalid value, such as a UID that embeds a patient ID. pydicom keeps that setting
    for the whole process, so reads in other threads run without validation for that time as well.

    Examples
    --------
    >>> from pydicom.data import get_testdata_file
    >>> from workbench.modality.deid import Deidentifier
    >>> path = get_testdata_file("CT_small.dcm", download=False)
    >>> record = read_dicom(path, deidentifier=Deidentifier(salt="example"))
    >>> record.units, record.shape, record.axes, record.coordinate_system
    ('HU', (128, 128), 'row,column', 'LPS')
    """
    name = source_name(source)
    with header_values_unlogged():
        ds, notes = read_dataset(source)
        return dataset_record(ds, name, notes=notes, deidentifier=deidentifier)


def dataset_record(ds: Dataset, source: str, *, notes: list[str] | tuple[str, ...] = (),
                   deidentifier: DatasetDeidentifier | None = None) -> ImageRecord:
    """Build the record of a dataset already read, as :func:`read_dicom` does.

    Call it inside :func:`header_values_unlogged`, because it reads header values.
    """
    require_pixel_data(ds, source)
    frame_count = read_frame_count(ds, source)
    decoded = decode_pixels(ds, source)
    physical = to_physical(ds, decoded, frame_count)
    geometry = image_geometry(ds, frame_count)
    metadata = (deidentifier or default_deidentifier()).metadata(ds)
    burned_in = (BURNED_IN_NOTE,) if burned_in_annotation(ds) else ()

    colour = physical.array.ndim > (3 if frame_count > 1 else 2)
    axes = "frame,row,column" if frame_count > 1 else "row,column"
    logger.debug("read %s: %s, %d frame(s)", source, transfer_syntax_label(ds.file_meta.TransferSyntaxUID),
                 frame_count)
    return ImageRecord(
        pixels=physical.array,
        format="dicom",
        modality=str(ds.get("Modality")) if ds.get("Modality") else None,
        units=physical.units,
        spacing=geometry.spacing,
        direction=geometry.direction,
        affine=geometry.affine,
        coordinate_system="LPS" if geometry.affine is not None else "pixel",
        axes=axes + (",sample" if colour else ""),
        frame_count=frame_count,
        photometric_interpretation=decoded.photometric_interpretation or None,
        metadata=metadata,
        notes=(*notes, *decoded.notes, *physical.notes, *geometry.notes, *burned_in),
        source=source,
    )


def physical_pixels(ds: Dataset) -> np.ndarray:
    """Return the pixels of ``ds`` in physical units, as :func:`read_dicom` puts them in a record.

    See :func:`workbench.modality.dicom_pixels.to_physical` for the Modality LUT, the unit and the
    dtype rule (int32, else float32, else float64, whichever represents every value exactly).
    """
    name = os.path.basename(str(getattr(ds, "filename", "") or "")) or "<dataset>"
    require_pixel_data(ds, name)
    frame_count = read_frame_count(ds, name)
    return to_physical(ds, decode_pixels(ds, name), frame_count).array


def read_dataset(source: Source, *, stop_before_pixels: bool = False) -> tuple[Dataset, list[str]]:
    """Read a DICOM dataset, with or without the preamble and file meta, and return it with notes.

    A file without the ``DICM`` prefix at byte 128 is read only when its first bytes form plausible
    data elements (see :func:`looks_like_raw_dataset`) and the dataset read contains pixel data or at
    least ``MIN_STANDARD_ELEMENTS`` standard elements. Its transfer syntax is then inferred from the
    encoding pydicom detected and written into ``ds.file_meta``, and a note records the inference.

    Raises
    ------
    NotDicomError
        If the input is empty, starts with something that is not a data element, or reads as a dataset
        without standard elements.
    ImageError
        If the input has the ``DICM`` prefix but its header cannot be parsed.
    """
    name = source_name(source)
    stream, size, owned = _open(source)
    try:
        start = stream.tell()
        head = stream.read(HEAD_SIZE)
        stream.seek(start)
        has_prefix = head[128:132] == b"DICM"
        if not has_prefix:
            _reject_unless_raw_dataset(head, size - start, name)
        try:
            ds = pydicom.dcmread(stream, force=not has_prefix, stop_before_pixels=stop_before_pixels)
        except (InvalidDicomError, EOFError, ValueError, KeyError, struct.error, NotImplementedError) as exc:
            error = ImageError if has_prefix else NotDicomError
            raise error(f"{name} could not be read as DICOM: pydicom raised {type(exc).__name__} while "
                        "parsing the header", source=name) from exc
    finally:
        if owned:
            stream.close()

    notes: list[str] = []
    if not has_prefix:
        _require_standard_elements(ds, name, stop_before_pixels=stop_before_pixels)
        notes.append("no 128-byte preamble and DICM prefix")
    if ds.file_meta.get("TransferSyntaxUID") is None:
        notes.append(_infer_transfer_syntax(ds))
    return ds, notes


def require_pixel_data(ds: Dataset, source: str) -> None:
    """Raise :class:`ImageError` unless ``ds`` contains PixelData, FloatPixelData or DoubleFloatPixelData."""
    if any(keyword in ds for keyword in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        return
    sop_class = ds.get("SOPClassUID")
    kind = f"its SOP class is {dicom_uid.UID(sop_class).name}" if sop_class else "it has no SOPClassUID"
    raise ImageError(f"{source} contains no pixel data ({kind}). Either the file is cut short, so copy it "
                     "again from its source, or it is not an image object; only image objects can be read.",
                     source=source)


def read_frame_count(ds: Dataset, source: str) -> int:
    """Return NumberOfFrames, or 1 when it is absent or empty.

    Raises
    ------
    ImageError
        If NumberOfFrames is not a positive integer.
    """
    value = ds.get("NumberOfFrames")
    if value is None or value == "":
        return 1
    try:
        count = int(value)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        raise ImageError(f"{source} has an invalid NumberOfFrames: a positive integer is required", source=source)
    return count


def looks_like_raw_dataset(head: bytes, size: int) -> bool:
    """Return whether ``head`` starts with plausible DICOM data elements.

    Up to four elements are parsed as explicit VR little endian, explicit VR big endian and implicit
    VR little endian in turn. One encoding must give tags in ascending order with groups that DICOM
    allows, valid VRs (explicit VR) and lengths that fit in the ``size`` bytes of the file. A text file
    fails because four letters read as a 32-bit length are at least 0x20202020 bytes. Parsing stops at
    the end of ``head``, at an undefined length (a sequence or encapsulated pixel data) and at the end
    of the file meta group, which is always explicit VR little endian.
    """
    return any(_elements_parse(head, size, implicit=implicit, byte_order=byte_order)
               for implicit, byte_order in ((False, "<"), (False, ">"), (True, "<")))


def source_name(source: Source) -> str:
    """Return the base name of ``source``'s file, or ``<bytes>`` when it has none."""
    if isinstance(source, str | os.PathLike):
        return os.path.basename(os.fspath(source))
    name = getattr(source, "name", None)
    if isinstance(name, str) and name:
        return os.path.basename(name)
    return "<bytes>"


@cache
def default_deidentifier() -> DatasetDeidentifier:
    """Return the process-wide :class:`workbench.modality.deid.Deidentifier`, created on first use.

    Its salt comes from the ``WORKBENCH_DEID_SALT`` environment variable when that is set at the first
    call. One instance serves every read, so pseudonyms agree across files even with a random salt.
    """
    from workbench.modality.deid import Deidentifier as LibraryDeidentifier

    return LibraryDeidentifier()


def image_geometry(ds: Dataset, frame_count: int) -> ImageGeometry:
    """Return the spacing, direction and affine of a single- or multi-frame object."""
    if frame_count > 1:
        return frame_stack_geometry(ds, frame_count)
    return single_plane_geometry(ds)


@contextmanager
def header_values_unlogged() -> Iterator[None]:
    """Switch off pydicom's value validation, whose warnings and log lines quote header values.

    pydicom converts element values when they are first accessed, so every access that may touch an
    identifier (including de-identification) belongs inside this block.
    """
    settings = dicom_config.settings
    previous = settings.reading_validation_mode
    settings.reading_validation_mode = dicom_config.IGNORE
    try:
        yield
    finally:
        settings.reading_validation_mode = previous


def _open(source: Source) -> tuple[BinaryIO, int, bool]:
    """Return a seekable binary stream over ``source``, its size in bytes, and whether the caller closes it."""
    owned = True
    if isinstance(source, bytes | bytearray | memoryview):
        stream: BinaryIO = io.BytesIO(bytes(source))
    elif isinstance(source, str | os.PathLike):
        stream = open(source, "rb")  # noqa: SIM115 - closed by read_dataset
    elif source.seekable():
        stream, owned = source, False
    else:
        stream = io.BytesIO(source.read())
    position = stream.tell()
    size = stream.seek(0, io.SEEK_END)
    stream.seek(position)
    return stream, size, owned


def _reject_unless_raw_dataset(head: bytes, size: int, name: str) -> None:
    if size == 0:
        raise NotDicomError(f"{name} is not DICOM: the file is empty", source=name)
    if looks_like_raw_dataset(head, size):
        return
    raise NotDicomError(f"{name} is not DICOM: it has no DICM prefix at byte 128, and it {_describe(head)}. "
                        "Check that the file is a DICOM file and was copied completely.", source=name)


def _describe(head: bytes) -> str:
    """Say what a rejected file starts with, without quoting its content."""
    for signature, description in _SIGNATURES:
        if head.startswith(signature):
            return description
    if len(head) >= 348 and head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return "is a NIfTI-1 image"
    sample = head[:512]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and all(character.isprintable() or character in "\t\r\n\f" for character in text):
        return "starts with text"
    return "starts with binary data that does not form a DICOM data element"


def _elements_parse(head: bytes, size: int, *, implicit: bool, byte_order: str) -> bool:
    offset, previous_tag, count = 0, -1, 0
    while count < 4 and offset + 8 <= len(head):
        group, element = struct.unpack_from(byte_order + "HH", head, offset)
        tag = (group << 16) | element
        if group < 2 or group >= 0xFFFE or group in (3, 5, 7) or tag <= previous_tag:
            return False
        if count and previous_tag >> 16 == 2 and group != 2:
            return True
        file_meta = group == 2
        if implicit and not file_meta:
            header, length = 8, struct.unpack_from(byte_order + "I", head, offset + 4)[0]
        else:
            vr = head[offset + 4:offset + 6]
            if vr not in EXPLICIT_VRS:
                return False
            order = "<" if file_meta else byte_order
            if vr in LONG_VRS:
                if offset + 12 > len(head) or head[offset + 6:offset + 8] != b"\x00\x00":
                    return count > 0
                header, length = 12, struct.unpack_from(order + "I", head, offset + 8)[0]
            else:
                header, length = 8, struct.unpack_from(order + "H", head, offset + 6)[0]
        if length == 0xFFFFFFFF:
            return True
        if offset + header + length > size:
            return False
        previous_tag, offset, count = tag, offset + header + length, count + 1
    return count > 0


def _require_standard_elements(ds: Dataset, name: str, *, stop_before_pixels: bool) -> None:
    if not stop_before_pixels and "PixelData" in ds:
        return
    standard = sum(1 for element in ds if not element.tag.is_private and element.tag.element != 0
                   and dictionary_has_tag(element.tag))
    if standard < MIN_STANDARD_ELEMENTS:
        raise NotDicomError(
            f"{name} is not DICOM: it has no DICM prefix, and read as a raw dataset it contains {standard} standard "
            f"data element(s) and no pixel data, fewer than the {MIN_STANDARD_ELEMENTS} expected.", source=name)


def _infer_transfer_syntax(ds: Dataset) -> str:
    """Set ``ds.file_meta.TransferSyntaxUID`` from the encoding pydicom detected and return a note."""
    implicit, little_endian = ds.original_encoding
    if implicit:
        syntax = dicom_uid.ImplicitVRLittleEndian
    elif little_endian:
        syntax = dicom_uid.ExplicitVRLittleEndian
    else:
        syntax = dicom_uid.ExplicitVRBigEndian
    if getattr(ds, "file_meta", None) is None:
        ds.file_meta = FileMetaDataset()
    missing = "no TransferSyntaxUID in the file meta" if len(ds.file_meta) else "no file meta"
    ds.file_meta.TransferSyntaxUID = syntax
    return f"{missing}: transfer syntax inferred as {syntax.name}"
