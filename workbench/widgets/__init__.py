"""ipywidgets controls for the report notebooks in JupyterLab."""

from __future__ import annotations

from workbench.widgets.monitoring import monitoring_controls

__all__ = ["monitoring_controls"]
