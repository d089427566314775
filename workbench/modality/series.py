"""Reading DICOM series into volumes: grouped by SeriesInstanceUID, ordered by position, checked for gaps.

Rules, in the order they apply to the files of one series:

1. Localizers are left out with a note: slices whose ImageType contains ``LOCALIZER``, and slices whose
   orientation differs from that of the majority. When two orientations are equally common, the series
   is rejected, because neither can be identified as the volume.
2. The remaining slices must share Rows, Columns and PixelSpacing, or the series is rejected with the
   sizes found. Slices are never resampled to fit.
3. Slices are ordered by their position along the slice normal, ``N · ImagePositionPatient`` with
   ``N`` the cross product of the row and column cosines (DICOM PS3.3 C.7.6.2.1.1). File names and
   InstanceNumber play no part, so the same voxels land at the same positions whatever order the files
   come in.
4. Two slices at one position reject the series (it contains several volumes, such as echoes or time
   points). The smallest step between neighbours is the slice spacing. A step that is a whole multiple
   of it means missing slices, and :class:`~workbench.errors.SeriesError` names the positions on either
   side. With ``allow_gaps=True`` the missing slices are filled with NaN instead, so that every slice
   stays at ``first + k × spacing``, and a note records the gap. Any other step is uneven spacing and
   always rejected. Steps count as equal within 1 % of the spacing or 0.01 mm, whichever is larger.

The volume has axes ``slice,row,column``, spacing (along the normal, between rows, between columns) in
millimetres, and an LPS affine from the first slice's position.

Why pydicom and not SimpleITK: the checks above need each slice's header, and SimpleITK's
``ImageSeriesReader`` decides the order and spacing itself. With SimpleITK 2.5.7, four slices at
z = 0, 1, 3 and 4 mm came back as one volume with a slice spacing of 1.333 mm and only a printed warning.
Reading with pydicom also decodes every slice with the same decoders as :func:`~workbench.modality.dicom.read_dicom`.
"""

from __future__ import annotations

import logging
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from workbench.errors import ImageError, SeriesError
from workbench.modality.dicom import (
    DatasetDeidentifier,
    dataset_record,
    default_deidentifier,
    header_values_unlogged,
    read_dataset,
    read_frame_count,
)
from workbench.modality.dicom_geometry import (
    PlaneGeometry,
    format_position,
    plane_geometry,
    spacing_tolerance,
)
from workbench.modality.record import ImageRecord
from workbench.modality.series_stack import stack_slices

logger = logging.getLogger(__name__)

PathsOrFolder = str | os.PathLike[str] | Iterable[str | os.PathLike[str]]


#: Spacing above this multiple of SliceThickness gets a note that slices may be missing.
THICKNESS_GAP_FACTOR = 1.5


@dataclass
class SliceFile:
    """One file of a series: its base name, path, header (without pixel data) and reading notes."""

    name: str
    path: Path
    header: Dataset
    notes: list[str] = field(default_factory=list)
    plane: PlaneGeometry | None = None


def read_series(paths_or_folder: PathsOrFolder, *, deidentifier: DatasetDeidentifier | None = None,
                allow_gaps: bool = False) -> list[ImageRecord]:
    """Read DICOM files into one record per series, ordered by SeriesNumber.

    Parameters
    ----------
    paths_or_folder : path or iterable of paths
        A folder, searched recursively, or the files themselves. In a folder, files that are not DICOM
        or hold no pixel data are skipped and logged, and each record notes how many. Among files given
        one by one, such a file raises.
    deidentifier : DatasetDeidentifier, optional
        Produces each record's metadata from its first slice. Defaults to the process-wide
        :func:`~workbench.modality.dicom.default_deidentifier`.
    allow_gaps : bool
        Fill missing slices with NaN instead of raising.

    Returns
    -------
    list of ImageRecord
        ``format="dicom-series"`` for a series of several slices. A series of one file (a single image
        or a multi-frame object) is read as :func:`~workbench.modality.dicom.read_dicom` reads it.

    Raises
    ------
    SeriesError
        If a series cannot form one volume (see the module notes), or no image is found.
    """
    deidentifier = deidentifier or default_deidentifier()
    with header_values_unlogged():
        slices, skipped = _read_headers(paths_or_folder)
        groups = _group_by_series(slices)
        records: list[ImageRecord] = []
        localizer_series = 0
        for group in groups:
            volume_slices, notes = _select_volume_slices(group)
            if not volume_slices:
                localizer_series += 1
                continue
            records.append(_series_record(volume_slices, notes, deidentifier, allow_gaps))

    shared_notes = _shared_notes(skipped, localizer_series)
    if not records:
        raise SeriesError(f"no image volume found: {'; '.join(shared_notes) or 'no DICOM image files'}")
    return [_with_notes(record, shared_notes) for record in records]


