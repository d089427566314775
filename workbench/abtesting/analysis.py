"""Results of an experiment's phase: counts per variant, the sample ratio check, tests, lifts and the decision.

The unit of analysis is the unit of assignment (a user or a patient pseudonym): each exposed unit counts
once, with its latest outcome of each metric. The steps, in order:

1. Count the exposed units per variant and check the sample ratio against the phase's weights
   (:func:`~workbench.abtesting.srm.sample_ratio_mismatch`). A flagged mismatch means assignment or
   logging is broken, so no winner is picked whatever the tests show.
2. Compare every treatment with the control on the primary metric and on each guardrail metric
   (:func:`~workbench.abtesting.multitest.compare_variants`, with Holm's correction over the treatments),
   in the experiment's mode: fixed-horizon tests, or always-valid confidence sequences.
3. Decide: a treatment wins when it is significantly better on the primary metric and no guardrail
   metric is significantly worse for it. Of several such treatments, the one with the largest lift wins.
   The control wins when every treatment is significantly worse. Otherwise there is no winner, and the
   decision gives the reasons.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from workbench.abtesting.experiment import Experiment, Metric, Phase
from workbench.abtesting.multitest import VariantsComparison, compare_variants
from workbench.abtesting.results import OK
from workbench.abtesting.sequential import SequentialSettings
from workbench.abtesting.srm import SampleRatioCheck, sample_ratio_mismatch
from workbench.errors import SmallSampleWarning


@dataclass(frozen=True)
class Decision:
    """The winner of a phase, or None, and every reason behind it."""

    winner: str | None
    model_id: str | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"winner": self.winner, "model_id": self.model_id, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class ExperimentResults:
    """Everything :func:`analyse` found about one phase of an experiment."""

    experiment: Experiment
    phase: Phase
    exposures: dict[str, int]
    srm: SampleRatioCheck
    primary: VariantsComparison
    guardrails: dict[str, VariantsComparison]
    variants: pd.DataFrame
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "experiment_id": self.experiment.experiment_id,
            "status": self.experiment.status,
            "mode": self.experiment.mode,
            "alpha": self.experiment.alpha,
            "sequential": self._sequential_settings(),
            "phase": self.phase.to_dict() | {"started_at": self.phase.started_at.isoformat(),
                                             "ended_at": None if self.phase.ended_at is None
                                             else self.phase.ended_at.isoformat(),
                                             "coverage_changes": [[at.isoformat(), value] for at, value
                                                                  in self.phase.coverage_changes]},
            "exposures": dict(self.exposures),
            "srm": self.srm.to_dict(),
            "primary_metric": self.experiment.primary_metric.to_dict() | {"comparison": self.primary.to_dict()},
            "guardrail_metrics": [metric.to_dict() | {"comparison": self.guardrails[metric.name].to_dict()}
                                  for metric in self.experiment.guardrail_metrics],
            "variants": _records(self.variants),
            "decision": self.decision.to_dict(),
        }

    def to_text(self) -> str:
        """Return a plain-text summary for the command line."""
        experiment = self.experiment
        lines = [(f"experiment {experiment.experiment_id} ({experiment.status}), phase {self.phase.index}, "
                 f"{experiment.mode} mode, alpha {experiment.alpha:g}")]
        srm = self.srm
        srm_text = srm.reason if srm.pvalue is None else f"p = {srm.pvalue:.3g}"
        lines.append(f"sample ratio check: {'FLAGGED' if srm.flagged else 'passed'} ({srm_text})")
        lines.append(self.variants.to_string(index=False, float_format=lambda value: f"{value:.4g}"))
        lines.append(f"primary metric {experiment.primary_metric.name}:")
        lines += [_treatment_line(result) for result in self.primary.treatments]
        for name, comparison in self.guardrails.items():
            lines.append(f"guardrail {name}:")
            lines += [_treatment_line(result) for result in comparison.treatments]
        winner = self.decision.winner
        lines.append(f"decision: {'no winner' if winner is None else f'{winner} wins ({self.decision.model_id})'}")
        lines += [f"  - {reason}" for reason in self.decision.reasons]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(f"<li>{reason}</li>" for reason in self.decision.reasons)
        winner = self.decision.winner or "no winner"
        return (f"<h4>{self.experiment.experiment_id}, phase {self.phase.index}: {winner}</h4><ul>{rows}</ul>"
                + self.variants.to_html(index=False, float_format=lambda value: f"{value:.4g}"))

    def _sequential_settings(self) -> dict[str, Any] | None:
        if self.experiment.mode != "sequential":
            return None
        return SequentialSettings(tuning=self.experiment.sequential_tuning).to_dict()


def analyse(experiment: Experiment, phase: Phase, exposures: pd.DataFrame, outcomes: pd.DataFrame) -> ExperimentResults:
    """Return the results of one phase from its exposures and outcomes (see the module notes).

    ``exposures`` has the store's exposure columns and ``outcomes`` its outcome columns, both limited to
    the phase.
    """
    names = [variant.name for variant in experiment.variants]
    counts = exposures["variant"].value_counts().reindex(names, fill_value=0)
    exposed = {name: int(count) for name, count in counts.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        srm = sample_ratio_mismatch(list(exposed.values()), list(phase.weights))

    comparisons = {metric.name: compare_metric(experiment, metric, exposures, outcomes)
                   for metric in experiment.metrics}
    primary = comparisons.pop(experiment.primary_metric.name)
    decision = decide(experiment, srm, primary, comparisons)
    table = variant_table(experiment, phase, exposed, exposures, outcomes)
    return ExperimentResults(experiment, phase, exposed, srm, primary, comparisons, table, decision)


def compare_metric(experiment: Experiment, metric: Metric, exposures: pd.DataFrame,
                   outcomes: pd.DataFrame) -> VariantsComparison:
    """Compare every treatment with the control on one metric, one value per exposed unit."""
    values = unit_values(metric, exposures, outcomes)
    data = {}
    for variant in experiment.variants:
        observed = values.loc[values["variant"] == variant.name, "value"].to_numpy(dtype=float)
        data[variant.name] = (int(observed.sum()), len(observed)) if metric.kind == "binary" else observed
    sequential = SequentialSettings(tuning=experiment.sequential_tuning) if experiment.mode == "sequential" else None
    control = data.pop(experiment.control.name)
    with warnings.catch_warnings():
        # An experiment is read at every look, small or not; each result states its own status and reason.
        warnings.simplefilter("ignore", SmallSampleWarning)
        return compare_variants(control, data, metric=metric.kind, alpha=experiment.alpha, sequential=sequential,
                                direction=metric.direction, correction=experiment.correction)


def unit_values(metric: Metric, exposures: pd.DataFrame, outcomes: pd.DataFrame) -> pd.DataFrame:
    """Return ``unit_id``, ``variant`` and ``value`` of a metric: one row per counted unit.

    Exposed units without an outcome are left out or count as 0, as the metric's ``missing`` sets.
    Outcomes of units without an exposure in the phase are ignored.
    """
    units = exposures[["unit_id", "variant"]].drop_duplicates("unit_id")
    measured = outcomes.loc[outcomes["metric"] == metric.name, ["unit_id", "value", "timestamp"]]
    latest = measured.sort_values("timestamp").drop_duplicates("unit_id", keep="last")[["unit_id", "value"]]
    how = "inner" if metric.missing == "exclude" else "left"
    joined = units.merge(latest, on="unit_id", how=how)
    joined["value"] = joined["value"].fillna(0.0).astype(float)
    return joined


def decide(experiment: Experiment, srm: SampleRatioCheck, primary: VariantsComparison,
           guardrails: dict[str, VariantsComparison]) -> Decision:
    """Pick the winner of a phase, or none, with the reasons (see the module notes)."""
    reasons: list[str] = []
    if srm.flagged:
        return Decision(None, None, ((f"sample ratio mismatch (p = {srm.pvalue:.3g} < {srm.threshold:g}): the exposed "
                                     "units per variant do not follow the weights, so assignment or exposure logging "
                                     "is broken; no winner can be trusted"),))

    candidates = []
    for result in primary.treatments:
        harmed = [name for name, comparison in guardrails.items() if comparison[result.name].winner == "control"]
        if result.winner == "treatment" and harmed:
            reasons.append(f"{result.name} is significantly better on {experiment.primary_metric.name} but "
                           f"significantly worse on guardrail {', '.join(harmed)}")
        elif result.winner == "treatment":
            candidates.append(result)
        else:
            reasons.append(f"{result.name}: {result.reason}")

    if candidates:
        best = max(candidates, key=lambda result: _improvement(result, experiment.primary_metric))
        variant = experiment.variant(best.name)
        why = (f"{best.name} is significantly better than {experiment.control.name} on "
               f"{experiment.primary_metric.name} (adjusted p = {best.adjusted_pvalue:.3g}, {primary.mode} mode) and "
               "no guardrail metric is significantly worse")
        return Decision(best.name, variant.model_id, (why, *reasons))
    if primary.treatments and all(result.winner == "control" for result in primary.treatments):
        control = experiment.control
        return Decision(control.name, control.model_id,
                        ((f"every treatment is significantly worse than {control.name} on "
                         f"{experiment.primary_metric.name}"),))
    return Decision(None, None, tuple(reasons) or ("no treatment is significantly better",))


def variant_table(experiment: Experiment, phase: Phase, exposed: dict[str, int], exposures: pd.DataFrame,
                  outcomes: pd.DataFrame) -> pd.DataFrame:
    """Return one row per variant: model, weight, exposed units, and units counted and mean of each metric."""
    rows = []
    for variant, weight in zip(experiment.variants, phase.weights, strict=True):
        rows.append({"variant": variant.name, "model_id": variant.model_id, "weight": weight,
                     "exposed": exposed[variant.name]})
    frame = pd.DataFrame(rows)
    for metric in experiment.metrics:
        values = unit_values(metric, exposures, outcomes)
        grouped = values.groupby("variant")["value"]
        frame[f"{metric.name} units"] = frame["variant"].map(grouped.size()).fillna(0).astype(int)
        frame[f"{metric.name} mean"] = frame["variant"].map(grouped.mean()).astype(float)
    return frame


def cumulative_lift(experiment: Experiment, exposures: pd.DataFrame, outcomes: pd.DataFrame, *,
                    freq: str = "D") -> pd.DataFrame:
    """Return the primary metric's lift of each treatment over time, on the units exposed up to each period end.

    One row per period end and treatment, with the absolute lift, its interval and the units counted per
    variant. In sequential mode the interval is a confidence sequence, which stays valid at every period.
    Otherwise it is a fixed-horizon interval, which is valid only at one planned look. Outcomes are those
    known now.
    """
    columns = ["period_end", "treatment", "estimate", "lower", "upper", "control_units", "treatment_units", "status"]
    if exposures.empty:
        return pd.DataFrame(columns=columns)
    times = exposures["timestamp"]
    ends = pd.date_range(times.min().floor(freq), times.max().floor(freq), freq=freq, tz="UTC") + pd.tseries.frequencies.to_offset(freq)
    rows = []
    for end in ends:
        comparison = compare_metric(experiment, experiment.primary_metric, exposures[times < end], outcomes)
        for result in comparison.treatments:
            lift = result.comparison.absolute_lift
            if result.comparison.sequential is not None:
                lift = result.comparison.sequential.absolute_lift
            rows.append({"period_end": end, "treatment": result.name, "estimate": lift.estimate,
                         "lower": lift.lower, "upper": lift.upper,
                         "control_units": _units(result.comparison.control),
                         "treatment_units": _units(result.comparison.treatment),
                         "status": result.comparison.status})
    return pd.DataFrame(rows, columns=columns)


def _improvement(result: Any, metric: Metric) -> float:
    estimate = result.comparison.absolute_lift.estimate or 0.0
    return estimate if metric.direction == "increase" else -estimate


def _treatment_line(result: Any) -> str:
    """Return one line per treatment, with the interval and p-value that the decision used."""
    comparison = result.comparison
    if comparison.status != OK:
        return f"  {result.name}: {comparison.status} ({comparison.reason})"

    if comparison.sequential is not None:
        # Sequential mode decides on the confidence sequence and its always-valid p-value.
        lift, kind, pvalue = comparison.sequential.absolute_lift, "confidence sequence", comparison.sequential.pvalue
        test = "always-valid"
    else:
        lift, kind, pvalue = comparison.absolute_lift, "interval", comparison.pvalue
        test = getattr(comparison, "test", None) or "test"
    bounds = "" if lift.lower is None else f", {kind} [{lift.lower:+.4g}, {lift.upper:+.4g}]"
    adjusted = "" if result.adjusted_pvalue is None else f", Holm-adjusted p = {result.adjusted_pvalue:.3g}"
    return (f"  {result.name}: lift {lift.estimate:+.4g}{bounds}, {test} p = {pvalue:.3g}{adjusted}"
            f"{', significant' if result.significant else ''}")


def _units(summary: Any) -> int:
    return int(getattr(summary, "users", None) if hasattr(summary, "users") else summary.count)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cleaned = frame.astype(object).where(frame.notna(), None)
    return [{key: (value.item() if isinstance(value, np.generic) else value) for key, value in row.items()}
            for row in cleaned.to_dict("records")]
