"""The image record: one shape for every image format, with physical values, geometry and safe metadata.

Every loader (:mod:`~workbench.modality.dicom`, :mod:`~workbench.modality.series`,
:mod:`~workbench.modality.nifti`, :mod:`~workbench.modality.raster`) returns an :class:`ImageRecord`.

Conventions:

- ``pixels`` contains physical values where the format defines them: Hounsfield units for CT after
  RescaleSlope and RescaleIntercept, NIfTI values after scl_slope and scl_inter. Its dtype is signed or
  floating, never an unsigned type that a negative value would wrap around in. Axes are
  ``(frames or slices, rows, columns)`` for volumes and multi-frame objects, ``(rows, columns)`` for
  one grey image, with a trailing axis of 3 or 4 samples for colour. NIfTI volumes keep nibabel's
  ``(i, j, k)`` voxel order, and ``axes`` says which order applies.
- Geometry is stated with its coordinate system: DICOM's patient coordinates are ``LPS`` (x to the
  patient's left, y to the posterior, z to the head) and NIfTI's world coordinates are ``RAS``. Raster
  images have no patient geometry and use ``pixel``.
- ``metadata`` contains de-identified values only. Identifiers never reach a record; see
  :mod:`workbench.modality.deid`.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: Coordinate systems a record's ``affine`` maps voxel indices into.
COORDINATE_SYSTEMS = ("LPS", "RAS", "pixel")

#: Percentiles kept in the intensity statistics.
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True)
class IntensityStatistics:
    """Summary of the pixel values in physical units, NaNs left out."""

    count: int
    minimum: float | None
    maximum: float | None
    mean: float | None
    std: float | None
    percentiles: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, pixels: np.ndarray) -> IntensityStatistics:
        """Compute the statistics of ``pixels`` (any shape)."""
        values = np.asarray(pixels, dtype=np.float64).ravel()
        values = values[np.isfinite(values)]
        if values.size == 0:
            return cls(0, None, None, None, None, {})
        quantiles = np.percentile(values, PERCENTILES)
        return cls(int(values.size), float(values.min()), float(values.max()), float(values.mean()),
                   float(values.std()), {f"p{level}": float(value) for level, value in zip(PERCENTILES, quantiles,
                                                                                      strict=True)})

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "min": self.minimum, "max": self.maximum, "mean": self.mean, "std": self.std,
                **self.percentiles}


@dataclass(frozen=True, eq=False)
class ImageRecord:
    """One image, volume or multi-frame object, in physical units, with its geometry and safe metadata.

    Attributes
    ----------
    pixels : numpy.ndarray
        Values in physical units (see the module notes); signed or floating dtype.
    format : str
        ``dicom``, ``dicom-series``, ``nifti``, ``png``, ``jpeg`` or ``tiff``.
    modality : str or None
        DICOM Modality (``CT``, ``MR``, ...) when known.
    units : str or None
        ``HU`` for CT after rescale, the NIfTI or DICOM unit when declared, None when unknown.
    spacing : tuple of float or None
        Distance between sample centres in millimetres, in the order of ``pixels``' spatial axes.
    direction : numpy.ndarray or None
        3×3 direction cosines; column k is the direction of spatial axis k in ``coordinate_system``.
    affine : numpy.ndarray or None
        4×4 matrix from voxel indices to millimetres in ``coordinate_system``.
    coordinate_system : str
        ``LPS``, ``RAS`` or ``pixel``.
    axes : str
        Names of the axes of ``pixels``, such as ``"frame,row,column"`` or ``"i,j,k"``.
    frame_count : int
        Frames of a multi-frame object, slices of a series, volumes of a 4D NIfTI (the record then contains
        one of them), or pages of a TIFF; 1 otherwise.
    photometric_interpretation : str or None
        DICOM PhotometricInterpretation, or ``MONOCHROME2`` / ``RGB`` / ``RGBA`` for raster images.
    metadata : dict
        De-identified header values (pseudonyms, shifted dates, acquisition settings).
    statistics : IntensityStatistics
        Summary of ``pixels``.
    notes : tuple of str
        Facts a user should know, such as a missing file meta or a localizer left out.
    source : str or None
        File name (never a path that could contain an identifier) or ``"<bytes>"``.
    """

    pixels: np.ndarray
    format: str
    modality: str | None = None
    units: str | None = None
    spacing: tuple[float, ...] | None = None
    direction: np.ndarray | None = None
    affine: np.ndarray | None = None
    coordinate_system: str = "pixel"
    axes: str = "row,column"
    frame_count: int = 1
    photometric_interpretation: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    statistics: IntensityStatistics | None = None
    notes: tuple[str, ...] = ()
    source: str | None = None

    def __post_init__(self) -> None:
        if self.coordinate_system not in COORDINATE_SYSTEMS:
            raise ValueError(f"coordinate_system {self.coordinate_system!r} is not one of {COORDINATE_SYSTEMS}")
        if self.pixels.dtype.kind == "u" and self.pixels.dtype.itemsize >= 2:
            # Unsigned 16-bit and wider types wrap negative physical values around; 8-bit raster images
            # have no negative values and may stay uint8.
            object.__setattr__(self, "pixels", self.pixels.astype(np.int32 if self.pixels.dtype.itemsize == 2
                                                                   else np.int64))
        if self.statistics is None:
            object.__setattr__(self, "statistics", IntensityStatistics.of(self.pixels))

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.pixels.shape)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values without the pixels (see :meth:`thumbnail_png` for a picture)."""
        return {
            "format": self.format,
            "modality": self.modality,
            "units": self.units,
            "shape": list(self.shape),
            "dtype": str(self.pixels.dtype),
            "axes": self.axes,
            "spacing": None if self.spacing is None else [float(value) for value in self.spacing],
            "direction": None if self.direction is None else np.asarray(self.direction, dtype=float).tolist(),
            "affine": None if self.affine is None else np.asarray(self.affine, dtype=float).tolist(),
            "coordinate_system": self.coordinate_system,
            "frame_count": self.frame_count,
            "photometric_interpretation": self.photometric_interpretation,
            "metadata": _json_ready(self.metadata),
            "statistics": self.statistics.to_dict() if self.statistics else None,
            "notes": list(self.notes),
            "source": self.source,
        }

    def thumbnail_png(self, *, size: int = 256, window: tuple[float, float] | None = None) -> bytes:
        """Return a PNG thumbnail of the middle frame or slice."""
        return to_png(middle_plane(self.pixels, self.axes), size=size, window=window)

    def montage_png(self, *, tiles: int = 16, size: int = 512, window: tuple[float, float] | None = None) -> bytes:
        """Return a PNG montage of up to ``tiles`` evenly spaced frames or slices."""
        planes = sample_planes(self.pixels, self.axes, tiles)
        return to_png(tile(planes), size=size, window=window)


