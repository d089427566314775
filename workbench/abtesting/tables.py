"""Inputs and tables of the A/B testing report: a stored phase analysed with report-time settings.

:func:`analyse_experiment` reads a phase's exposures and outcomes from the store and analyses them with
:func:`~workbench.abtesting.analysis.analyse`, optionally with another significance level or mode.
Those overrides apply to this analysis only and are never written to the store. The other functions
turn an experiment or its results into pandas DataFrames and Markdown text for a notebook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from workbench.abtesting.analysis import ExperimentResults, analyse, cumulative_lift
from workbench.abtesting.experiment import Experiment, Metric, Phase
from workbench.abtesting.experiments import Experiments
from workbench.abtesting.results import OK, Lift
from workbench.errors import ValidationError

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Characters that Markdown reads as markup, escaped in text that comes from stored names and reasons.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")


@dataclass(frozen=True)
class ExperimentReport:
    """One phase of a stored experiment, analysed as the report shows it.

    Attributes
    ----------
    results : ExperimentResults
        Counts, sample ratio check, tests, lifts and decision. ``results.experiment`` carries the
        overridden alpha and mode, if any.
    lift_over_time : pandas.DataFrame
        The primary metric's lift per period end, as :func:`~workbench.abtesting.analysis.cumulative_lift`
        returns it.
    overrides : dict
        Settings that differ from the stored experiment's for this analysis (``alpha``, ``mode``), each
        mapped to ``{"stored": ..., "used": ...}``. Empty when the stored settings were used.
    first_exposure, last_exposure : datetime or None
        Time of the phase's first and last exposure, None when no unit was exposed.
    """

    results: ExperimentResults
    lift_over_time: pd.DataFrame
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    first_exposure: datetime | None = None
    last_exposure: datetime | None = None

    def facts(self) -> dict[str, Any]:
        """Return the JSON-ready facts a report run records in its manifest."""
        return {
            "experiment_id": self.results.experiment.experiment_id,
            "phase": self.results.phase.index,
            "data_window": {"start": _iso(self.first_exposure), "end": _iso(self.last_exposure)},
            "overrides": self.overrides,
            "srm_flagged": self.results.srm.flagged,
            "decision": self.results.decision.to_dict(),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values: the facts, the full results and the lift over time."""
        lifts = self.lift_over_time.astype(object).where(self.lift_over_time.notna(), None)
        records = [{key: _iso(value) if isinstance(value, datetime) else value for key, value in row.items()}
                   for row in lifts.to_dict("records")]
        return self.facts() | {"results": self.results.to_dict(), "lift_over_time": records}


def analyse_experiment(experiments: Experiments, experiment_id: str, *, phase: int | None = None,
                       alpha: float | None = None, mode: str | None = None, freq: str = "D") -> ExperimentReport:
    """Analyse one phase of a stored experiment, with alpha or mode overridden for this analysis only.

    Parameters
    ----------
    experiments : Experiments
        The store and registry to read from. Nothing is written.
    experiment_id : str
        The experiment.
    phase : int or None
        Phase index, counted from 0. A negative index counts from the end as in Python, so -1 (like
        None) is the current phase.
    alpha : float or None
        Significance level to use instead of the experiment's, between 0 and 1. None keeps the stored one.
    mode : {'fixed', 'sequential'} or None
        Mode to use instead of the experiment's. None keeps the stored one.
    freq : str
        Length of the periods of the lift over time, as a pandas offset alias such as ``"D"``.

    Returns
    -------
    ExperimentReport

    Raises
    ------
    NotFoundError
        If the experiment does not exist.
    ValidationError
        If the phase does not exist, or alpha or mode is invalid.
    """
    stored = experiments.get(experiment_id)
    chosen = _phase(stored, phase)
    changes = {name: value for name, value in (("alpha", alpha), ("mode", mode)) if value is not None}
    # Experiment validates its fields on construction, so an invalid alpha or mode raises here.
    experiment = stored.with_changes(**changes)
    overrides = {name: {"stored": getattr(stored, name), "used": value} for name, value in changes.items()
                 if getattr(stored, name) != value}

    exposures = experiments.store.fetch_exposures(experiment_id, phase=chosen.index)
    outcomes = experiments.store.fetch_outcomes(experiment_id, phase=chosen.index)
    results = analyse(experiment, chosen, exposures, outcomes)
    lift_over_time = cumulative_lift(experiment, exposures, outcomes, freq=freq)

    times = exposures["timestamp"]
    first, last = (None, None) if times.empty else (times.min().to_pydatetime(), times.max().to_pydatetime())
    return ExperimentReport(results, lift_over_time, overrides, first, last)


# Design ------------------------------------------------------------------------------------------------

