"""Create, run and stop experiments kept in a store: assignment, exposures, outcomes and the decision.

:class:`Experiments` is to experiments what :class:`~workbench.registry.Registry` is to models. Every
change is written with the revision it was based on, so two processes that change one experiment at once
cannot both succeed: the second gets a :class:`~workbench.errors.ConflictError` and may retry.

Unit ids (user ids or patient pseudonyms) are written to the store, because outcomes are joined to
exposures by them, but never to a log line or an exception message.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from workbench.abtesting.batch_hashing import assign_variants
from workbench.abtesting.experiment import (
    DEFAULT_ALPHA,
    DEFAULT_SEQUENTIAL_TUNING,
    Experiment,
    Metric,
    Variant,
    check_name,
    new_phase,
)
from workbench.abtesting.hashing import assign_variant, bucket_ranges, check_coverage
from workbench.errors import ConflictError, NotFoundError, ValidationError
from workbench.registry import Registry
from workbench.store.base import Store
from workbench.timeutil import to_utc, utc_now

if TYPE_CHECKING:
    from workbench.abtesting.analysis import Decision, ExperimentResults

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Assignment:
    """The variant a unit gets in the current phase, or why it is not enrolled."""

    experiment_id: str
    unit_id: str
    phase: int
    enrolled: bool
    variant: str | None = None
    model_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"experiment_id": self.experiment_id, "unit_id": self.unit_id, "phase": self.phase,
                "enrolled": self.enrolled, "variant": self.variant, "model_id": self.model_id, "reason": self.reason}


@dataclass(frozen=True)
class StopResult:
    """A stopped experiment, the results its decision rests on, and what was promoted and archived."""

    experiment: Experiment
    results: ExperimentResults
    promoted: str | None
    archived: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"experiment": self.experiment.to_dict(), "results": self.results.to_dict(),
                "promoted": self.promoted, "archived": list(self.archived)}

    def to_text(self) -> str:
        decision = self.results.decision
        lines = [f"stopped experiment {self.experiment.experiment_id}: "
                 + ("no winner" if decision.winner is None else f"{decision.winner} wins ({decision.model_id})")]
        lines += [f"  - {reason}" for reason in decision.reasons]
        if self.promoted is not None:
            lines.append(f"promoted {self.promoted} to production; archived {', '.join(self.archived) or 'nothing'}")
        return "\n".join(lines)


class Experiments:
    """Experiments kept in a :class:`~workbench.store.Store`, with the registry for their models.

    Parameters
    ----------
    store : Store
        Where experiments, exposures and outcomes are kept.
    registry : Registry, optional
        The registry that variant model ids must exist in, and where :meth:`stop` promotes the winner.
        Defaults to a registry over the same store.
    """

    def __init__(self, store: Store, registry: Registry | None = None) -> None:
        self.store = store
        self.registry = registry if registry is not None else Registry(store)

    # Definition --------------------------------------------------------------------------------------

    def create(
        self,
        name: str,
        variants: Sequence[Variant | Mapping[str, Any] | str],
        *,
        weights: Sequence[float] | None = None,
        coverage: float = 1.0,
        primary_metric: Metric | Mapping[str, Any] | str = "correct",
        guardrail_metrics: Sequence[Metric | Mapping[str, Any] | str] = (),
        alpha: float = DEFAULT_ALPHA,
        mode: str = "fixed",
        sequential_tuning: int = DEFAULT_SEQUENTIAL_TUNING,
        correction: str = "none",
        seed: str | None = None,
        description: str = "",
        start: bool = True,
        started_at: datetime | str | None = None,
    ) -> Experiment:
        """Define an experiment and, with ``start`` (the default), start it.

        ``variants`` lists the control first, then the treatments. A variant given as text is a model id
        from the registry, and the variants are then called ``control``, ``treatment`` (one treatment) or
        ``treatment-1``, ``treatment-2``, ... ``weights`` default to equal shares. ``seed`` defaults to
        the experiment's name, which is the seed GrowthBook uses for an experiment key, so an application
        that runs the same experiment through GrowthBook assigns every unit to the same variant.
        ``started_at`` (default: now) is when the first phase begins, for experiments backfilled or
        simulated over past times.

        Raises
        ------
        ValidationError
            If a name, weight, coverage, metric or setting is invalid, or a model id is not registered.
        ConflictError
            If an experiment with this name exists.
        """
        check_name(name, "experiment id")
        parsed = _parse_variants(variants)
        for variant in parsed:
            if variant.model_id is not None:
                self._require_model(variant.model_id)
        if weights is None:
            weights = [1.0 / len(parsed)] * len(parsed)
        now = utc_now()
        begins = now if started_at is None else to_utc(started_at, field="started_at")
        experiment = Experiment(
            experiment_id=name,
            variants=parsed,
            primary_metric=Metric.parse(primary_metric),
            guardrail_metrics=tuple(Metric.parse(metric) for metric in guardrail_metrics),
            phases=(new_phase(0, weights, coverage, seed if seed is not None else name, begins),),
            status="running" if start else "draft",
            alpha=alpha,
            mode=mode,
            sequential_tuning=sequential_tuning,
            correction=correction,
            description=description,
            created_at=now,
            started_at=begins if start else None,
        )
        if experiment.current_phase.seed == "":
            raise ValidationError("The seed is empty; give a non-empty seed or leave it out.", field="seed", value="")
        self.store.insert_experiment(experiment.to_record())
        logger.info("created experiment %s with %d variants (%s)", name, len(parsed), experiment.status)
        return self.get(name)

    def get(self, experiment_id: str) -> Experiment:
        """Return an experiment; NotFoundError lists the known ones when it does not exist."""
        record = self.store.get_experiment(experiment_id)
        if record is None:
            known = [item["experiment_id"] for item in self.store.list_experiments()]
            hint = f"known: {', '.join(known)}" if known else "no experiment exists yet"
            raise NotFoundError(f"Experiment {experiment_id!r} does not exist ({hint}). Create it with "
                                "`workbench ab create`.", kind="experiment", key=experiment_id)
        return Experiment.from_record(record)

    def list(self, status: str | None = None) -> list[Experiment]:
        """Return the experiments, all of them or those with ``status``."""
        return [Experiment.from_record(record) for record in self.store.list_experiments(status=status)]

    def start(self, experiment_id: str) -> Experiment:
        """Start a draft experiment; its first phase begins now."""
        experiment = self.get(experiment_id)
        if experiment.status != "draft":
            raise ConflictError(f"Experiment {experiment_id!r} is {experiment.status}; only a draft can be started.")
        now = utc_now()
        phase = experiment.current_phase
        started = replace(phase, started_at=now, coverage_changes=((now, phase.coverage),))
        return self._save(experiment, status="running", started_at=now, phases=(*experiment.phases[:-1], started))

    def set_weights(self, experiment_id: str, weights: Sequence[float], *, seed: str | None = None) -> Experiment:
        """Start a new phase with ``weights`` and a new seed (random unless given).

        Earlier phases are kept and analysed on their own. The coverage carries over.
        """
        experiment = self._running(experiment_id, "change its weights")
        now = utc_now()
        current = experiment.current_phase
        phase = new_phase(current.index + 1, weights, current.coverage,
                          seed if seed is not None else uuid.uuid4().hex, now)
        ended = replace(current, ended_at=now)
        updated = self._save(experiment, phases=(*experiment.phases[:-1], ended, phase))
        logger.info("experiment %s: phase %d started with weights %s", experiment_id, phase.index, list(phase.weights))
        return updated

    def set_coverage(self, experiment_id: str, coverage: float) -> Experiment:
        """Enrol a different share of units without moving any unit between variants (see the module notes)."""
        experiment = self._running(experiment_id, "change its coverage")
        coverage = check_coverage(coverage)
        current = experiment.current_phase
        changed = replace(current, coverage=coverage,
                          coverage_changes=(*current.coverage_changes, (utc_now(), coverage)))
        logger.info("experiment %s: coverage %s", experiment_id, coverage)
        return self._save(experiment, phases=(*experiment.phases[:-1], changed))

    # Assignment --------------------------------------------------------------------------------------

    def assign(self, experiment_id: str, unit_id: str, *, timestamp: datetime | str | None = None,
               record: bool = True) -> Assignment:
        """Return the variant of ``unit_id`` and, if it is enrolled and ``record`` is true, record its exposure.

        A unit gets the same variant in every process for as long as the phase lasts. A unit outside
        the coverage, or any unit of an experiment that is not running, is not enrolled and no
        exposure is recorded.
        """
        experiment = self.get(experiment_id)
        phase = experiment.current_phase
        if experiment.status != "running":
            return Assignment(experiment_id, unit_id, phase.index, False, reason=f"experiment is {experiment.status}")
        index = assign_variant(phase.seed, unit_id, phase.weights, phase.coverage)
        if index < 0:
            return Assignment(experiment_id, unit_id, phase.index, False, reason="outside the coverage")
        variant = experiment.variants[index]
        if record:
            self.store.insert_exposures([{
                "experiment_id": experiment_id, "phase": phase.index, "unit_id": unit_id, "variant": variant.name,
                "timestamp": _when(timestamp),
            }])
        return Assignment(experiment_id, unit_id, phase.index, True, variant.name, variant.model_id)

    def assign_many(self, experiment_id: str, unit_ids: Sequence[str] | np.ndarray, *,
                    timestamps: Sequence[datetime] | pd.Series | None = None, record: bool = True) -> pd.DataFrame:
        """Assign many units at once with the batch hashing path, for backfills and simulations.

        Returns one row per unit with ``unit_id``, ``variant`` (None when not enrolled) and ``model_id``,
        in the order given. The variants equal those of :meth:`assign` unit by unit.
        """
        experiment = self.get(experiment_id)
        phase = experiment.current_phase
        ids = list(unit_ids)
        if experiment.status != "running":
            indices = np.full(len(ids), -1, dtype=np.int64)
        else:
            indices = assign_variants(phase.seed, ids, phase.weights, phase.coverage)
        names = np.array([variant.name for variant in experiment.variants] + [None], dtype=object)
        models = np.array([variant.model_id for variant in experiment.variants] + [None], dtype=object)
        frame = pd.DataFrame({"unit_id": ids, "variant": pd.Series(names[indices], dtype=object),
                              "model_id": pd.Series(models[indices], dtype=object)})
        frame.insert(1, "phase", phase.index)
        if record:
            when = _timestamps(timestamps, len(ids))
            enrolled = np.flatnonzero(indices >= 0)
            self.store.insert_exposures([
                {"experiment_id": experiment_id, "phase": phase.index, "unit_id": ids[row],
                 "variant": names[indices[row]], "timestamp": when[row]} for row in enrolled])
        return frame

    def bucket_ranges(self, experiment_id: str) -> list[tuple[float, float]]:
        """Return the hash ranges of the current phase's variants, in variant order."""
        phase = self.get(experiment_id).current_phase
        return bucket_ranges(phase.weights, phase.coverage)

    # Outcomes ----------------------------------------------------------------------------------------

    def record_outcome(self, experiment_id: str, unit_id: str, value: float | bool, *, metric: str | None = None,
                       timestamp: datetime | str | None = None) -> int:
        """Record one unit's value of a metric (the primary metric by default) and return its phase.

        The outcome belongs to the latest phase in which the unit was exposed. A later outcome for the
        same unit, metric and phase replaces the earlier one, so a corrected label can be recorded again.
        """
        return int(self.record_outcomes(experiment_id, [unit_id], [value], metric=metric,
                                        timestamps=None if timestamp is None else [timestamp])["phase"].iloc[0])

    def record_prediction_outcome(self, experiment_id: str, unit_id: str, prediction: Any, label: Any, *,
                                  metric: str | None = None, timestamp: datetime | str | None = None) -> int:
        """Record whether the variant's prediction for a unit matched the label that arrived (1 or 0)."""
        return self.record_outcome(experiment_id, unit_id, _same_label(prediction, label), metric=metric,
                                   timestamp=timestamp)

    def record_outcomes(self, experiment_id: str, unit_ids: Sequence[str], values: Sequence[float | bool], *,
                        metric: str | None = None, timestamps: Sequence[datetime | str] | None = None) -> pd.DataFrame:
        """Record many outcomes of one metric; all are stored or, on any error, none.

        Returns the rows written, with the phase and variant each outcome was attributed to.
        """
        experiment = self.get(experiment_id)
        chosen = experiment.metric(metric)
        ids = list(unit_ids)
        checked = [_check_value(value, chosen, row) for row, value in enumerate(values)]
        if len(checked) != len(ids):
            raise ValidationError(f"{len(ids)} unit ids and {len(checked)} values were given; give one value per unit.",
                                  field="values", value=len(checked))
        when = _timestamps(timestamps, len(ids))

        exposures = self.store.fetch_exposures(experiment_id, unit_ids=sorted(set(ids)))
        latest = exposures.sort_values("phase").drop_duplicates("unit_id", keep="last").set_index("unit_id")
        missing = [row for row, unit in enumerate(ids) if unit not in latest.index]
        if missing:
            raise ValidationError(
                f"{len(missing)} of {len(ids)} units have no exposure in experiment {experiment_id!r} (first at "
                f"position {missing[0]}); assign a unit (`workbench ab assign`) before recording its outcome. "
                "Nothing was stored.", field="unit_id", value=missing[0])

        rows = [{"experiment_id": experiment_id, "phase": int(latest.at[unit, "phase"]), "unit_id": unit,
                 "variant": latest.at[unit, "variant"], "metric": chosen.name, "value": value, "timestamp": at}
                for unit, value, at in zip(ids, checked, when, strict=True)]
        self.store.upsert_outcomes(rows)
        return pd.DataFrame(rows, columns=["unit_id", "phase", "variant", "metric", "value", "timestamp"])

    # Results and the decision ------------------------------------------------------------------------

    def results(self, experiment_id: str, *, phase: int | None = None) -> ExperimentResults:
        """Return the results of a phase (the current one by default); see :mod:`workbench.abtesting.analysis`."""
        from workbench.abtesting.analysis import analyse

        experiment = self.get(experiment_id)
        chosen = experiment.phase(phase)
        exposures = self.store.fetch_exposures(experiment_id, phase=chosen.index)
        outcomes = self.store.fetch_outcomes(experiment_id, phase=chosen.index)
        return analyse(experiment, chosen, exposures, outcomes)

    def cumulative_lift(self, experiment_id: str, *, phase: int | None = None, freq: str = "D") -> pd.DataFrame:
        """Return the primary metric's lift per period end; see :func:`workbench.abtesting.analysis.cumulative_lift`."""
        from workbench.abtesting.analysis import cumulative_lift

        experiment = self.get(experiment_id)
        chosen = experiment.phase(phase)
        return cumulative_lift(experiment, self.store.fetch_exposures(experiment_id, phase=chosen.index),
                               self.store.fetch_outcomes(experiment_id, phase=chosen.index), freq=freq)

    def stop(self, experiment_id: str, *, promote: bool = False) -> StopResult:
        """Stop a running experiment, record the decision of its current phase and optionally promote the winner.

        With ``promote``, the winning variant's model moves to the production stage and the other
        variants' models are archived. Promotion is rejected, and the experiment keeps running, when
        there is no winner, when the winner is the control (it already serves), or when the winner has
        no model id.

        Raises
        ------
        ConflictError
            If the experiment is not running, promotion is rejected, or another process changed the
            experiment meanwhile.
        """
        experiment = self._running(experiment_id, "be stopped")
        results = self.results(experiment_id)
        decision = results.decision
        promoted, archived = (None, []) if not promote else self._promotion_plan(experiment, decision)

        now = utc_now()
        current = experiment.current_phase
        record = decision.to_dict() | {"phase": current.index, "decided_at": now, "promoted": promoted,
                                       "archived": archived}
        ended = replace(current, ended_at=now)
        stopped = self._save(experiment, status="stopped", stopped_at=now, decision=record,
                             phases=(*experiment.phases[:-1], ended))
        logger.info("stopped experiment %s: %s", experiment_id,
                    "no winner" if decision.winner is None else f"winner {decision.winner}")

        if promoted is not None:
            self.registry.set_stage(promoted, "production")
            for model_id in archived:
                self.registry.set_stage(model_id, "archived")
        return StopResult(stopped, results, promoted, tuple(archived))

    def _promotion_plan(self, experiment: Experiment, decision: Decision) -> tuple[str, list[str]]:
        rejection = None
        if decision.winner is None:
            rejection = f"there is no winner ({'; '.join(decision.reasons)})"
        elif decision.winner == experiment.control.name:
            rejection = f"the winner is the control {experiment.control.name!r}, which already serves"
        elif decision.model_id is None:
            rejection = f"the winning variant {decision.winner!r} has no model id"
        if rejection is not None:
            raise ConflictError(f"Experiment {experiment.experiment_id!r} was not stopped: promotion was rejected "
                                f"because {rejection}. Stop it without promoting, or let it run longer.")
        self._require_model(decision.model_id)
        archived = sorted({variant.model_id for variant in experiment.variants
                           if variant.model_id is not None and variant.model_id != decision.model_id})
        return decision.model_id, archived

    # Internals ---------------------------------------------------------------------------------------

    def _running(self, experiment_id: str, action: str) -> Experiment:
        experiment = self.get(experiment_id)
        if experiment.status != "running":
            raise ConflictError(f"Experiment {experiment_id!r} is {experiment.status}; only a running experiment can "
                                f"{action}.")
        return experiment

    def _save(self, experiment: Experiment, **changes: Any) -> Experiment:
        changed = experiment.with_changes(**changes).to_record()
        updates = {key: value for key, value in changed.items() if key in changes}
        stored = self.store.update_experiment(experiment.experiment_id, updates, expected_revision=experiment.revision)
        return Experiment.from_record(stored)

    def _require_model(self, model_id: str) -> None:
        if self.store.get_model(model_id) is None:
            known = [item["model_id"] for item in self.store.list_models()]
            hint = f"registered: {', '.join(known)}" if known else "no model is registered yet"
            raise ValidationError(f"Variant model {model_id!r} is not registered ({hint}); register it first with "
                                  "`workbench models register`.", field="model_id", value=model_id)


