"""Patient geometry of DICOM images: image planes, pixel spacing, direction cosines and affines in LPS.

DICOM places every image plane in the patient coordinate system, LPS: x grows to the patient's left,
y to the posterior and z to the head. DICOM PS3.3 C.7.6.2.1.1 gives the centre of the pixel in
column ``c`` and row ``r`` as

    P(r, c) = S + X · Δc · c + Y · Δr · r

where

- ``S`` is ImagePositionPatient, the centre of the first pixel sent,
- ``X`` is the first triplet of ImageOrientationPatient, the row direction cosine, which points the way
  the column index grows,
- ``Y`` is the second triplet, the column direction cosine, which points the way the row index grows,
- ``Δr`` is the first value of PixelSpacing (between row centres) and ``Δc`` the second (between
  column centres).

The slice normal is ``N = X × Y``.

The affines built here follow the order of the pixel array's axes, so ``affine @ (k, r, c, 1)`` is the
centre of voxel ``pixels[k, r, c]`` for a stack of frames or slices. A single plane has the array axes
``(row, column)``, and its affine takes ``(r, c, 0, 1)``, whose third index is a through-plane index
that is always 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

#: Largest deviation of a direction cosine's length from 1, and of the dot product of the row and column
#: cosines from 0, that is still read as an orthonormal orientation. ImageOrientationPatient is a DS
#: value of at most 16 characters, so rounding stays far below this.
ORIENTATION_TOLERANCE = 1e-3

#: Two steps between frame or slice positions count as equal when they differ by at most this many
#: millimetres or by ``RELATIVE_SPACING_TOLERANCE`` of the step, whichever is larger.
SPACING_TOLERANCE_MM = 0.01
RELATIVE_SPACING_TOLERANCE = 0.01


@dataclass(frozen=True)
class PlaneGeometry:
    """Position, orientation and pixel spacing of one image plane, in LPS millimetres.

    Attributes
    ----------
    position : numpy.ndarray
        ImagePositionPatient: centre of the first pixel sent.
    row_cosine : numpy.ndarray
        Unit vector of increasing column index (first triplet of ImageOrientationPatient).
    column_cosine : numpy.ndarray
        Unit vector of increasing row index (second triplet of ImageOrientationPatient).
    pixel_spacing : tuple of float or None
        PixelSpacing as (between rows, between columns), or None when the plane has none.
    """

    position: np.ndarray
    row_cosine: np.ndarray
    column_cosine: np.ndarray
    pixel_spacing: tuple[float, float] | None

    @property
    def normal(self) -> np.ndarray:
        """Unit slice normal, the cross product of the row and column cosines."""
        return np.cross(self.row_cosine, self.column_cosine)

    @property
    def distance(self) -> float:
        """Position along the slice normal, ``N · S``, in millimetres."""
        return float(np.dot(self.normal, self.position))

    def orientation_matches(self, other: PlaneGeometry) -> bool:
        """Return whether ``other`` has the same row and column cosines within ``ORIENTATION_TOLERANCE``."""
        return bool(np.allclose(self.row_cosine, other.row_cosine, atol=ORIENTATION_TOLERANCE)
                    and np.allclose(self.column_cosine, other.column_cosine, atol=ORIENTATION_TOLERANCE))

    def direction(self, first_axis: np.ndarray | None = None) -> np.ndarray:
        """Return the 3×3 direction cosines, one column per array axis.

        Without ``first_axis`` the columns are (column cosine, row cosine, normal), for the array axes
        (row, column) of a single plane. With it they are (``first_axis``, column cosine, row cosine), for
        the array axes (frame or slice, row, column).
        """
        if first_axis is None:
            return np.column_stack([self.column_cosine, self.row_cosine, self.normal])
        return np.column_stack([first_axis, self.column_cosine, self.row_cosine])

    def affine(self, step: np.ndarray | None = None, *, thickness: float | None = None) -> np.ndarray:
        """Return the 4×4 matrix from voxel indices to LPS millimetres (DICOM PS3.3 C.7.6.2.1.1).

        Parameters
        ----------
        step : numpy.ndarray, optional
            Vector from one frame or slice to the next. When given, the matrix takes ``(k, r, c, 1)``;
            otherwise it takes ``(r, c, 0, 1)`` for a single plane.
        thickness : float, optional
            For a single plane, the length of the third column: the slice normal times SliceThickness,
            or the unit normal when None. The third index is always 0, so this moves no pixel and only
            keeps the matrix invertible.

        Raises
        ------
        ValueError
            If the plane has no pixel spacing.
        """
        if self.pixel_spacing is None:
            raise ValueError("an affine needs PixelSpacing, and this plane has none")
        row_spacing, column_spacing = self.pixel_spacing
        down_rows = self.column_cosine * row_spacing
        along_columns = self.row_cosine * column_spacing
        matrix = np.eye(4)
        if step is None:
            matrix[:3, :3] = np.column_stack([down_rows, along_columns, self.normal * (thickness or 1.0)])
        else:
            matrix[:3, :3] = np.column_stack([step, down_rows, along_columns])
        matrix[:3, 3] = self.position
        return matrix


def functional_group_item(ds: Dataset, keyword: str, frame_index: int | None) -> Dataset | None:
    """Return the first item of functional group macro ``keyword`` for one frame of an enhanced object.

    The per-frame item (PerFrameFunctionalGroupsSequence) is looked up first, then the shared one
    (SharedFunctionalGroupsSequence). Returns None when neither contains
    the macro or ``frame_index`` is None and there is no shared item.
    """
    if frame_index is not None:
        per_frame = ds.get("PerFrameFunctionalGroupsSequence")
        if per_frame is not None and frame_index < len(per_frame):
            sequence = per_frame[frame_index].get(keyword)
            if sequence:
                return sequence[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        sequence = shared[0].get(keyword)
        if sequence:
            return sequence[0]
    return None


def read_pixel_spacing(item: Dataset | None, keyword: str = "PixelSpacing") -> tuple[float, float] | None:
    """Return ``item``'s PixelSpacing (or ``keyword``) as two positive floats, or None when absent or invalid."""
    if item is None:
        return None
    value = item.get(keyword)
    if value is None or len(value) != 2:
        return None
    spacing = (float(value[0]), float(value[1]))
    if not all(np.isfinite(spacing)) or min(spacing) <= 0:
        return None
    return spacing


