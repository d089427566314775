"""Stacking ordered DICOM slices into one volume record, with NaN where slices are missing."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from workbench.errors import SeriesError
from workbench.modality.deid import BURNED_IN_NOTE, burned_in_annotation
from workbench.modality.dicom_geometry import ImageGeometry, PlaneGeometry, spacing_tolerance, stack_geometry
from workbench.modality.dicom_pixels import compact_dtype, decode_pixels, to_physical
from workbench.modality.record import ImageRecord


def stack_slices(datasets: list[Dataset], planes: list[PlaneGeometry | None], indices: list[int], *,
                 names: list[str], notes: list[str], metadata: dict[str, Any]) -> ImageRecord:
    """Decode slices ordered along the normal and stack them at their slice indices.

    Parameters
    ----------
    datasets, planes, names : list
        The slices' datasets (with pixel data), planes and file base names, in volume order.
    indices : list of int
        Each slice's index in the volume. Indices that no slice takes are missing slices, filled with NaN.
    notes : list of str
        Notes gathered while choosing and ordering the slices.
    metadata : dict
        De-identified metadata for the record.
    """
    slice_count = indices[-1] + 1
    arrays, units, interpretations, slice_notes = [], set(), [], []
    for ds, name in zip(datasets, names, strict=True):
        decoded = decode_pixels(ds, name)
        physical = to_physical(ds, decoded, 1)
        arrays.append(physical.array)
        units.add(physical.units)
        interpretations.append(decoded.photometric_interpretation)
        slice_notes.extend([*decoded.notes, *physical.notes])

    if len({array.shape for array in arrays}) > 1:
        raise SeriesError(f"the slices of the series starting with {names[0]} decode to different shapes")
    if slice_count == len(arrays):
        pixels = compact_dtype(np.stack(arrays))
    else:
        filled = np.full((slice_count, *arrays[0].shape), np.nan)
        filled[indices] = np.stack(arrays)
        pixels = compact_dtype(filled)

    geometry = _volume_geometry(planes, indices)
    if len(units) > 1:
        slice_notes.append("the slices declare different units, so the volume's unit is unknown")
    if any(burned_in_annotation(ds) for ds in datasets):
        slice_notes.append(BURNED_IN_NOTE)
    all_notes = list(dict.fromkeys([*notes, *slice_notes, *geometry.notes]))
    first = datasets[0]
    return ImageRecord(
        pixels=pixels,
        format="dicom-series",
        modality=str(first.get("Modality")) if first.get("Modality") else None,
        units=units.pop() if len(units) == 1 else None,
        spacing=geometry.spacing,
        direction=geometry.direction,
        affine=geometry.affine,
        coordinate_system="LPS" if geometry.affine is not None else "pixel",
        axes="slice,row,column" + (",sample" if pixels.ndim > 3 else ""),
        frame_count=slice_count,
        photometric_interpretation=interpretations[0] or None,
        metadata=metadata,
        notes=tuple(all_notes),
        source=names[0],
    )


def _volume_geometry(planes: list[PlaneGeometry | None], indices: list[int]) -> ImageGeometry:
    """Return the geometry of the stack from its first and last slices, noting off-line positions."""
    first, last = planes[0], planes[-1]
    assert first is not None and last is not None
    if first.pixel_spacing is None:
        return ImageGeometry(None, None, None, ("no PixelSpacing: spacing and affine left out",))

    step = (last.position - first.position) / indices[-1]
    positions = np.array([plane.position for plane in planes if plane is not None])
    expected = first.position + np.outer(indices, step)
    deviation = float(np.max(np.linalg.norm(positions - expected, axis=1)))
    notes = []
    if deviation > spacing_tolerance(float(np.linalg.norm(step))):
        notes.append(f"slice positions deviate from a straight line by up to {deviation:.3g} mm, and "
                     "the affine follows the first and last slices")
    return stack_geometry(first, step, notes=notes, unit="slices")
