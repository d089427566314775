"""ipywidgets controls for the report notebooks in JupyterLab."""

from __future__ import annotations

from workbench.widgets.ab_testing import ab_testing_controls
from workbench.widgets.modality import modality_controls
from workbench.widgets.monitoring import monitoring_controls

__all__ = ["ab_testing_controls", "modality_controls", "monitoring_controls"]
