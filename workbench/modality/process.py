"""One entry point for every image format: detect the format, read the file and return an ImageRecord.

Detection looks at the content first and the name second, in this order:

1. a directory is a DICOM series, read by :func:`workbench.modality.series.read_volume`;
2. ``DICM`` at byte 128 (after the 128-byte preamble) is DICOM Part 10 (PS3.10 section 7.1);
3. a ``.nii`` or ``.nii.gz`` name, or the NIfTI magic (``n+1``/``ni1`` at byte 344 of a NIfTI-1 header,
   ``n+2``/``ni2`` at byte 4 of a NIfTI-2 header, looked up after gunzipping when the data is gzipped), is
   NIfTI;
4. an image that Pillow identifies as PNG, JPEG or TIFF is a raster image;
5. anything else goes to the DICOM reader as a raw dataset with no preamble and no file meta, which
   rejects input that does not start with valid data elements.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image, UnidentifiedImageError

from workbench.errors import ImageError, NotDicomError, NotFoundError, ValidationError
from workbench.modality.raster import PILLOW_OPEN_FORMATS, read_raster
from workbench.modality.record import ImageRecord

if TYPE_CHECKING:
    from workbench.modality.dicom import DatasetDeidentifier

#: Formats that :func:`process_image` reads, for messages.
ACCEPTED_FORMATS = ("DICOM file or raw dataset (.dcm)", "DICOM series directory", "NIfTI (.nii, .nii.gz, .hdr)",
                    "PNG", "JPEG", "TIFF")

#: File name suffixes that claim DICOM, so that content which is not DICOM is reported as "not DICOM".
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")

# Bytes needed to see a DICOM preamble (132) and the larger NIfTI-2 header (540 plus 4 extension bytes).
_HEAD_SIZE = 544

# DICOM Modality is a code string: upper-case letters, digits, space and underscore, at most 16 characters
# (VR CS in DICOM PS3.5 Table 6.2-1).
_MODALITY_PATTERN = re.compile(r"[A-Z0-9_ ]{1,16}")


def process_image(path_or_bytes: str | Path | bytes, modality: str | None = None,
                  text_report: str | None = None, *,
                  deidentifier: DatasetDeidentifier | None = None, allow_gaps: bool = False) -> ImageRecord:
    """Read a DICOM file or series, a NIfTI file or a PNG, JPEG or TIFF image into an :class:`ImageRecord`.

    Parameters
    ----------
    path_or_bytes : str, pathlib.Path or bytes
        A file, a directory holding one DICOM series, or the bytes of one file.
    modality : str, optional
        DICOM Modality code (``CT``, ``MR``, ...) to store in the record. It fills in the modality of
        formats that carry none (NIfTI, raster images) and replaces the header's value when they differ, in
        which case a note records both.
    text_report : str, optional
        The radiology report that goes with the image. Reports are processed separately: the record keeps
        only ``metadata["text_report_chars"]``, the report's length in characters, and never its text.
    deidentifier : DatasetDeidentifier, optional
        Produces the metadata of DICOM files and series. Defaults to the process-wide
        :func:`~workbench.modality.dicom.default_deidentifier`. Pass one built with an explicit salt to get
        the same pseudonyms in several processes.
    allow_gaps : bool
        For a DICOM series folder: fill missing slices with NaN, with a note, instead of raising
        :class:`~workbench.errors.SeriesError`.

    Returns
    -------
    ImageRecord
        The record from the reader of the detected format (see the module notes for the detection order).

    Raises
    ------
    NotFoundError
        The path does not exist.
    ValidationError
        ``modality`` is not a DICOM code string, or ``text_report`` is not a string.
    ImageError
        The format is not one of :data:`ACCEPTED_FORMATS`, or the reader of the detected format failed.
    """
    given_modality = _checked_modality(modality)
    if text_report is not None and not isinstance(text_report, str):
        raise ValidationError(f"text_report must be a string or None, got {type(text_report).__name__}",
                              field="text_report", value=type(text_report).__name__)

    record = _read(path_or_bytes, deidentifier, allow_gaps)

    notes = list(record.notes)
    metadata = dict(record.metadata)
    if given_modality is not None and record.modality not in (None, given_modality):
        notes.append(f"modality {given_modality} was given but the header has Modality {record.modality}; "
                     f"{given_modality} is used")
    if text_report is not None:
        metadata["text_report_chars"] = len(text_report)
    return dataclasses.replace(record, modality=given_modality or record.modality, metadata=metadata,
                               notes=tuple(notes))


def detect_format(path_or_bytes: str | Path | bytes) -> str | None:
    """Return ``"dicom-series"``, ``"dicom"``, ``"nifti"`` or ``"raster"``, or None when no check matches.

    None means the input may still be a raw DICOM dataset with no preamble, which only the DICOM reader
    can tell apart from other data.

    Examples
    --------
    >>> detect_format(bytes(128) + b"DICM")
    'dicom'

    Raises
    ------
    NotFoundError
        The path does not exist.
    """
    if isinstance(path_or_bytes, bytes | bytearray):
        name, head = "", bytes(path_or_bytes[:_HEAD_SIZE])
    else:
        path = Path(path_or_bytes)
        if not path.exists():
            raise NotFoundError(f"{path.name}: no such file or directory", kind="file", key=path.name)
        if path.is_dir():
            return "dicom-series"
        name, head = path.name.lower(), _head_of_file(path)

    if head[128:132] == b"DICM":
        return "dicom"
    if name.endswith((".nii", ".nii.gz")) or _has_nifti_magic(_gunzipped(head, path_or_bytes)):
        return "nifti"
    if _pillow_identifies(path_or_bytes):
        return "raster"
    return None


def _read(source: str | Path | bytes, deidentifier: DatasetDeidentifier | None,
          allow_gaps: bool = False) -> ImageRecord:
    """Detect the format of ``source`` and call its reader."""
    detected = detect_format(source)
    # The DICOM readers fall back to the process-wide de-identifier when none is passed.
    dicom_options = {} if deidentifier is None else {"deidentifier": deidentifier}
    if detected == "dicom-series":
        from workbench.modality.series import read_volume

        return read_volume(source, **dicom_options, **({"allow_gaps": True} if allow_gaps else {}))
    if detected == "nifti":
        from workbench.modality.nifti import read_nifti

        return read_nifti(source)
    if detected == "raster":
        return read_raster(source)

    from workbench.modality.dicom import read_dicom

    try:
        return read_dicom(source, **dicom_options)
    except NotDicomError as error:
        name = "<bytes>" if isinstance(source, bytes | bytearray) else Path(source).name
        if Path(name).suffix.lower() in DICOM_SUFFIXES:
            # A file named as DICOM that is not DICOM gets the DICOM reader's own, more precise error.
            raise
        raise ImageError(f"{name}: format not recognised; accepted formats are {', '.join(ACCEPTED_FORMATS)}",
                         source=name) from error


def _checked_modality(modality: str | None) -> str | None:
    if modality is None:
        return None
    code = modality.strip().upper() if isinstance(modality, str) else ""
    if not _MODALITY_PATTERN.fullmatch(code):
        raise ValidationError(f"modality must be a DICOM Modality code such as CT or MR (letters, digits, "
                              f"space or underscore, at most 16), got {modality!r}", field="modality",
                              value=modality)
    return code


def _head_of_file(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(_HEAD_SIZE)


def _gunzipped(head: bytes, source: str | Path | bytes) -> bytes:
    """Return the first bytes after decompression when ``head`` starts a gzip stream, else ``head``."""
    if head[:2] != b"\x1f\x8b":
        return head
    try:
        if isinstance(source, bytes | bytearray):
            with gzip.GzipFile(fileobj=io.BytesIO(source)) as stream:
                return stream.read(_HEAD_SIZE)
        with gzip.open(source, "rb") as stream:
            return stream.read(_HEAD_SIZE)
    except (OSError, EOFError, zlib.error):
        return b""


def _has_nifti_magic(head: bytes) -> bool:
    """Check the NIfTI-1 magic at byte 344 and the NIfTI-2 magic at byte 4 (nifti1.h, nifti2.h)."""
    if head[344:348] in (b"n+1\x00", b"ni1\x00"):
        return True
    return head[4:12] in (b"n+2\x00\r\n\x1a\n", b"ni2\x00\r\n\x1a\n")


def _pillow_identifies(source: str | Path | bytes) -> bool:
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        with Image.open(stream, formats=PILLOW_OPEN_FORMATS):
            return True
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return False
