"""The figures of the A/B testing report: lifts with intervals, and the primary metric's lift over time."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from workbench.abtesting import Experiments
from workbench.abtesting.plots import (
    CONTROL_BETTER_COLOUR,
    NOT_SIGNIFICANT_COLOUR,
    TREATMENT_BETTER_COLOUR,
    plot_cumulative_lift,
    plot_lifts,
)
from workbench.abtesting.simulation import simulate_experiment
from workbench.abtesting.tables import analyse_experiment, decision_lift
from workbench.store import open_store

EXPERIMENT_ID = "lesion-classifier-v1-vs-v2"


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory) -> Experiments:
    """A store with a simulated experiment: the treatment is clearly more often correct, but slower."""
    folder = tmp_path_factory.mktemp("plots")
    experiments = Experiments(open_store(f"sqlite:///{(folder / 'store.db').as_posix()}"))
    experiments.registry.register("lesion-classifier", 1, stage="production")
    experiments.registry.register("lesion-classifier", 2)
    simulate_experiment(experiments, EXPERIMENT_ID, "lesion-classifier:1", "lesion-classifier:2", units=1_000,
                        days=4, correct_rates=(0.75, 0.92), latency_means_ms=(110.0, 125.0), seed=3)
    return experiments


@pytest.fixture(scope="module")
def report(experiments):
    return analyse_experiment(experiments, EXPERIMENT_ID)


@pytest.fixture(scope="module")
def sequential_report(experiments):
    return analyse_experiment(experiments, EXPERIMENT_ID, mode="sequential")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _legend_labels(axis) -> list[str]:
    legend = axis.get_legend()
    return [] if legend is None else [text.get_text() for text in legend.get_texts()]


def _opened_figures(draw) -> tuple[Figure | None, int]:
    before = set(plt.get_fignums())
    figure = draw()
    return figure, len(set(plt.get_fignums()) - before)


def test_lifts_one_figure(report):
    results = report.results

    figure, opened = _opened_figures(lambda: plot_lifts(results))

    assert isinstance(figure, Figure)
    assert opened == 1


def test_lifts_closed_figure(report):
    figure = plot_lifts(report.results)

    plt.close(figure)

    assert figure.number not in plt.get_fignums()


def test_lifts_panel_per_metric(report):
    figure = plot_lifts(report.results)

    titles = [axis.get_title() for axis in figure.axes]
    assert titles == ["correct (primary, higher is better)", "latency_ms (guardrail, lower is better)"]


def test_lifts_point_at_estimate(report):
    results = report.results

    figure = plot_lifts(results)

    point = figure.axes[0].lines[0].get_xdata()[0]
    assert point == pytest.approx(decision_lift(results.primary["treatment"].comparison).estimate)


def test_lifts_primary_colour(report):
    figure = plot_lifts(report.results)

    assert figure.axes[0].lines[0].get_color() == TREATMENT_BETTER_COLOUR


def test_lifts_legend(report):
    figure = plot_lifts(report.results)

    assert _legend_labels(figure.axes[0]) == ["treatment significantly better", "control significantly better"]


def test_lifts_guardrail_colour(report):
    figure = plot_lifts(report.results)

    assert figure.axes[1].lines[0].get_color() == CONTROL_BETTER_COLOUR


def test_lifts_not_significant_colour(experiments):
    # The fixture's adjusted p-values are 2.1e-15 (correct) and 3.3e-12 (latency), both above alpha 1e-18.
    results = analyse_experiment(experiments, EXPERIMENT_ID, alpha=1e-18).results

    figure = plot_lifts(results)

    assert figure.axes[0].lines[0].get_color() == NOT_SIGNIFICANT_COLOUR
    assert _legend_labels(figure.axes[0]) == ["not significant"]


def test_lifts_sequential_interval(sequential_report):
    results = sequential_report.results
    sequence = results.primary["treatment"].comparison.sequential.absolute_lift

    figure = plot_lifts(results)

    # errorbar draws the interval as one LineCollection segment from lower to upper.
    segment = figure.axes[0].collections[0].get_segments()[0]
    assert segment[0][0] == pytest.approx(sequence.lower)
    assert segment[1][0] == pytest.approx(sequence.upper)


def test_lifts_point_without_infinite_interval(experiments):
    # At alpha 1e-20, 1 - alpha/2 rounds to 1.0 and the Welch interval of the latency has infinite bounds.
    results = analyse_experiment(experiments, EXPERIMENT_ID, alpha=1e-20).results
    assert not np.isfinite(results.guardrails["latency_ms"]["treatment"].comparison.absolute_lift.lower)

    figure = plot_lifts(results)

    # errorbar draws the interval as a LineCollection, so a point without an interval adds none.
    assert len(figure.axes[1].collections) == 0
    assert len(figure.axes[0].collections) == 1


def test_lifts_none_without_outcomes(tmp_path):
    experiments = Experiments(open_store(f"sqlite:///{(tmp_path / 'store.db').as_posix()}"))
    experiments.registry.register("lesion-classifier", 1)
    experiments.registry.register("lesion-classifier", 2)
    experiments.create("no-outcomes", ["lesion-classifier:1", "lesion-classifier:2"])
    experiments.assign_many("no-outcomes", [f"unit-{index}" for index in range(40)])

    figure, opened = _opened_figures(lambda: plot_lifts(analyse_experiment(experiments, "no-outcomes").results))

    assert figure is None
    assert opened == 0


def test_cumulative_one_figure(report):
    frame = report.lift_over_time

    figure, opened = _opened_figures(lambda: plot_cumulative_lift(frame, metric="correct"))

    assert isinstance(figure, Figure)
    assert opened == 1


def test_cumulative_line_per_period(report):
    frame = report.lift_over_time

    figure = plot_cumulative_lift(frame)

    estimate_line = figure.axes[0].lines[0]
    assert len(estimate_line.get_ydata()) == 4
    assert np.allclose(estimate_line.get_ydata(), frame["estimate"].astype(float))


def test_cumulative_fixed_legend(report):
    frame = report.lift_over_time

    figure = plot_cumulative_lift(frame)

    assert _legend_labels(figure.axes[0]) == ["treatment: lift", "treatment: fixed-horizon interval",
                                              "no difference"]


def test_cumulative_sequential_legend(sequential_report):
    frame = sequential_report.lift_over_time

    figure = plot_cumulative_lift(frame, mode="sequential")

    assert "treatment: confidence sequence" in _legend_labels(figure.axes[0])


def test_cumulative_zero_line(report):
    figure = plot_cumulative_lift(report.lift_over_time)

    zero_line = figure.axes[0].lines[-1]
    assert list(zero_line.get_ydata()) == [0.0, 0.0]


def test_cumulative_axis_label(report):
    frame = report.lift_over_time

    figure = plot_cumulative_lift(frame, metric="correct")

    assert figure.axes[0].get_ylabel() == "absolute lift of correct"


def test_cumulative_line_per_treatment():
    ends = pd.date_range("2026-03-03", periods=3, freq="D", tz="UTC")
    frame = pd.DataFrame({
        "period_end": list(ends) * 2,
        "treatment": ["treatment-1"] * 3 + ["treatment-2"] * 3,
        "estimate": [0.01, 0.02, 0.03, -0.01, None, -0.02],
        "lower": [-0.05, -0.02, 0.0, -0.06, None, -0.05],
        "upper": [0.07, 0.06, 0.06, 0.04, None, 0.01],
    })

    figure = plot_cumulative_lift(frame)

    assert _legend_labels(figure.axes[0])[::2] == ["treatment-1: lift", "treatment-2: lift", "no difference"]


def test_cumulative_none_for_empty_frame():
    frame = pd.DataFrame(columns=["period_end", "treatment", "estimate", "lower", "upper"])

    figure, opened = _opened_figures(lambda: plot_cumulative_lift(frame))

    assert figure is None
    assert opened == 0


def test_cumulative_none_without_estimates():
    frame = pd.DataFrame({"period_end": pd.to_datetime(["2026-03-03"], utc=True), "treatment": ["treatment"],
                          "estimate": [None], "lower": [None], "upper": [None]})

    assert plot_cumulative_lift(frame) is None