def read_volume(paths_or_folder: PathsOrFolder, *, deidentifier: DatasetDeidentifier | None = None,
                allow_gaps: bool = False) -> ImageRecord:
    """Read files that must form exactly one series, as :func:`read_series` reads them.

    Raises
    ------
    SeriesError
        If the files hold more than one series, or :func:`read_series` raises it.

    Examples
    --------
    pydicom ships three neighbouring slices of a CT series, and their order here does not matter.

    >>> from pathlib import Path
    >>> from pydicom.data import get_testdata_file
    >>> from workbench.modality.deid import Deidentifier
    >>> folder = Path(get_testdata_file("CT_small.dcm", download=False)).parent / "dicomdirtests/77654033/CT2"
    >>> volume = read_volume([folder / "17196", folder / "17136", folder / "17166"],
    ...                      deidentifier=Deidentifier(salt="example"))
    >>> volume.shape, round(volume.spacing[0], 2), volume.axes
    ((3, 16, 16), 1.25, 'slice,row,column')
    """
    records = read_series(paths_or_folder, deidentifier=deidentifier, allow_gaps=allow_gaps)
    if len(records) != 1:
        described = ", ".join(f"{record.source} ({record.frame_count} slices)" for record in records)
        raise SeriesError(f"expected one series, found {len(records)}, starting with {described}. "
                          "Pass the files of one series, or call read_series.")
    return records[0]


def _read_headers(paths_or_folder: PathsOrFolder) -> tuple[list[SliceFile], list[str]]:
    """Read the header of every file, skipping files in a folder that are not DICOM images."""
    paths, from_folder = _collect_paths(paths_or_folder)
    slices, skipped = [], []
    for path in paths:
        try:
            header, notes = read_dataset(path, stop_before_pixels=True)
            _require_image(header, path.name)
        except ImageError as exc:
            if not from_folder:
                raise
            logger.warning("skipped %s: %s", path.name, exc)
            skipped.append(path.name)
            continue
        slices.append(SliceFile(path.name, path, header, notes))
    return slices, skipped


def _collect_paths(paths_or_folder: PathsOrFolder) -> tuple[list[Path], bool]:
    if isinstance(paths_or_folder, str | os.PathLike):
        root = Path(paths_or_folder)
        if root.is_dir():
            files = sorted(path for path in root.rglob("*") if path.is_file() and not path.name.startswith("."))
            return files, True
        return [root], False
    return [Path(path) for path in paths_or_folder], False


def _require_image(header: Dataset, name: str) -> None:
    # The header was read without pixel data, so the image is recognised by its Image Pixel module.
    if "Rows" not in header or "Columns" not in header:
        raise ImageError(f"{name} contains no image: it has no Rows and Columns", source=name)


def _group_by_series(slices: list[SliceFile]) -> list[list[SliceFile]]:
    """Group files by SeriesInstanceUID, ordering the groups by SeriesNumber, then by first file name."""
    groups: dict[str, list[SliceFile]] = defaultdict(list)
    for item in slices:
        groups[str(item.header.get("SeriesInstanceUID", ""))].append(item)

    def order(group: list[SliceFile]) -> tuple[float, str]:
        number = group[0].header.get("SeriesNumber")
        try:
            key = float(number) if number not in (None, "") else float("inf")
        except (TypeError, ValueError):
            key = float("inf")
        return key, min(item.name for item in group)

    return sorted(groups.values(), key=order)


