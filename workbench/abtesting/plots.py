"""Matplotlib figures for A/B testing reports: lifts with their intervals, and the lift over time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from workbench.abtesting.analysis import ExperimentResults
from workbench.abtesting.results import Lift
from workbench.abtesting.tables import decision_lift

TREATMENT_BETTER_COLOUR = "#55a868"
CONTROL_BETTER_COLOUR = "#c44e52"
NOT_SIGNIFICANT_COLOUR = "#8c8c8c"
#: Colours of the treatments in the lift-over-time plot, in treatment order.
TREATMENT_COLOURS = ("#4c72b0", "#dd8452", "#8172b3", "#937860", "#da8bc3")

_VERDICT_LABELS = {
    "treatment": ("treatment significantly better", TREATMENT_BETTER_COLOUR),
    "control": ("control significantly better", CONTROL_BETTER_COLOUR),
    None: ("not significant", NOT_SIGNIFICANT_COLOUR),
}


def plot_lifts(results: ExperimentResults) -> Figure | None:
    """Draw each treatment's absolute lift with its interval, one panel per metric (primary first).

    The point is treatment minus control and the bar is the interval the decision uses: fixed-horizon
    in fixed mode, the confidence sequence in sequential mode. Colours show the verdict after Holm's
    correction. A treatment without an estimate is left out of its panel, and a metric without any
    estimate gets no panel. An interval that is missing, infinite or does not contain the estimate is
    not drawn, only its point. Returns None when no panel is left.
    """
    experiment = results.experiment
    comparisons = [(experiment.primary_metric, "primary", results.primary)]
    comparisons += [(metric, "guardrail", results.guardrails[metric.name]) for metric in experiment.guardrail_metrics]
    panels = [(metric, role, comparison) for metric, role, comparison in comparisons
              if any(decision_lift(result.comparison).estimate is not None for result in comparison.treatments)]
    if not panels:
        return None

    treatments = [variant.name for variant in experiment.treatments]
    height = 2.4 + 0.5 * len(treatments)
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), height), squeeze=False)
    verdicts: set[str | None] = set()
    for axis, (metric, role, comparison) in zip(axes.flat, panels, strict=True):
        for row, result in enumerate(comparison.treatments):
            lift = decision_lift(result.comparison)
            if lift.estimate is None:
                continue
            verdicts.add(result.winner)
            colour = _VERDICT_LABELS[result.winner][1]
            error = _interval_error(lift)
            axis.errorbar(lift.estimate, row, xerr=error, fmt="o", color=colour, capsize=4)
        axis.axvline(0.0, color="black", linewidth=0.8)
        axis.set_yticks(range(len(treatments)), treatments, fontsize=8)
        axis.set_ylim(len(treatments) - 0.5, -0.5)
        better = "higher" if metric.direction == "increase" else "lower"
        axis.set_title(f"{metric.name} ({role}, {better} is better)", fontsize=9)
        axis.set_xlabel("absolute lift (treatment − control)", fontsize=8)
    handles = [Line2D([], [], marker="o", linestyle="", color=_VERDICT_LABELS[verdict][1],
                      label=_VERDICT_LABELS[verdict][0]) for verdict in ("treatment", "control", None)
               if verdict in verdicts]
    axes.flat[0].legend(handles=handles, fontsize=8, loc="best")
    figure.tight_layout()
    return figure


def plot_cumulative_lift(frame: pd.DataFrame, *, metric: str | None = None, mode: str = "fixed") -> Figure | None:
    """Draw each treatment's lift on the units exposed up to each period end, with its interval as a band.

    ``frame`` is what :func:`~workbench.abtesting.analysis.cumulative_lift` returns. With
    ``mode="sequential"`` the band is labelled as a confidence sequence, which is valid at every period.
    Otherwise it is a fixed-horizon interval, valid only at a look planned in advance. ``metric`` names
    the primary metric in the axis label. Returns None when the frame has no estimate to draw.
    """
    if frame.empty:
        return None
    estimates = pd.to_numeric(frame["estimate"], errors="coerce")
    if estimates.notna().sum() == 0:
        return None

    band = "confidence sequence" if mode == "sequential" else "fixed-horizon interval"
    figure, axis = plt.subplots(figsize=(7.6, 3.6))
    for index, (name, rows) in enumerate(frame.groupby("treatment", sort=False)):
        colour = TREATMENT_COLOURS[index % len(TREATMENT_COLOURS)]
        ends = pd.to_datetime(rows["period_end"], utc=True)
        lower = pd.to_numeric(rows["lower"], errors="coerce").to_numpy(dtype=float)
        upper = pd.to_numeric(rows["upper"], errors="coerce").to_numpy(dtype=float)
        axis.plot(ends, pd.to_numeric(rows["estimate"], errors="coerce"), marker="o", markersize=3, color=colour,
                  label=f"{name}: lift")
        axis.fill_between(ends, lower, upper, where=~(np.isnan(lower) | np.isnan(upper)), color=colour, alpha=0.18,
                          label=f"{name}: {band}")
    axis.axhline(0.0, color="black", linewidth=0.8, linestyle="--", label="no difference")
    axis.set_xlabel("period end (UTC)", fontsize=8)
    axis.set_ylabel(f"absolute lift{'' if metric is None else f' of {metric}'}", fontsize=8)
    axis.tick_params(axis="x", labelrotation=45, labelsize=8)
    axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def _interval_error(lift: Lift) -> list[list[float]] | None:
    """Return matplotlib's ``xerr`` for the interval of ``lift``, or None when it cannot be drawn."""
    bounds = (lift.lower, lift.upper)
    if any(bound is None or not np.isfinite(bound) for bound in bounds):
        return None
    if not lift.lower <= lift.estimate <= lift.upper:
        return None
    return [[lift.estimate - lift.lower], [lift.upper - lift.estimate]]
