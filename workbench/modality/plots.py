"""Matplotlib figures of image records: windowed views of one slice, a montage and the intensity histogram.

Each function returns a :class:`~matplotlib.figure.Figure` made with pyplot and never calls
``plt.show``. The caller displays the figure and then closes it with ``plt.close(figure)``.

Planes are taken as :func:`workbench.modality.record.sample_planes` takes them, so the views, the
montage and the record's PNG thumbnail agree. DICOM frames and series slices stack along the first
axis. NIfTI volumes stack along ``k`` and each ``i,j`` plane is turned a quarter turn so that ``j``
runs from the top down, as viewers show it. Pixels are drawn with the aspect ratio of their spacing
when the record has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from workbench.errors import ValidationError
from workbench.modality.record import ImageRecord, sample_planes, tile
from workbench.modality.windows import (
    AUTO,
    HOUNSFIELD_UNITS,
    PRESETS,
    DisplayWindow,
    auto_window,
    window_for,
)

#: Colours of the window ranges in :func:`plot_histogram`, in window order.
WINDOW_COLOURS = ("#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860")
HISTOGRAM_COLOUR = "#4d4d4d"

_DEFAULT_PRESETS = ("lung", "mediastinum", "bone")


@dataclass(frozen=True)
class ImagePlane:
    """One 2D plane of a record, as drawn.

    Attributes
    ----------
    pixels : numpy.ndarray
        The plane in physical units, rows first, with a trailing colour axis for colour images.
    index : int
        Position along the stacking axis, counted from 0.
    count : int
        Number of planes along the stacking axis, 1 for a single image.
    axis : str
        Name of the stacking axis (``frame``, ``slice`` or ``k``), or None for a single image.
    aspect : float
        Height over width of one pixel (row spacing over column spacing), 1.0 when the spacing is unknown.
    """

    pixels: np.ndarray
    index: int
    count: int
    axis: str | None
    aspect: float

    @property
    def description(self) -> str:
        """Position for a title, such as ``slice 3 (0 to 9)``, or ``""`` for a single image."""
        if self.axis is None:
            return ""
        return f"{self.axis} {self.index} (0 to {self.count - 1})"


def stack_length(record: ImageRecord) -> int:
    """Return the number of frames or slices along the record's stacking axis, or 1 for a single plane."""
    layout = _layout(record)
    return 1 if layout.stack_axis is None else record.pixels.shape[layout.stack_axis]


def select_plane(record: ImageRecord, index: int | None = None) -> ImagePlane:
    """Return plane ``index`` along the stacking axis of ``record``, or the middle one when it is None.

    The middle plane of ``n`` is plane ``n // 2``, the one that
    :meth:`~workbench.modality.record.ImageRecord.thumbnail_png` shows.

    Raises
    ------
    ValidationError
        If ``index`` is not an integer from 0 to the number of planes minus 1.
    """
    layout = _layout(record)
    count = stack_length(record)
    if index is None:
        index = count // 2
    if isinstance(index, bool) or not isinstance(index, int | np.integer) or not 0 <= index < count:
        raise ValidationError(f"plane index must be an integer from 0 to {count - 1} for {_name(record)}, "
                              f"got {index!r}", field="index", value=index)

    if layout.stack_axis is None:
        pixels = record.pixels
    else:
        pixels = np.take(record.pixels, int(index), axis=layout.stack_axis)
        if layout.turned:
            pixels = np.rot90(pixels)
    axis = None if layout.stack_axis is None else layout.names[layout.stack_axis]
    return ImagePlane(pixels=pixels, index=int(index), count=count, axis=axis, aspect=layout.aspect)


def plot_windowed_views(record: ImageRecord, presets: Sequence[str | DisplayWindow] = _DEFAULT_PRESETS,
                        index: int | None = None) -> Figure:
    """Draw one plane of ``record`` once per display window, with each window's level and width in its title.

    Parameters
    ----------
    record : ImageRecord
    presets : sequence of str or DisplayWindow
        Window names (see :data:`~workbench.modality.windows.WINDOW_NAMES`) or windows, one panel each.
    index : int, optional
        Plane along the stacking axis, counted from 0; the middle one by default.

    Raises
    ------
    ValidationError
        If ``presets`` is empty, a window does not suit the record (see
        :func:`~workbench.modality.windows.window_for`), or ``index`` is out of range.
    """
    windows = [window_for(record, preset) for preset in presets]
    if not windows:
        raise ValidationError("presets is empty; give at least one window name or window", field="presets",
                              value=list(presets))
    plane = select_plane(record, index)

    figure, axes = plt.subplots(1, len(windows), figsize=(3.6 * len(windows), 3.9), squeeze=False)
    for axis, window in zip(axes.flat, windows, strict=True):
        axis.imshow(window.apply(plane.pixels), cmap="gray", vmin=0.0, vmax=1.0, aspect=plane.aspect,
                    interpolation="nearest")
        axis.set_title(window.label, fontsize=9)
        axis.set_axis_off()
    figure.suptitle(_title(record, plane.description), fontsize=10)
    figure.tight_layout()
    return figure