def read_orientation(value: object) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the unit row and column cosines of an ImageOrientationPatient value.

    Returns None unless the value contains six finite numbers forming two unit vectors that are orthogonal
    within ``ORIENTATION_TOLERANCE``.
    """
    if value is None:
        return None
    numbers = np.asarray([float(number) for number in value], dtype=np.float64)  # type: ignore[attr-defined]
    if numbers.shape != (6,) or not np.all(np.isfinite(numbers)):
        return None
    row_cosine, column_cosine = numbers[:3], numbers[3:]
    lengths = np.array([np.linalg.norm(row_cosine), np.linalg.norm(column_cosine)])
    if np.any(np.abs(lengths - 1.0) > ORIENTATION_TOLERANCE):
        return None
    if abs(float(np.dot(row_cosine, column_cosine))) > ORIENTATION_TOLERANCE:
        return None
    return row_cosine / lengths[0], column_cosine / lengths[1]


def read_position(value: object) -> np.ndarray | None:
    """Return an ImagePositionPatient value as three finite floats, or None."""
    if value is None:
        return None
    numbers = np.asarray([float(number) for number in value], dtype=np.float64)  # type: ignore[attr-defined]
    if numbers.shape != (3,) or not np.all(np.isfinite(numbers)):
        return None
    return numbers


def plane_geometry(ds: Dataset, frame_index: int | None = None) -> PlaneGeometry | None:
    """Return the plane of a single-frame image, or of frame ``frame_index`` of a multi-frame object.

    Enhanced objects carry the plane in the Plane Position (Patient), Plane Orientation (Patient) and
    Pixel Measures functional groups. Other objects carry ImagePositionPatient, ImageOrientationPatient
    and PixelSpacing at the top level, which are used when no functional group contains them. Returns None
    when the position or orientation is missing or invalid.
    """
    position_item = functional_group_item(ds, "PlanePositionSequence", frame_index) or ds
    orientation_item = functional_group_item(ds, "PlaneOrientationSequence", frame_index) or ds
    measures_item = functional_group_item(ds, "PixelMeasuresSequence", frame_index) or ds

    position = read_position(position_item.get("ImagePositionPatient"))
    orientation = read_orientation(orientation_item.get("ImageOrientationPatient"))
    if position is None or orientation is None:
        return None
    spacing = read_pixel_spacing(measures_item) or read_pixel_spacing(ds)
    return PlaneGeometry(position, orientation[0], orientation[1], spacing)


@dataclass(frozen=True)
class ImageGeometry:
    """Spacing, direction cosines and affine of an image, frame stack or slice stack, in LPS.

    ``spacing`` follows the pixel array's spatial axes, so it has two values when the frames are not
    known to be evenly spaced planes. ``direction`` and ``affine`` are None when the position,
    orientation or pixel spacing is missing.
    """

    spacing: tuple[float, ...] | None = None
    direction: np.ndarray | None = None
    affine: np.ndarray | None = None
    notes: tuple[str, ...] = ()


def single_plane_geometry(ds: Dataset) -> ImageGeometry:
    """Return the geometry of a single-frame image with array axes (row, column)."""
    plane = plane_geometry(ds, 0 if "PerFrameFunctionalGroupsSequence" in ds else None)
    if plane is None:
        return _plane_free_geometry(ds)
    if plane.pixel_spacing is None:
        return ImageGeometry(None, None, None, ("no PixelSpacing: spacing and affine left out",))
    thickness = _positive_float(ds.get("SliceThickness"))
    return ImageGeometry(plane.pixel_spacing, plane.direction(), plane.affine(thickness=thickness))


def frame_stack_geometry(ds: Dataset, frame_count: int) -> ImageGeometry:
    """Return the geometry of a multi-frame object with array axes (frame, row, column).

    Frame positions come from the first of these that the object has:

    1. each frame's Plane Position (Patient) functional group,
    2. GridFrameOffsetVector (RT Dose, DICOM PS3.3 C.8.8.3.2), read as distances along the normal from
       the first frame,
    3. SpacingBetweenSlices, then SliceThickness, as the step along the normal.

    Positions from 1 or 2 must be evenly spaced within :func:`spacing_tolerance`, or the frame axis
    gets no spacing and the object no affine.
    """
    first = plane_geometry(ds, 0)
    if first is None:
        return _plane_free_geometry(ds)
    if first.pixel_spacing is None:
        return ImageGeometry(None, None, None, ("no PixelSpacing: spacing and affine left out",))

    positions = _frame_positions(ds, first, frame_count)
    notes: list[str] = []
    if positions is not None:
        step = (positions[-1] - positions[0]) / (frame_count - 1)
        expected = positions[0] + np.outer(np.arange(frame_count), step)
        deviation = float(np.max(np.linalg.norm(positions - expected, axis=1)))
        if deviation > spacing_tolerance(float(np.linalg.norm(step))):
            note = f"frame positions are not evenly spaced (up to {deviation:.3g} mm off a regular grid)"
            return _in_plane_only(first, [note])
    else:
        step_length, source = _declared_frame_spacing(ds)
        if step_length is None:
            return _in_plane_only(first, ["frame positions unknown"])
        if source == "SliceThickness":
            notes.append("frame spacing taken from SliceThickness, as SpacingBetweenSlices is absent")
        step = first.normal * step_length
    return stack_geometry(first, step, notes=notes, unit="frames")


def stack_geometry(first: PlaneGeometry, step: np.ndarray, *, notes: list[str] | None = None,
                   unit: str = "slices") -> ImageGeometry:
    """Return the geometry of evenly spaced planes starting at ``first``, ``step`` apart.

    The spacing along the stack is the step's length along the slice normal, and the first direction
    column is the normal, signed to point the way the index grows. The affine's first column is
    ``step`` itself, so it places each plane at its ImagePositionPatient even when the stack is sheared
    (as with CT gantry tilt). A note then records the shear.
    """
    notes = list(notes or [])
    along_normal = float(np.dot(step, first.normal))
    if abs(along_normal) <= SPACING_TOLERANCE_MM:
        return _in_plane_only(first, [*notes, f"all {unit} share one position"])
    lateral = float(np.linalg.norm(step - first.normal * along_normal))
    if lateral > SPACING_TOLERANCE_MM:
        notes.append(f"{unit} are sheared: each is offset {lateral:.3g} mm within the plane from the previous "
                     "one (as with gantry tilt), and the affine follows their positions, not the slice normal")
    assert first.pixel_spacing is not None
    spacing = (abs(along_normal), *first.pixel_spacing)
    direction = first.direction(first.normal * np.sign(along_normal))
    return ImageGeometry(spacing, direction, first.affine(step), tuple(notes))


def _in_plane_only(plane: PlaneGeometry, notes: list[str]) -> ImageGeometry:
    """Return row and column spacing only, for a stack whose frame axis has no spacing."""
    notes[-1] += ": spacing covers rows and columns only, and there is no affine"
    return ImageGeometry(plane.pixel_spacing, None, None, tuple(notes))


def _frame_positions(ds: Dataset, first: PlaneGeometry, frame_count: int) -> np.ndarray | None:
    if "PerFrameFunctionalGroupsSequence" in ds:
        planes = [plane_geometry(ds, index) for index in range(frame_count)]
        if all(plane is not None and plane.orientation_matches(first) for plane in planes):
            return np.array([plane.position for plane in planes if plane is not None])
        return None
    offsets = ds.get("GridFrameOffsetVector")
    if offsets is not None and len(offsets) == frame_count:
        distances = np.asarray([float(value) for value in offsets]) - float(offsets[0])
        return first.position + np.outer(distances, first.normal)
    return None


def _declared_frame_spacing(ds: Dataset) -> tuple[float | None, str]:
    measures = functional_group_item(ds, "PixelMeasuresSequence", 0)
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        for item in (measures, ds):
            value = _positive_float(item.get(keyword)) if item is not None else None
            if value is not None:
                return value, keyword
    return None, ""


def _plane_free_geometry(ds: Dataset) -> ImageGeometry:
    """Return in-plane spacing only, for images without ImagePositionPatient and ImageOrientationPatient."""
    spacing = read_pixel_spacing(functional_group_item(ds, "PixelMeasuresSequence", 0)) or read_pixel_spacing(ds)
    if spacing is not None:
        return ImageGeometry(spacing, None, None, ("no patient position or orientation: there is no affine",))
    spacing = read_pixel_spacing(ds, "ImagerPixelSpacing")
    if spacing is not None:
        return ImageGeometry(spacing, None, None, (
            "spacing from ImagerPixelSpacing, measured at the detector and not corrected for magnification",))
    return ImageGeometry()


def _positive_float(value: object) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)  # type: ignore[arg-type]
    return number if np.isfinite(number) and number > 0 else None


def spacing_tolerance(step: float) -> float:
    """Return the largest difference between two steps of about ``step`` mm that still counts as equal."""
    return max(SPACING_TOLERANCE_MM, RELATIVE_SPACING_TOLERANCE * abs(step))


def format_position(plane: PlaneGeometry) -> str:
    """Name a plane's position along its normal, such as ``z = -187.5`` for an axial slice.

    When the normal lies along an LPS axis, the plane is named by that coordinate of
    ImagePositionPatient. Otherwise it is named by its distance along the normal, ``N · S``.
    """
    axis = int(np.argmax(np.abs(plane.normal)))
    if abs(plane.normal[axis]) >= 1.0 - ORIENTATION_TOLERANCE:
        return f"{'xyz'[axis]} = {_format_mm(plane.position[axis])}"
    return f"position {_format_mm(plane.distance)} mm along the slice normal"


def _format_mm(value: float) -> str:
    rounded = round(float(value), 4)
    return f"{rounded:g}" if rounded != 0 else "0"