def _series_label(group: list[SliceFile]) -> str:
    number = group[0].header.get("SeriesNumber")
    label = f"series {number}" if number not in (None, "") else "a series without SeriesNumber"
    return f"{label} ({len(group)} files)"


def _select_volume_slices(group: list[SliceFile]) -> tuple[list[SliceFile], list[str]]:
    """Return the slices that form the volume, without localizers and minority orientations, and notes."""
    label = _series_label(group)
    notes: list[str] = []
    localizers = [item for item in group if "LOCALIZER" in [str(value).upper()
                                                            for value in item.header.get("ImageType", [])]]
    if localizers:
        notes.append(f"{len(localizers)} localizer image(s) left out (ImageType LOCALIZER): "
                     f"{_names(localizers)}")
    candidates = [item for item in group if item not in localizers]
    if len(candidates) <= 1:
        return candidates, notes

    multi_frame = [item for item in candidates if read_frame_count(item.header, item.name) > 1]
    if multi_frame:
        raise SeriesError(f"{label} mixes multi-frame files ({_names(multi_frame)}) with other files. "
                          "Read each multi-frame file with read_dicom.")

    for item in candidates:
        item.plane = plane_geometry(item.header)
    unplaced = [item for item in candidates if item.plane is None]
    if unplaced:
        raise SeriesError(f"{label}: {_names(unplaced)} lack a valid ImagePositionPatient or "
                          "ImageOrientationPatient, so the slices cannot be ordered by position. "
                          "Read the files one at a time with read_dicom.")

    orientations = _orientation_clusters(candidates)
    if len(orientations) > 1:
        sizes = sorted((len(cluster) for cluster in orientations), reverse=True)
        if sizes[0] == sizes[1]:
            raise SeriesError(f"{label} has {len(orientations)} slice orientations, the two most common with "
                              f"{sizes[0]} slices each, so no volume can be chosen. Pass the files of one "
                              "orientation.")
        majority = max(orientations, key=len)
        others = [item for cluster in orientations if cluster is not majority for item in cluster]
        notes.append(f"{len(others)} slice(s) with an orientation different from the other {len(majority)} left "
                     f"out as localizers: {_names(others)}")
        candidates = majority

    _require_one_size(candidates, label)
    return candidates, notes


def _orientation_clusters(slices: list[SliceFile]) -> list[list[SliceFile]]:
    clusters: list[list[SliceFile]] = []
    for item in slices:
        assert item.plane is not None
        for cluster in clusters:
            reference = cluster[0].plane
            if reference is not None and reference.orientation_matches(item.plane):
                cluster.append(item)
                break
        else:
            clusters.append([item])
    return clusters


def _require_one_size(slices: list[SliceFile], label: str) -> None:
    def size(item: SliceFile) -> str:
        plane = item.plane
        spacing = "no PixelSpacing" if plane is None or plane.pixel_spacing is None else (
            "spacing {:g} × {:g} mm".format(*plane.pixel_spacing))
        return f"{item.header.Rows} × {item.header.Columns} pixels, {spacing}"

    counts = Counter(size(item) for item in slices)
    if len(counts) > 1:
        found = "; ".join(f"{description}: {count} slice(s)" for description, count in counts.most_common())
        raise SeriesError(f"{label} has slices of different sizes ({found}). Pass the files of one size.")


def _series_record(slices: list[SliceFile], notes: list[str], deidentifier: DatasetDeidentifier,
                   allow_gaps: bool) -> ImageRecord:
    """Read the pixels of the chosen slices and stack them, or read a single file as read_dicom does."""
    read_notes = _unique(note for item in slices for note in item.notes)
    if len(slices) == 1:
        item = slices[0]
        ds, file_notes = read_dataset(item.path)
        return dataset_record(ds, item.name, notes=[*file_notes, *notes], deidentifier=deidentifier)

    ordered = sorted(slices, key=lambda item: (_distance(item), item.name))
    label = _series_label(ordered)
    indices, gap_notes = _slice_indices(ordered, label, allow_gaps)
    gap_notes += _thickness_notes(ordered)
    datasets = [read_dataset(item.path)[0] for item in ordered]
    return stack_slices(datasets, [item.plane for item in ordered], indices,
                        names=[item.name for item in ordered],
                        notes=[*read_notes, *notes, *gap_notes],
                        metadata=deidentifier.metadata(datasets[0]))


