"""Controls to move through the slices or frames of an image record and change its display window."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from workbench.errors import WorkbenchError
from workbench.modality.plots import plot_windowed_views, select_plane, stack_length
from workbench.modality.record import ImageRecord
from workbench.modality.windows import AUTO, HOUNSFIELD_UNITS, PRESETS, auto_window, custom

#: Window picker value that takes the level and width from the two number fields.
CUSTOM = "custom"


def modality_controls(record: ImageRecord, *, window: str = AUTO, index: int | None = None) -> widgets.VBox:
    """Return a slice slider, a window picker and level and width fields that redraw one view of ``record``.

    The slider runs over the stacking axis (frames, slices or ``k``) and is disabled for a single plane.
    The picker offers the CT presets only when the record is in Hounsfield units, plus ``auto`` and
    ``custom``. The level and width fields apply to ``custom`` only and start at the auto window. An
    invalid choice, such as a width of 0, prints the error under the controls instead of raising.
    """
    count = stack_length(record)
    start = select_plane(record, index).index
    slider = widgets.IntSlider(value=start, min=0, max=count - 1, description=_axis_label(record),
                               continuous_update=False, disabled=count == 1)

    options = [*PRESETS, AUTO, CUSTOM] if record.units == HOUNSFIELD_UNITS else [AUTO, CUSTOM]
    picker = widgets.Dropdown(options=options, value=window if window in options else AUTO, description="Window")
    automatic = auto_window(record)
    level_field = widgets.FloatText(value=automatic.level, description="Level")
    width_field = widgets.FloatText(value=automatic.width, description="Width")
    output = widgets.Output()

    def redraw(_: dict | None = None) -> None:
        level_field.disabled = width_field.disabled = picker.value != CUSTOM
        output.clear_output(wait=True)
        with output:
            try:
                chosen = picker.value
                if chosen == CUSTOM:
                    chosen = custom(level_field.value, width_field.value, units=record.units)
                figure = plot_windowed_views(record, [chosen], index=slider.value)
            except WorkbenchError as exc:
                print(f"error: {exc}")
                return
            display(figure)
            plt.close(figure)

    for control in (slider, picker, level_field, width_field):
        control.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([slider, picker]), widgets.HBox([level_field, width_field]), output])


def _axis_label(record: ImageRecord) -> str:
    """Return the slider label: the name of the stacking axis, such as ``slice``."""
    axis = select_plane(record).axis
    return axis or "plane"
