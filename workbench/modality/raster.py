"""PNG, JPEG and TIFF images read through Pillow, with their stored values and upright orientation.

- Grey images keep their stored values: 8-bit as uint8, 16-bit (Pillow modes ``I;16``, ``I;16L``,
  ``I;16B``) as int32 with the same values, 32-bit integer and float as stored. Bilevel images contain 0
  and 1.
- Colour images become RGB or RGBA with 8 bits per sample. Palette, grey-with-alpha, CMYK, YCbCr, LAB and
  HSV images are converted by Pillow, and a note records the conversion. Pillow 13 reads colour and
  grey-with-alpha samples of 16 bits as 8 bits, so a PNG or TIFF that stores them raises a warning.
- Every page of a multi-page TIFF (and every frame of an animated PNG) becomes one frame, with axes
  ``frame,row,column`` and a trailing ``sample`` axis for colour. A JPEG keeps only its first picture.
- The EXIF Orientation tag (0x0112, TIFF tag 274) is applied with :func:`PIL.ImageOps.exif_transpose`, so
  rows and columns are as a viewer shows them, and a note names the transformation.
- Metadata contains technical fields only (format, mode, size, bits per sample, DPI, compression, the EXIF
  Orientation code). EXIF and PNG text fields such as Artist, ImageDescription, UserComment, GPS tags and
  ``tEXt`` chunks may name a person or a place and are never copied.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps, ImageSequence, TiffImagePlugin, UnidentifiedImageError

from workbench.errors import ImageError, NotFoundError, WorkbenchWarning
from workbench.modality.record import ImageRecord

#: Pillow format names read by :func:`read_raster`, with the record ``format`` for each. Pillow opens a
#: JPEG with extra pictures appended (as cameras write them) as format MPO.
PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg", "TIFF": "tiff"}

#: Formats passed to ``Image.open``. Pillow 13 registers no opener for MPO because its JPEG opener returns
#: MPO images itself.
PILLOW_OPEN_FORMATS = ["PNG", "JPEG", "TIFF"]

#: Transformation that makes the stored image upright, for each value of the EXIF Orientation tag (0x0112),
#: as Pillow 13's ``ImageOps.exif_transpose`` applies it.
EXIF_ORIENTATIONS = {
    2: "mirrored left to right",
    3: "rotated 180°",
    4: "mirrored top to bottom",
    5: "transposed (mirrored along the main diagonal)",
    6: "rotated 90° clockwise",
    7: "transversed (mirrored along the anti-diagonal)",
    8: "rotated 90° counter-clockwise",
}

# Pillow modes whose arrays are kept as they are, with their bits per sample and photometric
# interpretation. The 16-bit modes become int32 so that no later step can wrap them.
_KEPT_MODES = {
    "1": (1, "MONOCHROME2"),
    "L": (8, "MONOCHROME2"),
    "I;16": (16, "MONOCHROME2"),
    "I;16L": (16, "MONOCHROME2"),
    "I;16B": (16, "MONOCHROME2"),
    "I;16N": (16, "MONOCHROME2"),
    "I": (32, "MONOCHROME2"),
    "F": (32, "MONOCHROME2"),
    "RGB": (8, "RGB"),
    "RGBA": (8, "RGBA"),
}


def read_raster(source: str | Path | bytes) -> ImageRecord:
    """Read a PNG, JPEG or TIFF image, or every page of a multi-page TIFF, into a record.

    Parameters
    ----------
    source : str, pathlib.Path or bytes
        The image file or its bytes.

    Returns
    -------
    ImageRecord
        ``pixels`` with axes ``row,column`` (grey), ``row,column,sample`` (colour) or ``frame,...`` for
        several pages; ``coordinate_system`` ``pixel`` with no affine, as raster images carry no patient
        geometry.

    Raises
    ------
    NotFoundError
        The file does not exist.
    ImageError
        The input is not a PNG, JPEG or TIFF image, its data is truncated or corrupt, or its pages differ
        in size or mode.

    Warns
    -----
    WorkbenchWarning
        A colour or grey-with-alpha image stores more than 8 bits per sample, which Pillow reduces to 8.

    Examples
    --------
    >>> import io
    >>> import numpy as np
    >>> from PIL import Image
    >>> buffer = io.BytesIO()
    >>> Image.fromarray(np.array([[0, 1000, 65535]], dtype=np.uint16)).save(buffer, format="PNG")
    >>> read_raster(buffer.getvalue()).pixels.tolist()
    [[0, 1000, 65535]]
    """
    name, stream = _open_stream(source)
    try:
        with Image.open(stream, formats=PILLOW_OPEN_FORMATS) as image:
            pillow_format = str(image.format)
            frames, metadata, notes = _read_frames(image, name)
            stored_bits = _colour_bits_stored(image, stream)
    except ImageError:
        raise  # ImageError is a ValueError, which the last clause would take for a decoder failure.
    except UnidentifiedImageError as error:
        raise ImageError(f"{name}: not a PNG, JPEG or TIFF image that Pillow can identify",
                         source=name) from error
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(f"{name}: image data is truncated or corrupt ({type(error).__name__}); re-export "
                         "the image", source=name) from error

    if stored_bits is not None and stored_bits > 8:
        # NOTE: Pillow 13 has no mode for colour or grey-with-alpha samples wider than 8 bits, and keeps the
        # high byte only.
        message = f"{name}: samples of {stored_bits} bits were reduced to 8 bits by Pillow"
        warnings.warn(message, WorkbenchWarning, stacklevel=2)
        notes.append(message)
        metadata["bits_per_sample"] = stored_bits

    pixels = frames[0] if len(frames) == 1 else np.stack(frames)
    axes = "row,column" + (",sample" if frames[0].ndim == 3 else "")
    if len(frames) > 1:
        axes = "frame," + axes
    photometric = metadata.pop("photometric_interpretation")
    return ImageRecord(
        pixels=pixels, format=PILLOW_FORMATS[pillow_format], modality=None, units=None, spacing=None,
        direction=None, affine=None, coordinate_system="pixel", axes=axes, frame_count=len(frames),
        photometric_interpretation=photometric, metadata=metadata, notes=tuple(notes), source=name)


def _open_stream(source: str | Path | bytes) -> tuple[str, io.BytesIO | Path]:
    if isinstance(source, bytes | bytearray):
        return "<bytes>", io.BytesIO(bytes(source))
    path = Path(source)
    if not path.is_file():
        raise NotFoundError(f"{path.name}: no such image file", kind="file", key=path.name)
    return path.name, path


def _read_frames(image: Image.Image, name: str) -> tuple[list[np.ndarray], dict[str, Any], list[str]]:
    """Read every page (the first picture only for JPEG) upright, and check that the pages match."""
    notes: list[str] = []
    frames: list[np.ndarray] = []
    orientations: list[int] = []
    photometric = ""
    if image.format in ("JPEG", "MPO") and getattr(image, "n_frames", 1) > 1:
        notes.append(f"only the first of {image.n_frames} pictures in the JPEG file was read")
    pages = [image] if image.format in ("JPEG", "MPO") else ImageSequence.Iterator(image)

    for index, page in enumerate(pages):
        orientation = int(page.getexif().get(ExifTags.Base.Orientation, 1))
        upright = ImageOps.exif_transpose(page) if orientation in EXIF_ORIENTATIONS else page
        array, page_photometric, conversion = _to_array(upright)
        if frames and (array.shape != frames[0].shape or page_photometric != photometric):
            raise ImageError(f"{name}: page {index} has shape {array.shape} ({page_photometric}) but page 0 "
                             f"has {frames[0].shape} ({photometric}); save the pages as separate files",
                             source=name)
        if conversion and not frames:
            notes.append(conversion)
        frames.append(array)
        photometric = page_photometric
        orientations.append(orientation)

    for orientation in sorted(set(orientations) & set(EXIF_ORIENTATIONS)):
        notes.append(f"EXIF Orientation {orientation} applied: image {EXIF_ORIENTATIONS[orientation]}")
    # Metadata keeps the first page's EXIF Orientation. The notes name every orientation applied.
    metadata = _technical_metadata(image, frames, orientations[0])
    metadata["photometric_interpretation"] = photometric
    return frames, metadata, notes


def _to_array(image: Image.Image) -> tuple[np.ndarray, str, str | None]:
    """Return the pixels of one page, its photometric interpretation and a note when Pillow converted it."""
    mode = image.mode
    conversion = None
    if mode not in _KEPT_MODES:
        has_alpha = mode in ("LA", "La", "PA", "RGBa") or (mode == "P" and "transparency" in image.info)
        target = "RGBA" if has_alpha else "RGB"
        conversion = f"Pillow mode {mode} converted to {target}"
        image = image.convert(target)
        mode = target

    array = np.asarray(image)
    if mode == "1":
        array = array.astype(np.uint8)
    elif array.dtype.kind == "u" and array.dtype.itemsize == 2:
        array = array.astype(np.int32)
    return array, _KEPT_MODES[mode][1], conversion


def _technical_metadata(image: Image.Image, frames: list[np.ndarray], orientation: int) -> dict[str, Any]:
    """Collect size, mode, bits, DPI and compression. No EXIF or text field is read."""
    metadata: dict[str, Any] = {
        "pillow_format": image.format,
        "mode": image.mode,
        "rows": int(frames[0].shape[0]),
        "columns": int(frames[0].shape[1]),
        "page_count": len(frames),
        "bits_per_sample": _KEPT_MODES.get(image.mode, (8, ""))[0],
        "exif_orientation": orientation,
    }
    dpi = image.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2:
        metadata["dpi"] = [float(dpi[0]), float(dpi[1])]
    compression = image.info.get("compression")
    if isinstance(compression, str):
        metadata["compression"] = compression
    return metadata


def _colour_bits_stored(image: Image.Image, stream: io.BytesIO | Path) -> int | None:
    """Return the bits per sample stored in a colour or grey-with-alpha PNG or TIFF file.

    Pillow's mode does not show them, because it reads such images with 8 bits per sample whatever the file
    stores.
    """
    if image.mode in _KEPT_MODES and _KEPT_MODES[image.mode][1] == "MONOCHROME2":
        return None
    if isinstance(image, TiffImagePlugin.TiffImageFile):
        bits = image.tag_v2.get(258)  # BitsPerSample, one value per sample
        values = bits if isinstance(bits, tuple) else (bits,)
        return max((int(value) for value in values if isinstance(value, int)), default=None)
    if image.format == "PNG":
        if isinstance(stream, io.BytesIO):
            head = stream.getvalue()[:26]
        else:
            with stream.open("rb") as handle:
                head = handle.read(26)
        # The IHDR chunk follows the 8-byte signature, with the bit depth at byte 24 and the colour type at
        # byte 25. Colour types 2, 4 and 6 are RGB, grey with alpha, and RGBA.
        if len(head) == 26 and head[25] in (2, 4, 6):
            return int(head[24])
    return None