def _distance(item: SliceFile) -> float:
    assert item.plane is not None
    return item.plane.distance


def _slice_indices(ordered: list[SliceFile], label: str, allow_gaps: bool) -> tuple[list[int], list[str]]:
    """Return each slice's index in the volume, counting missing slices, and notes on the gaps filled."""
    distances = np.array([_distance(item) for item in ordered])
    steps = np.diff(distances)
    planes = [item.plane for item in ordered]

    for position, step in enumerate(steps):
        if step <= spacing_tolerance(float(np.median(steps))):
            raise SeriesError(
                f"{label}: {ordered[position].name} and {ordered[position + 1].name} lie at the same position "
                f"({format_position(planes[position])}), so the series contains more than one volume (such as "
                "several echoes or time points). Split the files into one volume each.")

    spacing = float(steps.min())
    indices, gaps = [0], []
    for position, step in enumerate(steps):
        multiple = round(float(step) / spacing)
        if abs(step - multiple * spacing) > multiple * spacing_tolerance(spacing):
            raise SeriesError(
                f"{label}: uneven slice spacing between {format_position(planes[position])} and "
                f"{format_position(planes[position + 1])}, {step:g} mm where the smallest step is {spacing:g} mm.")
        if multiple > 1:
            gaps.append(f"{'missing slice' if multiple == 2 else f'{multiple - 1} missing slices'} between "
                        f"{format_position(planes[position])} and {format_position(planes[position + 1])}")
        indices.append(indices[-1] + multiple)

    if gaps and not allow_gaps:
        raise SeriesError(f"{label}: {'; '.join(gaps)} (slice spacing {spacing:g} mm). Find the missing files, "
                          "or read the series with allow_gaps=True (on the command line "
                          "`workbench modality image --allow-gaps`) to fill them with NaN.")
    return indices, [f"{gap}: filled with NaN" for gap in gaps]


def _thickness_notes(ordered: list[SliceFile]) -> list[str]:
    """Note a slice spacing well above SliceThickness, which evenly spaced positions cannot tell from lost files.

    Some protocols skip tissue between thin slices on purpose, so this is a note rather than an error. Slices
    missing at the ends of a series, or every other slice of it, leave the positions evenly spaced.
    """
    thickness = ordered[0].header.get("SliceThickness")
    try:
        thickness = float(thickness)
    except (TypeError, ValueError):
        return []
    spacing = float(np.min(np.diff([_distance(item) for item in ordered])))
    if thickness <= 0 or spacing <= THICKNESS_GAP_FACTOR * thickness:
        return []
    note = (f"slice spacing {spacing:g} mm is more than {THICKNESS_GAP_FACTOR:g} times SliceThickness {thickness:g} "
            "mm: either the protocol leaves gaps between slices or files of the series are missing")
    return [note]


def _names(slices: list[SliceFile], limit: int = 5) -> str:
    names = sorted(item.name for item in slices)
    listed = ", ".join(names[:limit])
    return listed if len(names) <= limit else f"{listed} and {len(names) - limit} more"


def _unique(notes: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(notes))


def _shared_notes(skipped: list[str], localizer_series: int) -> list[str]:
    notes = []
    if skipped:
        listed = ", ".join(skipped[:5]) + (f" and {len(skipped) - 5} more" if len(skipped) > 5 else "")
        notes.append(f"{len(skipped)} file(s) in the folder skipped as not DICOM images: {listed}")
    if localizer_series:
        notes.append(f"{localizer_series} series of localizer images only left out")
    return notes


def _with_notes(record: ImageRecord, notes: list[str]) -> ImageRecord:
    if not notes:
        return record
    return replace(record, notes=(*record.notes, *notes))