def design_markdown(experiment: Experiment) -> str:
    """Return the status, mode with its parameters, alpha and correction of an experiment as Markdown.

    A stopped experiment's text adds the decision recorded when it was stopped, which may differ from
    one computed later with other settings.
    """
    mode = f"**{experiment.mode}** mode"
    if experiment.mode == "sequential":
        mode += (f" (always-valid confidence sequences, narrowest at {experiment.sequential_tuning:,} units per "
                 "variant, so the results may be read at every look)")
    else:
        mode += " (one look at a planned sample size)"
    correction = "" if experiment.correction == "none" else f", {experiment.correction} continuity correction"
    description = f"\n\n{_escape(experiment.description)}" if experiment.description else ""
    return (f"Experiment `{experiment.experiment_id}` is **{experiment.status}**, in {mode}, at significance "
            f"level alpha = {experiment.alpha:g} with Holm's correction over the treatments{correction}."
            f"{_stop_markdown(experiment)}{description}")


def variants_table(experiment: Experiment) -> pd.DataFrame:
    """Return one row per variant: its role, model id and weight in the current phase."""
    weights = experiment.current_phase.weights
    rows = [{"variant": variant.name, "role": "control" if index == 0 else "treatment", "model_id": variant.model_id,
             "weight": weight} for index, (variant, weight) in enumerate(zip(experiment.variants, weights, strict=True))]
    return pd.DataFrame(rows).set_index("variant")


def metrics_table(experiment: Experiment) -> pd.DataFrame:
    """Return one row per metric: primary or guardrail, kind, better direction and missing-outcome policy."""
    rows = [{"metric": metric.name, "role": "primary" if index == 0 else "guardrail", "kind": metric.kind,
             "better when": "higher" if metric.direction == "increase" else "lower",
             "unit without outcome": "left out" if metric.missing == "exclude" else "counts as 0"}
            for index, metric in enumerate(experiment.metrics)]
    return pd.DataFrame(rows).set_index("metric")


def phases_table(experiment: Experiment) -> pd.DataFrame:
    """Return one row per phase: start and end in UTC, coverage, and the weight of each variant."""
    rows = []
    for phase in experiment.phases:
        row: dict[str, Any] = {"phase": phase.index, "started (UTC)": phase.started_at.strftime(TIME_FORMAT),
                               "ended (UTC)": "" if phase.ended_at is None else phase.ended_at.strftime(TIME_FORMAT),
                               "coverage": phase.coverage}
        row |= {f"weight {variant.name}": weight
                for variant, weight in zip(experiment.variants, phase.weights, strict=True)}
        rows.append(row)
    return pd.DataFrame(rows).set_index("phase")


def overrides_markdown(report: ExperimentReport) -> str:
    """Return the settings this analysis overrides, with their stored values, as one Markdown sentence.

    Returns "" when the stored settings were used.
    """
    if not report.overrides:
        return ""
    changed = ", ".join(f"{name} {values['used']} (stored: {values['stored']})"
                        for name, values in report.overrides.items())
    return f"This analysis overrides {changed}. The stored experiment is unchanged."


# Results -----------------------------------------------------------------------------------------------

def exposure_markdown(report: ExperimentReport) -> str:
    """Return the phase analysed and the time of its first and last exposure as one Markdown sentence."""
    phase = report.results.phase.index
    if report.first_exposure is None:
        return f"Phase {phase}: no unit has been exposed yet."
    return (f"Phase {phase}: units were exposed from {report.first_exposure.strftime(TIME_FORMAT)} to "
            f"{report.last_exposure.strftime(TIME_FORMAT)} UTC. Each exposed unit counts once, with its latest "
            "outcome of each metric.")


def srm_markdown(results: ExperimentResults) -> str:
    """Return the outcome of the sample ratio check as one Markdown sentence."""
    srm = results.srm
    if srm.pvalue is None:
        return f"Sample ratio check not run: {_escape(srm.reason or 'no exposed units')}."
    verdict = "**FLAGGED**" if srm.flagged else "passed"
    text = (f"Sample ratio check {verdict}: chi-square {srm.statistic:.3g}, p = {srm.pvalue:.3g}; a mismatch is "
            f"flagged when p < {srm.threshold:g}.")
    if srm.flagged:
        text += " The exposed units do not follow the weights, so assignment or exposure logging is broken."
    if srm.reason:
        text += f" Note: {_escape(srm.reason)}."
    return text


def srm_table(results: ExperimentResults) -> pd.DataFrame:
    """Return one row per variant: its weight, the exposed units expected from it, and those observed."""
    srm = results.srm
    names = [variant.name for variant in results.experiment.variants]
    return pd.DataFrame({"weight": srm.weights, "expected": srm.expected, "exposed": srm.counts},
                        index=pd.Index(names, name="variant"))


def decision_lift(comparison: Any) -> Lift:
    """Return the absolute lift the decision rests on: the confidence sequence in sequential mode."""
    return comparison.absolute_lift if comparison.sequential is None else comparison.sequential.absolute_lift


def decision_pvalue(comparison: Any) -> float | None:
    """Return the p-value the decision rests on: the always-valid one in sequential mode, None without a verdict."""
    if comparison.status != OK:
        return None
    return comparison.pvalue if comparison.sequential is None else comparison.sequential.pvalue


