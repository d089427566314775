"""Matplotlib figures for monitoring reports: reference against current, and metrics over time."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from workbench.monitoring.baseline import BaselineStatistics
from workbench.monitoring.drift import DriftReport
from workbench.monitoring.features import CATEGORICAL, category_counts

REFERENCE_COLOUR = "#4c72b0"
CURRENT_COLOUR = "#dd8452"


def plot_feature_distributions(
    baseline: BaselineStatistics,
    current: pd.DataFrame,
    report: DriftReport,
    features: Sequence[str] | None = None,
    *,
    columns: int = 3,
) -> Figure | None:
    """Draw reference against current for each feature: histograms for numeric, shares for categorical.

    By default the drifted features are drawn; returns None when there is nothing to draw. The first
    panel and every categorical panel have a reference/current legend.
    """
    names = list(features) if features is not None else report.drifted_features
    if not names:
        return None
    rows = math.ceil(len(names) / columns)
    figure, axes = plt.subplots(rows, min(columns, len(names)), figsize=(4.2 * min(columns, len(names)), 3.2 * rows),
                                squeeze=False)
    for index, (axis, name) in enumerate(zip(axes.flat, names, strict=False)):
        feature = baseline.features[name]
        result = report[name]
        categorical = feature.kind == CATEGORICAL
        if categorical:
            _draw_categories(axis, feature.frequencies, category_counts(current[name]))
        else:
            _draw_histograms(axis, feature.sample, pd.to_numeric(current[name], errors="coerce").dropna().to_numpy())
        pvalue = "–" if result.pvalue_adjusted is None else f"{result.pvalue_adjusted:.2g}"
        axis.set_title(f"{name}\n{result.status}, adjusted p {pvalue}", fontsize=9)
        if (index == 0 or categorical) and axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=8)
    for axis in list(axes.flat)[len(names):]:
        axis.set_visible(False)
    figure.tight_layout()
    return figure


def plot_metric_history(
    history: pd.DataFrame,
    baseline_metrics: dict[str, float | None],
    metrics: Sequence[str] = ("accuracy", "recall", "f1", "roc_auc"),
    *,
    tolerance: float | None = None,
) -> Figure | None:
    """Draw each metric per period against its baseline value, with the tolerance band below it.

    Metrics missing from ``history`` or without a value in any period are left out. Returns None when
    none is left, as when the history has no labelled period.
    """
    present = [metric for metric in metrics if metric in history.columns and history[metric].notna().any()]
    if history.empty or not present:
        return None
    figure, axes = plt.subplots(1, len(present), figsize=(4.4 * len(present), 3.2), squeeze=False)
    for axis, metric in zip(axes.flat, present, strict=True):
        axis.plot(history["period_start"], history[metric], marker="o", color=CURRENT_COLOUR, label="per period")
        reference = baseline_metrics.get(metric)
        if reference is not None:
            axis.axhline(reference, color=REFERENCE_COLOUR, linestyle="--", label="baseline")
            if tolerance:
                axis.axhspan(reference - tolerance, reference, color=REFERENCE_COLOUR, alpha=0.12,
                             label="tolerance")
        axis.set_title(metric, fontsize=10)
        axis.set_xlabel("period start", fontsize=8)
        axis.tick_params(axis="x", labelrotation=45, labelsize=8)
    axes.flat[0].legend(fontsize=8)
    figure.tight_layout()
    return figure


def _draw_histograms(axis: plt.Axes, reference: np.ndarray | None, current: np.ndarray) -> None:
    reference = np.empty(0) if reference is None else reference
    pooled = np.concatenate([reference, current])
    if pooled.size == 0:
        axis.text(0.5, 0.5, "no valid values", ha="center", va="center", transform=axis.transAxes)
        return
    edges = np.histogram_bin_edges(pooled, bins=30)
    axis.hist(reference, bins=edges, density=True, alpha=0.55, color=REFERENCE_COLOUR, label="reference")
    if current.size:
        axis.hist(current, bins=edges, density=True, alpha=0.55, color=CURRENT_COLOUR, label="current")
    axis.set_xlabel("feature value")
    axis.set_ylabel("density")


def _draw_categories(axis: plt.Axes, reference: dict[str, int], current: dict[str, int]) -> None:
    categories = sorted(set(reference) | set(current))
    positions = np.arange(len(categories))
    reference_total = max(sum(reference.values()), 1)
    current_total = max(sum(current.values()), 1)
    axis.bar(positions - 0.2, [reference.get(key, 0) / reference_total for key in categories], width=0.4,
             color=REFERENCE_COLOUR, label="reference")
    axis.bar(positions + 0.2, [current.get(key, 0) / current_total for key in categories], width=0.4,
             color=CURRENT_COLOUR, label="current")
    axis.set_xticks(positions, categories, fontsize=8)
    axis.set_xlabel("category")
    axis.set_ylabel("share")
