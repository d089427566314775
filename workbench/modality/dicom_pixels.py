"""Decoding of DICOM pixel data and the Modality LUT that turns stored values into physical units.

Decoding goes through pydicom 3's decoders. For compressed transfer syntaxes the pylibjpeg plugin is
used whenever it is installed, so the same decoder produces the pixels on every machine (lossy JPEG
decoders differ by a grey level here and there). A missing decoder, a corrupt stream or a decoder that
reports a partial image raises :class:`~workbench.errors.PixelDecodeError`, and no array is returned
in its place.

Which corrupt streams are caught, as measured with pydicom 3.0.2, pylibjpeg-libjpeg 2.5,
pylibjpeg-openjpeg 2.6 and Pillow 13:

- Invalid markers or headers make the decoder raise.
- A JPEG or JPEG-LS stream cut short decodes without any error or warning, the missing rows filled with
  grey. JPEG, JPEG-LS and JPEG 2000 codestreams end with the marker FFD9 (EOI, or EOC for JPEG 2000), so
  every frame is checked to end with it before decoding.
- Pillow, pydicom's fallback for JPEG baseline and JPEG 2000, does the same without a warning when
  ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is set, so it is never used then.

NOTE: a stream damaged in the middle that still ends with FFD9 is caught only when the decoder raises.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

import numpy as np
from pydicom import uid as dicom_uid
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels import apply_color_lut, apply_modality_lut, get_decoder

from workbench.errors import ImageError, PixelDecodeError
from workbench.modality.dicom_geometry import functional_group_item

#: Package sets that provide a decoder for each compressed transfer syntax, as pip arguments.
_LIBJPEG = "pylibjpeg pylibjpeg-libjpeg"
_OPENJPEG = "pylibjpeg pylibjpeg-openjpeg"
INSTALL_HINTS: dict[str, str] = {
    dicom_uid.JPEGBaseline8Bit: _LIBJPEG,
    dicom_uid.JPEGExtended12Bit: _LIBJPEG,
    dicom_uid.JPEGLossless: _LIBJPEG,
    dicom_uid.JPEGLosslessSV1: _LIBJPEG,
    dicom_uid.JPEGLSLossless: _LIBJPEG,
    dicom_uid.JPEGLSNearLossless: _LIBJPEG,
    dicom_uid.JPEG2000Lossless: _OPENJPEG,
    dicom_uid.JPEG2000: _OPENJPEG,
    dicom_uid.HTJ2KLossless: _OPENJPEG,
    dicom_uid.HTJ2KLosslessRPCL: _OPENJPEG,
    dicom_uid.HTJ2K: _OPENJPEG,
    dicom_uid.RLELossless: "pylibjpeg pylibjpeg-rle",
}

#: Transfer syntaxes whose codestreams end with the marker FFD9.
_FFD9_TERMINATED = frozenset(syntax for syntax, packages in INSTALL_HINTS.items() if packages in (_LIBJPEG, _OPENJPEG))

#: Warnings from a decoder that mean the returned image is incomplete, so it must not be used.
_PARTIAL_IMAGE_WARNING = re.compile(r"truncat|partial|premature|incomplete|corrupt|insufficient", re.IGNORECASE)

#: Values the Modality LUT output is stored in: ``int32`` when every value is an integer in its range.
_INT32_RANGE = (np.iinfo(np.int32).min, np.iinfo(np.int32).max)


@dataclass(frozen=True)
class DecodedPixels:
    """Stored pixel values as decoded, before the Modality LUT.

    Attributes
    ----------
    array : numpy.ndarray
        Shaped (rows, columns), (frames, rows, columns), with a trailing axis of samples for colour.
    photometric_interpretation : str
        PhotometricInterpretation of ``array``: ``RGB`` after pydicom converted YBR colour or a palette
        was applied, the dataset's value otherwise.
    notes : tuple of str
        Colour conversions and decoder warnings that did not make the image unusable.
    """

    array: np.ndarray
    photometric_interpretation: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PhysicalPixels:
    """Pixel values after the Modality LUT, with their unit."""

    array: np.ndarray
    units: str | None
    notes: tuple[str, ...] = ()


def transfer_syntax_label(transfer_syntax: str) -> str:
    """Return a transfer syntax as ``UID (name)``, such as ``1.2.840.10008.1.2.5 (RLE Lossless)``."""
    syntax = dicom_uid.UID(transfer_syntax)
    return f"{syntax} ({syntax.name})" if syntax.name != str(syntax) else str(syntax)


def decode_pixels(ds: Dataset, source: str) -> DecodedPixels:
    """Decode the pixel data of ``ds`` into stored values, converting YBR and palette colour to RGB.

    Parameters
    ----------
    ds : pydicom.dataset.Dataset
        A dataset with PixelData (or FloatPixelData, DoubleFloatPixelData) and a file meta
        TransferSyntaxUID.
    source : str
        Base name of the file, for messages.

    Raises
    ------
    PixelDecodeError
        If no decoder for the transfer syntax is installed, and then the message names the pip packages
        to install. Also if the stream is corrupt or truncated, the pixel data is shorter than the Image
        Pixel module states, or the decoder warns that its output is incomplete.
    """
    file_meta = getattr(ds, "file_meta", None)
    syntax = file_meta.get("TransferSyntaxUID") if file_meta is not None else None
    if syntax is None:
        raise ImageError(f"{source} has no TransferSyntaxUID, so its pixel data cannot be decoded", source=source)
    label = transfer_syntax_label(syntax)
    plugin = _choose_plugin(syntax, label, source)
    if syntax in _FFD9_TERMINATED:
        _require_end_markers(ds, label, source)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            array, properties = get_decoder(syntax).as_array(ds, decoding_plugin=plugin, as_rgb=True)
        except (AttributeError, KeyError) as exc:
            raise PixelDecodeError(
                f"{source}: the Image Pixel module is incomplete, so the pixel data cannot be decoded: "
                f"{_one_line(exc)}. Add the missing element to the header.",
                source=source, transfer_syntax=label) from exc
        except (RuntimeError, ValueError, NotImplementedError) as exc:
            raise PixelDecodeError(
                f"{source}: the pixel data in transfer syntax {label} could not be decoded: {_one_line(exc)}. The "
                f"stream is corrupt or truncated, or uses a feature the installed decoder does not support.",
                source=source, transfer_syntax=label) from exc

    notes = []
    for warning in caught:
        message = str(warning.message)
        if _PARTIAL_IMAGE_WARNING.search(message):
            raise PixelDecodeError(
                f"{source}: the decoder for transfer syntax {label} returned an incomplete image ({message}).",
                source=source, transfer_syntax=label)
        notes.append(f"pixel decoding: {message}")

    stored_interpretation = str(ds.get("PhotometricInterpretation", ""))
    interpretation = str(properties.get("photometric_interpretation", stored_interpretation))
    if interpretation != stored_interpretation:
        notes.append(f"colour converted from {stored_interpretation} to {interpretation}")
    if interpretation == "PALETTE COLOR":
        array = apply_color_lut(array, ds)
        interpretation = "RGB"
        notes.append("PALETTE COLOR indices mapped to RGB through the palette colour lookup table")
    return DecodedPixels(array, interpretation, tuple(notes))


def to_physical(ds: Dataset, decoded: DecodedPixels, frame_count: int) -> PhysicalPixels:
    """Apply the Modality LUT (DICOM PS3.3 C.11.1) to greyscale pixels, frame by frame when needed.

    Sources, in order of precedence:

    1. for each frame of an enhanced object, its Pixel Value Transformation functional group, else the
       shared one (PS3.3 Table C.7.6.16-10),
    2. RescaleSlope and RescaleIntercept at the top level,
    3. a Modality LUT Sequence.

    The output value is ``stored × RescaleSlope + RescaleIntercept``, computed in float64.

    The result's dtype follows one rule: ``int32`` when every value is an integer that fits it, else
    ``float32`` when every value converts to float32 unchanged, else ``float64``. A value is therefore
    never wrapped around an unsigned type and never rounded. Colour pixels (more than one sample) have
    no Modality LUT and keep their decoded integer type, which ImageRecord turns signed from 16 bits up.

    The unit is the RescaleType or ModalityLUTType when one is given and not ``US`` (unspecified),
    ``HU`` for CT, whose rescaled values are Hounsfield units (PS3.3 C.11.1.1.2, and C.8.15.3.10 for
    enhanced CT), the Units attribute for PET, and None otherwise.
    """
    if decoded.array.ndim > (3 if frame_count > 1 else 2):
        return PhysicalPixels(decoded.array, None, ())

    modality = str(ds.get("Modality", ""))
    rescales = frame_rescales(ds, frame_count)
    notes: list[str] = []
    if rescales is not None:
        slopes = np.array([slope for slope, _, _ in rescales], dtype=np.float64)
        intercepts = np.array([intercept for _, intercept, _ in rescales], dtype=np.float64)
        if frame_count > 1:
            slopes, intercepts = slopes[:, None, None], intercepts[:, None, None]
        else:
            slopes, intercepts = slopes[0], intercepts[0]
        values = decoded.array.astype(np.float64) * slopes + intercepts
        declared = {kind for _, _, kind in rescales if kind}
    elif ds.get("ModalityLUTSequence"):
        values = apply_modality_lut(decoded.array, ds).astype(np.float64)
        declared = {str(ds.ModalityLUTSequence[0].get("ModalityLUTType", ""))} - {""}
    else:
        values = decoded.array
        declared = set()
        if modality == "CT":
            notes.append("CT without RescaleSlope and RescaleIntercept: values are stored values, not HU")

    units = _units(ds, modality, declared, transformed=rescales is not None or bool(ds.get("ModalityLUTSequence")))
    if decoded.photometric_interpretation == "MONOCHROME1":
        notes.append("MONOCHROME1: low values are meant to display white. The values are not inverted, "
                     "so invert the grey scale when displaying them")
    return PhysicalPixels(compact_dtype(values), units, tuple(notes))


def frame_rescales(ds: Dataset, frame_count: int) -> list[tuple[float, float, str]] | None:
    """Return (RescaleSlope, RescaleIntercept, RescaleType) for each frame, or None when none is declared.

    A frame without a Pixel Value Transformation item falls back to the top-level attributes, and a
    missing slope or intercept to 1 or 0.
    """
    enhanced = "PerFrameFunctionalGroupsSequence" in ds or "SharedFunctionalGroupsSequence" in ds
    rescales = []
    for index in range(frame_count):
        item = functional_group_item(ds, "PixelValueTransformationSequence", index) if enhanced else None
        if item is None or ("RescaleSlope" not in item and "RescaleIntercept" not in item):
            item = ds
        if "RescaleSlope" not in item and "RescaleIntercept" not in item:
            rescales.append(None)
            continue
        slope = float(item.get("RescaleSlope", 1.0) or 1.0)
        intercept = float(item.get("RescaleIntercept", 0.0) or 0.0)
        rescales.append((slope, intercept, str(item.get("RescaleType", "") or "")))
    if all(rescale is None for rescale in rescales):
        return None
    return [rescale or (1.0, 0.0, "") for rescale in rescales]


def compact_dtype(values: np.ndarray) -> np.ndarray:
    """Return ``values`` as int32, float32 or float64, whichever represents every value exactly (int32 first)."""
    if values.size == 0:
        return values.astype(np.int32)
    if values.dtype.kind in "iu":
        low, high = int(values.min()), int(values.max())
        if _INT32_RANGE[0] <= low and high <= _INT32_RANGE[1]:
            return values.astype(np.int32)
        return values.astype(np.float64)

    values = values.astype(np.float64, copy=False)
    integral = bool(np.all(np.isfinite(values))) and bool(np.all(values == np.trunc(values)))
    if integral and _INT32_RANGE[0] <= values.min() and values.max() <= _INT32_RANGE[1]:
        return values.astype(np.int32)
    as_float32 = values.astype(np.float32)
    if np.array_equal(as_float32.astype(np.float64), values, equal_nan=True):
        return as_float32
    return values


def _choose_plugin(syntax: str, label: str, source: str) -> str:
    """Return the pydicom decoding plugin to use for ``syntax``, or an empty string to let pydicom choose."""
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError as exc:
        raise PixelDecodeError(
            f"{source}: pydicom has no decoder for transfer syntax {label}. Convert the file to an "
            "uncompressed transfer syntax (for example with dcmdjpeg or gdcmconv --raw) and read it again.",
            source=source, transfer_syntax=label) from exc
    if decoder.is_native:
        return ""

    hint = INSTALL_HINTS.get(str(syntax), "pylibjpeg")
    available = decoder.available_plugins
    usable = [name for name in available if not (name == "pillow" and _pillow_loads_truncated_images())]
    if not usable:
        found = f" (available but unsafe here: {', '.join(available)})" if available else ""
        raise PixelDecodeError(
            f"{source}: no decoder for transfer syntax {label} is installed{found}. "
            f"Install one with: pip install {hint}",
            source=source, transfer_syntax=label)
    if "pylibjpeg" in usable:
        return "pylibjpeg"
    return "" if len(usable) == len(available) else usable[0]


def _require_end_markers(ds: Dataset, label: str, source: str) -> None:
    """Raise unless every frame's codestream ends with FFD9, after padding bytes 00 and one FF."""
    frame_count = int(ds.get("NumberOfFrames", 1) or 1)
    offsets = ds.get("ExtendedOffsetTable"), ds.get("ExtendedOffsetTableLengths")
    try:
        frames = list(generate_frames(ds.PixelData, number_of_frames=frame_count,
                                      extended_offsets=offsets if None not in offsets else None))
    except (ValueError, KeyError, TypeError):
        return  # The decoder reports a broken encapsulation in its own words.
    for index, frame in enumerate(frames):
        tail = frame.rstrip(b"\x00")
        if tail.endswith(b"\xff"):
            tail = tail[:-1]
        if not tail.endswith(b"\xff\xd9"):
            raise PixelDecodeError(
                f"{source}: frame {index + 1} of the pixel data in transfer syntax {label} does not end with the "
                "end marker FFD9, so the stream is truncated. Copy the file again from its source.",
                source=source, transfer_syntax=label)


def _one_line(exc: Exception) -> str:
    """Return an exception's message on one line, without pydicom's line breaks and indents."""
    return " ".join(str(exc).split()).rstrip(".")


def _pillow_loads_truncated_images() -> bool:
    try:
        from PIL import ImageFile
    except ImportError:
        return False
    return bool(getattr(ImageFile, "LOAD_TRUNCATED_IMAGES", False))


def _units(ds: Dataset, modality: str, declared: set[str], *, transformed: bool) -> str | None:
    specific = sorted(declared - {"US"})
    if specific:
        return specific[0] if len(specific) == 1 else "/".join(specific)
    if modality == "CT" and transformed:
        return "HU"
    if modality == "PT" and ds.get("Units"):
        return str(ds.Units)
    return None