def plot_montage(record: ImageRecord, tiles: int = 16, window: str | DisplayWindow = AUTO) -> Figure:
    """Draw up to ``tiles`` evenly spaced planes of ``record`` in a near-square grid, through one window.

    The planes are those of :meth:`~workbench.modality.record.ImageRecord.montage_png`, first to last
    along the stacking axis, left to right and then top to bottom. Empty grid cells and NaN pixels are black.

    Raises
    ------
    ValidationError
        If ``tiles`` is not an integer of at least 1, or the window does not suit the record.
    """
    if isinstance(tiles, bool) or not isinstance(tiles, int | np.integer) or tiles < 1:
        raise ValidationError(f"tiles must be an integer of at least 1, got {tiles!r}", field="tiles", value=tiles)
    chosen = window_for(record, window)
    layout = _layout(record)
    planes = sample_planes(record.pixels, record.axes, int(tiles))
    grid = np.nan_to_num(chosen.apply(tile(planes)), nan=0.0)

    height, width = grid.shape[:2]
    scale = 7.0 / max(height * layout.aspect, width)
    figure, axis = plt.subplots(figsize=(max(width * scale, 3.0), max(height * layout.aspect * scale, 3.0) + 0.5))
    axis.imshow(grid, cmap="gray", vmin=0.0, vmax=1.0, aspect=layout.aspect, interpolation="nearest")
    axis.set_axis_off()
    count = stack_length(record)
    shown = f"{len(planes)} of {count} {layout.names[layout.stack_axis]} planes, " if count > 1 else ""
    axis.set_title(_title(record, f"{shown}{chosen.label}"), fontsize=10)
    figure.tight_layout()
    return figure


def plot_histogram(record: ImageRecord, windows: Sequence[str | DisplayWindow] | None = None, *,
                   bins: int = 256) -> Figure:
    """Draw the histogram of the record's finite pixel values, with each window's range shaded.

    Parameters
    ----------
    record : ImageRecord
    windows : sequence of str or DisplayWindow, optional
        Windows to mark. By default every CT preset for a record in Hounsfield units, otherwise the
        ``auto`` window.
    bins : int
        Number of equal-width bins between the minimum and the maximum value.

    Notes
    -----
    Values are in the record's physical units, colour samples pooled. The count axis is logarithmic,
    because air or background usually outnumbers tissue by orders of magnitude. The value axis spans
    the data, so a window that reaches beyond the data is cut at the edge.

    Raises
    ------
    ValidationError
        If a window does not suit the record.
    """
    if windows is None:
        marked = list(PRESETS.values()) if record.units == HOUNSFIELD_UNITS else [auto_window(record)]
    else:
        marked = [window_for(record, window) for window in windows]
    values = np.asarray(record.pixels, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]

    figure, axis = plt.subplots(figsize=(7.6, 3.6))
    if values.size == 0:
        axis.text(0.5, 0.5, "no finite pixel value", ha="center", va="center", transform=axis.transAxes)
    else:
        axis.hist(values, bins=bins, color=HISTOGRAM_COLOUR, log=True)
        for number, window in enumerate(marked):
            axis.axvspan(window.lower, window.upper, color=WINDOW_COLOURS[number % len(WINDOW_COLOURS)], alpha=0.18,
                         label=window.label)
        low, high = float(values.min()), float(values.max())
        margin = 0.02 * (high - low) or 0.5
        axis.set_xlim(low - margin, high + margin)
        if marked:
            axis.legend(fontsize=8, loc="upper right")
    axis.set_xlabel(f"value ({record.units or 'units not declared'})", fontsize=8)
    axis.set_ylabel("pixels (log scale)", fontsize=8)
    axis.set_title(_title(record, "intensity histogram"), fontsize=10)
    figure.tight_layout()
    return figure


@dataclass(frozen=True)
class _Layout:
    """Layout of a record's planes: axis names, stacking axis, quarter turn and pixel aspect."""

    names: list[str]
    stack_axis: int | None
    turned: bool
    aspect: float


def _layout(record: ImageRecord) -> _Layout:
    names = record.axes.split(",")
    colour = names[-1] == "sample"
    spatial = record.pixels.ndim - (1 if colour else 0)
    if spatial <= 2:
        # A single plane is drawn as stored, as sample_planes returns it.
        stack_axis, turned = None, False
        row_name, column_name = names[0], names[1] if len(names) > 1 else names[0]
    elif names[0] == "i":
        # sample_planes turns each i,j plane with np.rot90, so rows run along j and columns along i.
        stack_axis, turned = spatial - 1, True
        row_name, column_name = "j", "i"
    else:
        stack_axis, turned = 0, False
        row_name, column_name = names[1], names[2]
    spacing = _spacing_by_axis(names[:spatial], record.spacing or ())
    row_spacing, column_spacing = spacing.get(row_name), spacing.get(column_name)
    aspect = row_spacing / column_spacing if row_spacing and column_spacing else 1.0
    return _Layout(names=names, stack_axis=stack_axis, turned=turned, aspect=float(aspect))


def _spacing_by_axis(spatial: list[str], spacing: tuple[float, ...]) -> dict[str, float]:
    """Pair spacing values with spatial axis names, aligned at the last axis.

    A multi-frame object whose frames are not positions in space has in-plane spacing only, which then
    belongs to the row and column axes.
    """
    if not spacing or len(spacing) > len(spatial):
        return {}
    return dict(zip(spatial[-len(spacing):], (float(value) for value in spacing), strict=True))


def _name(record: ImageRecord) -> str:
    # ``source`` is a base file name or "<bytes>", never a path (see ImageRecord).
    return record.source or "image"


def _title(record: ImageRecord, detail: str) -> str:
    return f"{_name(record)}: {detail}" if detail else _name(record)
