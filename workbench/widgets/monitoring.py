"""Controls to pick a model and a window and see its monitoring status in a notebook."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import display

from workbench.errors import WorkbenchError
from workbench.monitoring.monitor import Monitor
from workbench.monitoring.plots import plot_feature_distributions


def monitoring_controls(monitor: Monitor, *, model_id: str | None = None, window: str = "last:1000") -> widgets.VBox:
    """Return a model picker, a window field and a button that shows drift, decay and drifted features.

    The check computes only: it stores no alert, so exploring windows leaves the alert log unchanged.
    """
    model_ids = [record.model_id for record in monitor.registry.list() if record.baseline is not None]
    picker = widgets.Dropdown(options=model_ids, value=model_id if model_id in model_ids else None,
                              description="Model")
    window_field = widgets.Text(value=window, description="Window",
                                placeholder="last:N, all, or START/END in ISO 8601 UTC")
    button = widgets.Button(description="Check", button_style="primary")
    output = widgets.Output()

    def show_status(_: widgets.Button) -> None:
        output.clear_output()
        with output:
            if picker.value is None:
                print("Pick a model first.")
                return
            try:
                status = monitor.status(picker.value, window_field.value, store_alerts=False)
            except WorkbenchError as exc:
                print(f"error: {exc}")
                return
            display(status)
            model = monitor.registry.get(picker.value)
            frame = monitor.load_window(picker.value, window_field.value)
            figure = plot_feature_distributions(model.baseline, frame, status.drift)
            if figure is not None:
                plt.show()

    button.on_click(show_status)
    return widgets.VBox([widgets.HBox([picker, window_field, button]), output])
