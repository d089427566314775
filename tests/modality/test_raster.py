"""PNG, JPEG and TIFF reading: stored values, pages as frames, EXIF orientation, no EXIF text."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, PngImagePlugin

from workbench.errors import ImageError, NotFoundError, WorkbenchWarning
from workbench.modality.raster import read_raster

GREY_16 = np.array([[0, 1000], [40000, 65535]], dtype=np.uint16)


def encode(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def exif_with_text(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = "Test^Alpha"
    exif[ExifTags.Base.ImageDescription] = "ANON0001"
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    return exif


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_raster_grey_png_values_exact() -> None:
    grey = np.array([[0, 17, 255], [128, 64, 1]], dtype=np.uint8)

    record = read_raster(encode(Image.fromarray(grey), "PNG"))

    assert np.array_equal(record.pixels, grey)
    assert record.axes == "row,column"
    assert record.photometric_interpretation == "MONOCHROME2"
    assert record.format == "png"
    assert record.coordinate_system == "pixel"


def test_raster_16_bit_png_values_exact() -> None:
    image = Image.fromarray(GREY_16)
    assert image.mode == "I;16"

    record = read_raster(encode(image, "PNG"))

    assert np.array_equal(record.pixels, GREY_16)
    assert record.pixels.dtype == np.int32
    assert record.metadata["bits_per_sample"] == 16


def test_raster_16_bit_tiff_values_exact() -> None:
    record = read_raster(encode(Image.fromarray(GREY_16), "TIFF"))

    assert np.array_equal(record.pixels, GREY_16)
    assert record.format == "tiff"


def test_raster_rgb_jpeg_shape() -> None:
    colour = np.random.default_rng(5).integers(0, 256, size=(5, 7, 3), dtype=np.uint8)

    record = read_raster(encode(Image.fromarray(colour), "JPEG"))

    assert record.shape == (5, 7, 3)
    assert record.pixels.dtype == np.uint8
    assert record.axes == "row,column,sample"
    assert record.photometric_interpretation == "RGB"
    assert record.format == "jpeg"


def test_raster_rgba_png_keeps_alpha() -> None:
    colour = np.zeros((2, 3, 4), dtype=np.uint8)
    colour[..., 3] = 200

    record = read_raster(encode(Image.fromarray(colour), "PNG"))

    assert record.photometric_interpretation == "RGBA"
    assert np.array_equal(record.pixels, colour)


def test_raster_palette_png_converted_to_rgb() -> None:
    image = Image.fromarray(np.array([[0, 255]], dtype=np.uint8)).convert("P")

    record = read_raster(encode(image, "PNG"))

    assert record.photometric_interpretation == "RGB"
    assert record.pixels[0, 1].tolist() == [255, 255, 255]
    assert "Pillow mode P converted to RGB" in record.notes


def test_raster_multipage_tiff_frames(tmp_path: Path) -> None:
    pages = [np.arange(6, dtype=np.uint8).reshape(2, 3) + 10 * index for index in range(3)]
    path = tmp_path / "pages.tiff"
    images = [Image.fromarray(page) for page in pages]
    images[0].save(path, format="TIFF", save_all=True, append_images=images[1:])

    record = read_raster(path)

    assert record.shape == (3, 2, 3)
    assert record.frame_count == 3
    assert record.axes == "frame,row,column"
    assert np.array_equal(record.pixels, np.stack(pages))
    assert record.source == "pages.tiff"


def test_raster_multipage_tiff_of_mixed_sizes_rejected() -> None:
    images = [Image.fromarray(np.zeros((2, 3), np.uint8)), Image.fromarray(np.zeros((4, 3), np.uint8))]
    data = encode(images[0], "TIFF", save_all=True, append_images=images[1:])

    with pytest.raises(ImageError, match="page 1 has shape"):
        read_raster(data)


def test_raster_exif_orientation_6_rotates_clockwise() -> None:
    stored = np.zeros((2, 4, 3), dtype=np.uint8)
    stored[0, 0] = [255, 0, 0]

    record = read_raster(encode(Image.fromarray(stored), "PNG", exif=exif_with_text(orientation=6)))

    # Orientation 6: the stored image is shown rotated 90° clockwise, so the top-left pixel moves to the
    # top-right and 2 rows by 4 columns become 4 rows by 2 columns.
    assert record.shape == (4, 2, 3)
    assert np.array_equal(record.pixels, np.rot90(stored, k=-1))
    assert record.metadata["exif_orientation"] == 6
    assert "EXIF Orientation 6 applied: image rotated 90° clockwise" in record.notes


def test_raster_exif_text_never_in_record() -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Author", "Test^Alpha")
    grey = Image.fromarray(np.zeros((2, 2), np.uint8))
    inputs = [
        encode(grey.convert("RGB"), "JPEG", exif=exif_with_text(orientation=3)),
        encode(grey, "PNG", exif=exif_with_text(), pnginfo=text),
        encode(grey, "TIFF", exif=exif_with_text()),
    ]

    for data in inputs:
        record = read_raster(data)
        stored = json.dumps(record.to_dict()) + repr(record.metadata) + repr(record.notes)
        assert "Test^Alpha" not in stored
        assert "ANON0001" not in stored


def test_raster_16_bit_rgb_png_warns_of_reduction() -> None:
    samples = np.array([[[1000, 2000, 65535], [0, 1, 2]]], dtype=">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in samples)
    # IHDR: width 2, height 1, bit depth 16, colour type 2 (RGB), deflate, no filter, no interlace.
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 16, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))

    with pytest.warns(WorkbenchWarning, match="samples of 16 bits were reduced to 8 bits"):
        record = read_raster(data)

    # Pillow keeps the high byte: 1000 >> 8 = 3, 2000 >> 8 = 7, 65535 >> 8 = 255.
    assert record.pixels[0, 0].tolist() == [3, 7, 255]
    assert record.metadata["bits_per_sample"] == 16


def test_raster_text_bytes_rejected() -> None:
    with pytest.raises(ImageError, match="not a PNG, JPEG or TIFF image"):
        read_raster(b"Plain English text that no image library would identify.\n")


def test_raster_truncated_png_rejected() -> None:
    data = encode(Image.fromarray(np.zeros((64, 64), np.uint8)), "PNG")

    with pytest.raises(ImageError, match="truncated or corrupt"):
        read_raster(data[:60])


def test_raster_missing_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="absent.png: no such image file"):
        read_raster(tmp_path / "absent.png")