def middle_plane(pixels: np.ndarray, axes: str) -> np.ndarray:
    """Return the 2D plane (or colour image) in the middle of the stacking axis."""
    planes = sample_planes(pixels, axes, 1)
    return planes[0]


def sample_planes(pixels: np.ndarray, axes: str, count: int) -> list[np.ndarray]:
    """Return up to ``count`` evenly spaced 2D planes along the stacking axis of ``pixels``."""
    names = axes.split(",")
    colour = names[-1] == "sample"
    spatial = pixels.ndim - (1 if colour else 0)
    if spatial <= 2:
        return [pixels]
    # NIfTI volumes stack along their last spatial axis (k); DICOM stacks frames or slices first.
    stack_axis = spatial - 1 if names[0] == "i" else 0
    length = pixels.shape[stack_axis]
    indices = sorted({int(value) for value in np.rint(np.linspace(0, length - 1, min(count, length)))})
    if count == 1:
        indices = [length // 2]
    planes = [np.take(pixels, index, axis=stack_axis) for index in indices]
    if names[0] == "i":
        # Show i,j planes with rows top to bottom along j, as viewers do.
        planes = [np.rot90(plane) for plane in planes]
    return planes


def tile(planes: list[np.ndarray]) -> np.ndarray:
    """Arrange equally shaped planes in a near-square grid; empty cells are NaN."""
    columns = math.ceil(math.sqrt(len(planes)))
    rows = math.ceil(len(planes) / columns)
    height, width = planes[0].shape[:2]
    extra = planes[0].shape[2:]
    grid = np.full((rows * height, columns * width, *extra), np.nan)
    for index, plane in enumerate(planes):
        row, column = divmod(index, columns)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = plane
    return grid


def to_png(plane: np.ndarray, *, size: int, window: tuple[float, float] | None = None) -> bytes:
    """Return ``plane`` as PNG bytes, scaled into 8 bits through ``window`` (default: 1st to 99th percentile)."""
    from PIL import Image

    values = np.asarray(plane, dtype=np.float64)
    finite = values[np.isfinite(values)]
    if window is None:
        low, high = (np.percentile(finite, [1, 99]) if finite.size else (0.0, 1.0))
    else:
        low, high = window
    if high <= low:
        high = low + 1.0
    scaled = np.clip((values - low) / (high - low), 0.0, 1.0)
    scaled = np.nan_to_num(scaled, nan=0.0)
    image = Image.fromarray((scaled * 255).round().astype(np.uint8))
    image.thumbnail((size, size))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _json_ready(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(key): _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
