"""Controls to pick an experiment and a phase and see its A/B test results in a notebook."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from workbench.abtesting.experiments import Experiments
from workbench.abtesting.plots import plot_cumulative_lift, plot_lifts
from workbench.abtesting.tables import analyse_experiment, comparisons_table, decision_markdown, srm_markdown
from workbench.errors import WorkbenchError

#: Phase picker value for the current phase of whichever experiment is picked.
CURRENT_PHASE = -1


def ab_testing_controls(experiments: Experiments, *, experiment_id: str | None = None, phase: int = CURRENT_PHASE,
                        alpha: float | None = None, mode: str | None = None) -> widgets.VBox:
    """Return an experiment picker, a phase picker and a button that shows the results of that phase.

    ``alpha`` and ``mode``, when given, override the experiment's for the analysis shown, as in
    :func:`~workbench.abtesting.tables.analyse_experiment`. The analysis only reads: nothing is written to
    the store.
    """
    experiment_ids = [experiment.experiment_id for experiment in experiments.list()]
    picker = widgets.Dropdown(options=experiment_ids,
                              value=experiment_id if experiment_id in experiment_ids else None,
                              description="Experiment")
    phase_picker = widgets.Dropdown(description="Phase")
    button = widgets.Button(description="Analyse", button_style="primary")
    output = widgets.Output()

    def fill_phases(change: dict | None = None) -> None:
        options = [("current", CURRENT_PHASE)]
        if picker.value is not None:
            options += [(str(item.index), item.index) for item in experiments.get(picker.value).phases]
        phase_picker.options = options
        values = [value for _, value in options]
        phase_picker.value = phase if change is None and phase in values else CURRENT_PHASE

    def show_results(_: widgets.Button) -> None:
        output.clear_output()
        with output:
            if picker.value is None:
                print("Pick an experiment first.")
                return
            try:
                report = analyse_experiment(experiments, picker.value, phase=phase_picker.value, alpha=alpha,
                                            mode=mode)
            except WorkbenchError as exc:
                print(f"error: {exc}")
                return
            results = report.results
            display(Markdown(srm_markdown(results)))
            display(comparisons_table(results))
            for figure in (plot_lifts(results),
                           plot_cumulative_lift(report.lift_over_time, metric=results.experiment.primary_metric.name,
                                                mode=results.experiment.mode)):
                if figure is not None:
                    display(figure)
                    plt.close(figure)
            display(Markdown(decision_markdown(results)))

    fill_phases()
    picker.observe(fill_phases, names="value")
    button.on_click(show_results)
    return widgets.VBox([widgets.HBox([picker, phase_picker, button]), output])
