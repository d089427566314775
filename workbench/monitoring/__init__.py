"""Model monitoring: baseline statistics, data drift, decay, alerts and the monitor that records predictions."""

from __future__ import annotations

from workbench.monitoring.baseline import BaselineStatistics, FeatureBaseline, compute_baseline
from workbench.monitoring.decay import DecayReport, MetricDecay, evaluate_decay
from workbench.monitoring.drift import DriftReport, FeatureDrift, detect_drift
from workbench.monitoring.monitor import Monitor
from workbench.monitoring.status import ModelStatus, WindowSummary
from workbench.monitoring.window import Window
from workbench.monitoring.wrapper import MonitoredModel

__all__ = [
    "BaselineStatistics",
    "DecayReport",
    "DriftReport",
    "FeatureBaseline",
    "FeatureDrift",
    "MetricDecay",
    "ModelStatus",
    "Monitor",
    "MonitoredModel",
    "Window",
    "WindowSummary",
    "compute_baseline",
    "detect_drift",
    "evaluate_decay",
]
