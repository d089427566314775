"""The definition of an experiment: variants, metrics, phases, status and decision.

An experiment compares a control variant with one or more treatment variants, each usually a model
version from the registry. Units (user ids or patient pseudonyms) are assigned to variants by hashing
(:mod:`workbench.abtesting.hashing`) with the seed of the current phase.

A phase is one period of fixed weights. Changing the weights starts a new phase with a new seed, so a
unit may land in another variant. Each phase is analysed on its own, because pooling phases with
different weights would mix populations that were split differently over time (Simpson's paradox).
Changing the coverage, the share of units enrolled, keeps the phase and its seed. The hashing layout
then only adds or drops units at the end of each variant's range, so no unit moves to another variant.

The objects here are frozen and validated on construction.
:class:`~workbench.abtesting.experiments.Experiments` stores and changes them through the store contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from workbench.abtesting._checks import check_alpha, check_choice
from workbench.abtesting.hashing import check_coverage, normalize_weights
from workbench.errors import ValidationError
from workbench.timeutil import to_utc

STATUSES = ("draft", "running", "stopped")
METRIC_KINDS = ("binary", "continuous")
#: Policies for an exposed unit without an outcome: left out, or counted as the value 0.
MISSING_POLICIES = ("exclude", "zero")
#: Direction in which a metric must move for a variant to be better.
DIRECTIONS = ("increase", "decrease")
#: ``fixed``: one look at a planned sample size. ``sequential``: always-valid results at every look.
MODES = ("fixed", "sequential")
CORRECTIONS = ("none", "yates")

DEFAULT_ALPHA = 0.05
#: Units per variant at which the confidence sequence of sequential mode is tightest.
DEFAULT_SEQUENTIAL_TUNING = 5_000

# Matched with fullmatch, because "$" would also accept a trailing newline.
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment: a name and, for a model experiment, the registry id it serves."""

    name: str
    model_id: str | None = None

    def __post_init__(self) -> None:
        check_name(self.name, "variant name")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model_id": self.model_id}


@dataclass(frozen=True)
class Metric:
    """A metric measured per unit.

    ``binary`` metrics take the values 0 and 1: a conversion, or whether a model's prediction matched
    the label that arrived later. ``continuous`` metrics take any finite number. ``direction`` sets
    whether a higher (``increase``) or lower (``decrease``) value is better.

    ``missing`` sets how an exposed unit without an outcome counts. ``exclude`` (the default) leaves it
    out, which suits a model's correctness: a label that has not arrived is not a wrong prediction.
    ``zero`` counts it as 0, which suits conversions: a unit that did not convert records nothing.
    """

    name: str
    kind: str = "binary"
    direction: str = "increase"
    missing: str = "exclude"

    def __post_init__(self) -> None:
        check_name(self.name, "metric name")
        check_choice(self.kind, METRIC_KINDS, "kind")
        check_choice(self.direction, DIRECTIONS, "direction")
        check_choice(self.missing, MISSING_POLICIES, "missing")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "direction": self.direction, "missing": self.missing}

    @classmethod
    def parse(cls, value: Metric | Mapping[str, Any] | str) -> Metric:
        """Build a metric from itself, a mapping, or the text ``name[:kind[:direction[:missing]]]``."""
        if isinstance(value, Metric):
            return value
        if isinstance(value, Mapping):
            return cls(**dict(value))
        if isinstance(value, str):
            parts = value.split(":")
            if len(parts) > 4:
                raise ValidationError(f"Metric {value!r} has too many parts; write name[:kind[:direction[:missing]]], "
                                      "such as 'correct:binary:increase' or 'converted:binary:increase:zero'.",
                                      field="metric", value=value)
            return cls(*parts)
        raise ValidationError(f"Metric {value!r} is a {type(value).__name__}; give a Metric, a mapping or "
                              "'name[:kind[:direction]]'.", field="metric", value=repr(value))