def comparisons_table(results: ExperimentResults) -> pd.DataFrame:
    """Return one row per metric and treatment: means, lift with its interval, p-values and the verdict.

    The lift is treatment minus control, in the metric's unit (a difference of rates for a binary
    metric). Its interval and the p-value are those the decision uses: a fixed-horizon interval and the
    headline test in fixed mode, the confidence sequence and its always-valid p-value in sequential mode.
    ``adjusted p-value`` is Holm-adjusted over the treatments.
    """
    experiment = results.experiment
    rows = [_comparison_row(experiment.primary_metric, "primary", result) for result in results.primary.treatments]
    for metric in experiment.guardrail_metrics:
        rows += [_comparison_row(metric, "guardrail", result) for result in results.guardrails[metric.name].treatments]
    return pd.DataFrame(rows).set_index(["metric", "treatment"])


def bayes_table(results: ExperimentResults) -> pd.DataFrame:
    """Return the Bayesian view of a binary primary metric, one row per treatment; empty for a continuous one.

    ``chance to beat control`` is the posterior probability that the treatment is better in the metric's
    direction, and the expected losses are in the metric's unit (rate), under a uniform Beta(1, 1) prior.
    For a metric that should decrease, P(treatment better) is P(p_t < p_c) = 1 − P(p_t > p_c) and the two
    expected losses trade places.
    """
    metric = results.experiment.primary_metric
    columns = ["control rate", "treatment rate", "chance to beat control", "expected loss of choosing treatment",
               "expected loss of keeping control", "method"]
    if metric.kind != "binary":
        return pd.DataFrame(columns=columns, index=pd.Index([], name="treatment"))
    rows = {}
    for result in results.primary.treatments:
        comparison = result.comparison
        bayes = comparison.bayes
        if bayes is None:
            continue
        increase = metric.direction == "increase"
        rows[result.name] = {
            "control rate": comparison.control.conversion_rate,
            "treatment rate": comparison.treatment.conversion_rate,
            "chance to beat control": bayes.chance_to_beat_control if increase else 1 - bayes.chance_to_beat_control,
            "expected loss of choosing treatment": bayes.expected_loss_treatment if increase
            else bayes.expected_loss_control,
            "expected loss of keeping control": bayes.expected_loss_control if increase
            else bayes.expected_loss_treatment,
            "method": bayes.method,
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=columns).rename_axis("treatment")


def decision_markdown(results: ExperimentResults) -> str:
    """Return the decision as a Markdown heading line followed by its reasons as a list."""
    decision = results.decision
    if decision.winner is None:
        headline = "**Decision: no winner.**"
    else:
        model = "" if decision.model_id is None else f" (`{decision.model_id}`)"
        headline = f"**Decision: {_escape(decision.winner)} wins{model}.**"
    reasons = "\n".join(f"- {_escape(reason)}" for reason in decision.reasons)
    return f"{headline}\n\n{reasons}" if reasons else headline


def _stop_markdown(experiment: Experiment) -> str:
    recorded = experiment.decision
    if not recorded:
        return ""
    winner = recorded.get("winner")
    verdict = "no winner" if winner is None else f"{_escape(winner)} won"
    when = "" if experiment.stopped_at is None else f" on {experiment.stopped_at.strftime(TIME_FORMAT)} UTC"
    promoted = recorded.get("promoted")
    promotion = "" if promoted is None else f", and `{promoted}` was promoted to production"
    return f" It was stopped{when} with the recorded decision: {verdict} in phase {recorded.get('phase')}{promotion}."


def _comparison_row(metric: Metric, role: str, result: Any) -> dict[str, Any]:
    comparison = result.comparison
    lift = decision_lift(comparison)
    better = {"treatment": result.name, "control": "control"}.get(result.winner or "", "")
    return {
        "metric": metric.name,
        "treatment": result.name,
        "role": role,
        "control mean": _mean(comparison.control),
        "treatment mean": _mean(comparison.treatment),
        "lift": lift.estimate,
        "lift lower": lift.lower,
        "lift upper": lift.upper,
        "relative lift": comparison.relative_lift.estimate,
        "test": "confidence sequence" if comparison.sequential is not None else comparison.test,
        "p-value": decision_pvalue(comparison),
        "adjusted p-value": result.adjusted_pvalue,
        "significant": result.significant,
        "significantly better": better,
        "note": "" if comparison.status == OK else comparison.reason,
    }


def _mean(summary: Any) -> float | None:
    return summary.conversion_rate if hasattr(summary, "conversion_rate") else summary.mean


def _phase(experiment: Experiment, index: int | None) -> Phase:
    if index is None or (isinstance(index, int) and not isinstance(index, bool) and index >= 0):
        return experiment.phase(index)
    if isinstance(index, bool) or not isinstance(index, int) or -index > len(experiment.phases):
        raise ValidationError(
            f"phase={index!r} is invalid for experiment {experiment.experiment_id!r}, which has "
            f"{len(experiment.phases)} phase(s); give an index from 0 to {len(experiment.phases) - 1}, or -1 for "
            "the current phase.", field="phase", value=index)
    return experiment.phases[index]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _escape(text: str) -> str:
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)

