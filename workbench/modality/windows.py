"""Display windows (level and width) that map physical pixel values to grey levels for viewing.

A window shows the values from ``level - width / 2`` (black) to ``level + width / 2`` (white) and clips
everything outside. :data:`PRESETS` contains the usual CT windows in Hounsfield units (HU). The ``auto``
window spans the 1st to 99th percentile of the image and suits MR, NIfTI and raster images, whose
values have no fixed scale. :func:`custom` builds any other window.

Preset values, as level / width in HU:

- ``lung`` −600 / 1500, ``brain`` 40 / 80 and ``bone`` 400 / 1800 are the lung, brain and spine bone
  windows in the list of typical values of Radiopaedia's article "Windowing (CT)"
  (https://radiopaedia.org/articles/windowing-ct).
- ``mediastinum`` 40 / 400 is the soft-tissue window of the OHIF Viewer's default CT presets
  (``extensions/cornerstone/src/components/WindowLevelActionMenu/defaultWindowLevelPresets.ts``).
  Radiopaedia lists W:350 L:50 for the mediastinum, which shows −125 to 225 HU instead of −160 to
  240 HU.

Institutions and vendors use slightly different values, so :func:`custom` takes any level and width.

>>> window = PRESETS["mediastinum"]
>>> window.lower, window.upper
(-160.0, 240.0)
>>> apply_window(np.array([-160.0, 40.0, 240.0, 1000.0]), window.level, window.width).tolist()
[0.0, 0.5, 1.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import ValidationError
from workbench.modality.record import ImageRecord

HOUNSFIELD_UNITS = "HU"

#: Name of the window that spans the 1st to 99th percentile of the image.
AUTO = "auto"

#: Percentiles of the ``auto`` window, as stored in :class:`~workbench.modality.record.IntensityStatistics`.
AUTO_PERCENTILES = (1, 99)


def _check_level_and_width(level: float, width: float) -> None:
    if not _is_finite_number(level):
        raise ValidationError(f"window level must be a finite number, got {level!r}", field="level", value=level)
    if not _is_finite_number(width) or width <= 0:
        raise ValidationError(f"window width must be a finite number greater than 0, got {width!r}",
                              field="width", value=width)


def _is_finite_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


@dataclass(frozen=True)
class DisplayWindow:
    """A display window: ``level`` maps to mid-grey and ``width`` is the span from black to white.

    Attributes
    ----------
    name : str
        Preset name, ``auto`` or ``custom``.
    level : float
        Centre of the window (DICOM WindowCenter), in ``units``.
    width : float
        Span of the window (DICOM WindowWidth) in ``units``, greater than 0.
    units : str or None
        ``HU`` for the CT presets. For ``auto`` and ``custom`` windows the image's units, or None when
        they are unknown.
    """

    name: str
    level: float
    width: float
    units: str | None = None

    def __post_init__(self) -> None:
        _check_level_and_width(self.level, self.width)
        object.__setattr__(self, "level", float(self.level))
        object.__setattr__(self, "width", float(self.width))

    @property
    def lower(self) -> float:
        """Value shown as black; lower values are clipped to black."""
        return self.level - self.width / 2

    @property
    def upper(self) -> float:
        """Value shown as white; higher values are clipped to white."""
        return self.level + self.width / 2

    @property
    def label(self) -> str:
        """Name, level and width for a figure title, such as ``lung: L -600 / W 1500 HU``."""
        units = f" {self.units}" if self.units else ""
        return f"{self.name}: L {self.level:.4g} / W {self.width:.4g}{units}"

    def apply(self, pixels: np.ndarray) -> np.ndarray:
        """Map ``pixels`` through this window into [0, 1], as :func:`apply_window` does."""
        return apply_window(pixels, self.level, self.width)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "level": self.level, "width": self.width, "lower": self.lower,
                "upper": self.upper, "units": self.units}


#: CT windows in Hounsfield units. The module notes give the source of each value.
PRESETS: dict[str, DisplayWindow] = {
    "lung": DisplayWindow("lung", -600.0, 1500.0, HOUNSFIELD_UNITS),
    "mediastinum": DisplayWindow("mediastinum", 40.0, 400.0, HOUNSFIELD_UNITS),
    "bone": DisplayWindow("bone", 400.0, 1800.0, HOUNSFIELD_UNITS),
    "brain": DisplayWindow("brain", 40.0, 80.0, HOUNSFIELD_UNITS),
}

#: Every name that :func:`window_for` accepts.
WINDOW_NAMES = (*PRESETS, AUTO)


def apply_window(pixels: np.ndarray, level: float, width: float) -> np.ndarray:
    """Map physical values linearly into [0, 1]: ``level - width / 2`` to 0, ``level + width / 2`` to 1.

    Parameters
    ----------
    pixels : numpy.ndarray
        Values in physical units, any shape. The array is not modified.
    level, width : float
        Centre and span of the window, in the units of ``pixels``. ``width`` must be greater than 0.

    Returns
    -------
    numpy.ndarray
        float64 values in [0, 1], in the shape of ``pixels``. Values outside the window are clipped to 0
        or 1, and NaN stays NaN.

    Raises
    ------
    ValidationError
        If ``level`` is not finite, or ``width`` is not a finite number greater than 0.

    Notes
    -----
    This is the LINEAR_EXACT VOI LUT function of DICOM PS3.3 section C.11.2.1.3.2 with an output range
    of 0 to 1: ``y = (x - level) / width + 0.5``, clipped. The default LINEAR function of section
    C.11.2.1.2.1 instead uses ``level - 0.5`` and ``width - 1``, so its ramp reaches white one unit
    below ``level + width / 2``. That suits integer stored values; physical values here may be
    fractional, so the exact form is used.
    """
    _check_level_and_width(level, width)
    values = np.asarray(pixels, dtype=np.float64)
    return np.clip((values - level) / width + 0.5, 0.0, 1.0)


def custom(level: float, width: float, *, units: str | None = None) -> DisplayWindow:
    """Return a window named ``custom`` with the given level and width, in ``units`` when known.

    Raises
    ------
    ValidationError
        If ``level`` is not finite, or ``width`` is not a finite number greater than 0.
    """
    return DisplayWindow("custom", level, width, units)


def auto_window(record: ImageRecord) -> DisplayWindow:
    """Return the window from the 1st to the 99th percentile of the record's finite pixel values.

    The percentiles come from ``record.statistics``, so colour samples are pooled. When the two
    percentiles are equal the window spans the minimum to the maximum instead. A constant image gets a
    width of 1 around its value and shows as mid-grey.

    Raises
    ------
    ValidationError
        If the record has no finite pixel value.
    """
    statistics = record.statistics
    if statistics is None or statistics.count == 0:
        raise ValidationError(f"{_name(record)} has no finite pixel value, so no auto window can be computed",
                              field="window", value=AUTO)

    lower = statistics.percentiles[f"p{AUTO_PERCENTILES[0]}"]
    upper = statistics.percentiles[f"p{AUTO_PERCENTILES[1]}"]
    if upper <= lower:
        lower, upper = statistics.minimum, statistics.maximum
    if upper <= lower:
        return DisplayWindow(AUTO, lower, 1.0, record.units)
    return DisplayWindow(AUTO, (lower + upper) / 2, upper - lower, record.units)


def window_for(record: ImageRecord, window: str | DisplayWindow) -> DisplayWindow:
    """Return the display window named ``window`` for ``record``, or ``window`` itself when it is one.

    Parameters
    ----------
    record : ImageRecord
        The image the window is for.
    window : str or DisplayWindow
        A name from :data:`WINDOW_NAMES` (case and surrounding spaces ignored), or a window such as
        :func:`custom` returns.

    Returns
    -------
    DisplayWindow
        The preset, the record's :func:`auto_window`, or ``window`` unchanged.

    Raises
    ------
    ValidationError
        If the name is unknown, or a window in HU (every preset) is requested for a record whose
        ``units`` are not ``HU``. MR, NIfTI and raster records carry no HU, so they take ``auto`` or a
        custom window.
    """
    if isinstance(window, DisplayWindow):
        chosen = window
    else:
        name = str(window).strip().lower()
        if name == AUTO:
            return auto_window(record)
        if name not in PRESETS:
            raise ValidationError(f"unknown window preset {window!r}; use one of {', '.join(WINDOW_NAMES)}, or "
                                  "custom(level, width) for another window", field="window", value=window)
        chosen = PRESETS[name]

    if chosen.units == HOUNSFIELD_UNITS and record.units != HOUNSFIELD_UNITS:
        raise ValidationError(
            f"window preset {chosen.name!r} is for CT values in Hounsfield units (HU), but {_name(record)} "
            f"has units {record.units or 'not declared'}{_modality_clause(record)}. Use the {AUTO!r} window "
            f"(1st to 99th percentile) or custom(level, width) in the image's own units. If the values are "
            f"HU after all, custom(level={chosen.level:g}, width={chosen.width:g}) shows the same range.",
            field="window", value=chosen.name)
    return chosen


#: Windows of a CT image in Hounsfield units when none are named.
DEFAULT_CT_WINDOWS = ("lung", "mediastinum", "bone")


def default_window_names(record: ImageRecord) -> tuple[str, ...]:
    """Return the lung, mediastinum and bone windows for an image in HU, and ``auto`` for any other image."""
    return DEFAULT_CT_WINDOWS if record.units == "HU" else ("auto",)


def parse_window_names(text: str) -> tuple[str, ...]:
    """Split a comma-separated list of window names, such as ``"lung, bone"``, and check each name.

    Names are lower-cased and stripped, empty items are dropped and repeats are kept once, in order.
    An empty ``text`` gives an empty tuple.

    >>> parse_window_names(" Lung,bone,,lung ")
    ('lung', 'bone')

    Raises
    ------
    ValidationError
        If a name is not in :data:`WINDOW_NAMES`.
    """
    names: list[str] = []
    for item in str(text).split(","):
        name = item.strip().lower()
        if not name or name in names:
            continue
        if name not in WINDOW_NAMES:
            raise ValidationError(f"unknown window preset {item.strip()!r} in {text!r}; use a comma-separated "
                                  f"list of {', '.join(WINDOW_NAMES)}", field="presets", value=text)
        names.append(name)
    return tuple(names)


def select_windows(record: ImageRecord, names: Iterable[str | DisplayWindow], *, level: float = 0.0,
                   width: float = 0.0) -> tuple[DisplayWindow, ...]:
    """Return the windows to show for ``record``: each of ``names``, then a custom window when ``width`` > 0.

    Parameters
    ----------
    record : ImageRecord
    names : iterable of str or DisplayWindow
        Names or windows, each resolved by :func:`window_for`.
    level, width : float
        Level and width of an extra custom window, in the record's units. A width of 0 adds none.

    Raises
    ------
    ValidationError
        As :func:`window_for`; if ``width`` is negative or not finite; if ``level`` is set while
        ``width`` is 0; or if no window is left.
    """
    windows = [window_for(record, name) for name in names]
    if width != 0:
        windows.append(custom(level, width, units=record.units))
    elif level != 0:
        raise ValidationError(f"a custom window with level {level:g} needs a width greater than 0, got width 0; "
                              "set the width, or set the level to 0 for no custom window", field="width",
                              value=width)
    if not windows:
        raise ValidationError(f"no display window was selected; give at least one of {', '.join(WINDOW_NAMES)}, "
                              "or a custom level and width", field="presets", value="")
    return tuple(windows)


def _name(record: ImageRecord) -> str:
    # ``source`` is a base file name or "<bytes>", never a path (see ImageRecord).
    return record.source or "the image"


def _modality_clause(record: ImageRecord) -> str:
    return f" (modality {record.modality})" if record.modality else ""