@dataclass(frozen=True)
class Phase:
    """A period of fixed weights and one hashing seed.

    ``coverage_changes`` lists ``(time, coverage)`` for every coverage set during the phase, the first
    being the coverage it started with.
    """

    index: int
    weights: tuple[float, ...]
    seed: str
    coverage: float
    started_at: datetime
    ended_at: datetime | None = None
    coverage_changes: tuple[tuple[datetime, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "weights": list(self.weights),
            "seed": self.seed,
            "coverage": self.coverage,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "coverage_changes": [[at, coverage] for at, coverage in self.coverage_changes],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Phase:
        return cls(
            index=int(data["index"]),
            weights=tuple(float(weight) for weight in data["weights"]),
            seed=str(data["seed"]),
            coverage=float(data["coverage"]),
            started_at=to_utc(data["started_at"], field="started_at"),
            ended_at=None if data.get("ended_at") is None else to_utc(data["ended_at"], field="ended_at"),
            coverage_changes=tuple((to_utc(at, field="coverage_changes"), float(coverage))
                                   for at, coverage in data.get("coverage_changes", ())),
        )


@dataclass(frozen=True)
class Experiment:
    """An experiment as stored: its design, its phases, its status and, once stopped, its decision.

    The first variant is the control. ``phases[-1]`` is the current phase. ``revision`` counts the
    stored changes and guards against two processes changing the experiment at once.
    """

    experiment_id: str
    variants: tuple[Variant, ...]
    primary_metric: Metric
    phases: tuple[Phase, ...]
    guardrail_metrics: tuple[Metric, ...] = ()
    status: str = "draft"
    alpha: float = DEFAULT_ALPHA
    mode: str = "fixed"
    sequential_tuning: int = DEFAULT_SEQUENTIAL_TUNING
    correction: str = "none"
    description: str = ""
    created_at: datetime | None = None
    started_at: datetime | None = None
    stopped_at: datetime | None = None
    decision: dict[str, Any] | None = None
    revision: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_name(self.experiment_id, "experiment id")
        if len(self.variants) < 2:
            raise ValidationError(
                f"Experiment {self.experiment_id!r} has {len(self.variants)} variant(s); it needs a control and at "
                "least one treatment.", field="variants", value=len(self.variants))

        names = [variant.name for variant in self.variants]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValidationError(f"Variant names {duplicates} appear more than once; give each variant its own name.",
                                  field="variants", value=duplicates)

        metric_names = [metric.name for metric in (self.primary_metric, *self.guardrail_metrics)]
        repeated = sorted({name for name in metric_names if metric_names.count(name) > 1})
        if repeated:
            raise ValidationError(f"Metric names {repeated} appear more than once among the primary and guardrail "
                                  "metrics; each metric is measured once.", field="guardrail_metrics", value=repeated)

        check_choice(self.status, STATUSES, "status")
        check_choice(self.mode, MODES, "mode")
        check_choice(self.correction, CORRECTIONS, "correction")
        check_alpha(self.alpha)

        if isinstance(self.sequential_tuning, bool) or not isinstance(self.sequential_tuning, int) \
                or self.sequential_tuning < 1:
            raise ValidationError(f"sequential_tuning={self.sequential_tuning!r} is invalid; give a positive whole "
                                  "number of units per variant, such as 5000.", field="sequential_tuning",
                                  value=self.sequential_tuning)

        if not self.phases:
            raise ValidationError("An experiment needs at least one phase.", field="phases", value=0)
        for phase in self.phases:
            if len(phase.weights) != len(self.variants):
                raise ValidationError(
                    f"Phase {phase.index} has {len(phase.weights)} weights for {len(self.variants)} variants; give "
                    "one weight per variant.", field="weights", value=list(phase.weights))

    # Views -------------------------------------------------------------------------------------------

    @property
    def control(self) -> Variant:
        return self.variants[0]

    @property
    def treatments(self) -> tuple[Variant, ...]:
        return self.variants[1:]

    @property
    def current_phase(self) -> Phase:
        return self.phases[-1]

    @property
    def metrics(self) -> tuple[Metric, ...]:
        return (self.primary_metric, *self.guardrail_metrics)

    def variant(self, name: str) -> Variant:
        for variant in self.variants:
            if variant.name == name:
                return variant
        raise ValidationError(f"Experiment {self.experiment_id!r} has no variant {name!r}; its variants are "
                              f"{[variant.name for variant in self.variants]}.", field="variant", value=name)

    def metric(self, name: str | None) -> Metric:
        """Return the metric called ``name``, or the primary metric when ``name`` is None."""
        if name is None:
            return self.primary_metric
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise ValidationError(f"Experiment {self.experiment_id!r} measures no metric {name!r}; its metrics are "
                              f"{[metric.name for metric in self.metrics]}.", field="metric", value=name)

    def phase(self, index: int | None) -> Phase:
        """Return phase ``index``, or the current phase when ``index`` is None."""
        if index is None:
            return self.current_phase
        for phase in self.phases:
            if phase.index == index:
                return phase
        raise ValidationError(f"Experiment {self.experiment_id!r} has no phase {index!r}; its phases are "
                              f"{[phase.index for phase in self.phases]}.", field="phase", value=index)

    # Records -----------------------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        """Return the dictionary the store keeps (timestamps stay datetimes)."""
        return {
            "experiment_id": self.experiment_id,
            "variants": [variant.to_dict() for variant in self.variants],
            "primary_metric": self.primary_metric.to_dict(),
            "guardrail_metrics": [metric.to_dict() for metric in self.guardrail_metrics],
            "phases": [phase.to_dict() for phase in self.phases],
            "status": self.status,
            "alpha": self.alpha,
            "mode": self.mode,
            "sequential_tuning": self.sequential_tuning,
            "correction": self.correction,
            "description": self.description,
            "created_at": self.created_at,
            "started_at": self.started_at,
            "stopped_at": self.stopped_at,
            "decision": self.decision,
            "revision": self.revision,
            "metadata": dict(self.metadata),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary, with times as ISO 8601 text."""
        return _json_ready(self.to_record())

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Experiment:
        def when(name: str) -> datetime | None:
            value = record.get(name)
            return None if value is None else to_utc(value, field=name)

        return cls(
            experiment_id=record["experiment_id"],
            variants=tuple(Variant(**variant) for variant in record["variants"]),
            primary_metric=Metric(**record["primary_metric"]),
            guardrail_metrics=tuple(Metric(**metric) for metric in record.get("guardrail_metrics", ())),
            phases=tuple(Phase.from_dict(phase) for phase in record["phases"]),
            status=record["status"],
            alpha=float(record["alpha"]),
            mode=record["mode"],
            sequential_tuning=int(record["sequential_tuning"]),
            correction=record["correction"],
            description=record.get("description", ""),
            created_at=when("created_at"),
            started_at=when("started_at"),
            stopped_at=when("stopped_at"),
            decision=record.get("decision"),
            revision=int(record.get("revision", 0)),
            metadata=dict(record.get("metadata") or {}),
        )

    def with_changes(self, **changes: Any) -> Experiment:
        return replace(self, **changes)


def new_phase(index: int, weights: Sequence[float], coverage: float, seed: str, at: datetime) -> Phase:
    """Return a validated phase; weights are normalised to sum to exactly 1."""
    normalised = normalize_weights(weights)
    coverage = check_coverage(coverage)
    return Phase(index=index, weights=tuple(normalised), seed=seed, coverage=coverage, started_at=at,
                 coverage_changes=((at, coverage),))


def check_name(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _NAME_PATTERN.fullmatch(value):
        raise ValidationError(
            f"The {what} {value!r} is invalid; use letters, digits, '.', '_' or '-' (at most 128 characters, "
            "starting with a letter or digit).", field=what.replace(" ", "_"), value=value)


def _json_ready(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value