def _parse_variants(variants: Sequence[Variant | Mapping[str, Any] | str]) -> tuple[Variant, ...]:
    if isinstance(variants, str) or len(variants) < 2:
        raise ValidationError(f"variants={variants!r} is invalid; give the control first and at least one treatment, "
                              "as model ids or Variant objects.", field="variants", value=repr(variants))
    treatments = len(variants) - 1
    parsed = []
    for position, item in enumerate(variants):
        if isinstance(item, Variant):
            parsed.append(item)
        elif isinstance(item, Mapping):
            parsed.append(Variant(**dict(item)))
        elif isinstance(item, str):
            if position == 0:
                default = "control"
            elif treatments == 1:
                default = "treatment"
            else:
                default = f"treatment-{position}"
            parsed.append(Variant(default, item))
        else:
            raise ValidationError(f"Variant {position} is a {type(item).__name__}; give a model id, a mapping or a "
                                  "Variant.", field="variants", value=position)
    return tuple(parsed)


def _check_value(value: Any, metric: Metric, row: int) -> float:
    number = float(value) if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating) else None
    if number is None or not np.isfinite(number):
        raise ValidationError(f"Outcome {row} of metric {metric.name!r} is {value!r}; give a finite number. Nothing "
                              "was stored.", field="value", value=row)
    if metric.kind == "binary" and number not in (0.0, 1.0):
        raise ValidationError(f"Outcome {row} of binary metric {metric.name!r} is {value!r}; give 0 or 1 (or False or "
                              "True). Nothing was stored.", field="value", value=row)
    return number


def _same_label(prediction: Any, label: Any) -> int:
    """Return 1 when a prediction equals its label, comparing numbers as numbers and anything else as text.

    A label column that pandas reads with a missing value contains floats, so 1 and 1.0 must match.
    """
    numbers = (int, float, np.integer, np.floating)
    if isinstance(prediction, numbers) and isinstance(label, numbers) and not isinstance(prediction, bool) \
            and not isinstance(label, bool):
        return int(float(prediction) == float(label))
    if type(prediction) is type(label):
        return int(prediction == label)
    return int(str(prediction) == str(label))


def _when(timestamp: datetime | str | None) -> datetime:
    return utc_now() if timestamp is None else to_utc(timestamp)


def _timestamps(timestamps: Iterable[datetime | str] | pd.Series | None, count: int) -> list[datetime]:
    if timestamps is None:
        now = utc_now()
        return [now] * count
    converted = [to_utc(value) for value in timestamps]
    if len(converted) != count:
        raise ValidationError(f"{len(converted)} timestamps were given for {count} units; give one per unit or none.",
                              field="timestamps", value=len(converted))
    return converted
