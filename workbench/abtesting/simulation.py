"""A seeded simulation of an experiment between two model versions, for the demo and for tests.

:func:`simulate_experiment` creates (or reuses) an experiment with a binary primary metric ``correct``
(whether the model's prediction matched the label that arrived later) and a continuous guardrail metric
``latency_ms``. It assigns pseudonymous units with :meth:`~workbench.abtesting.Experiments.assign_many`,
one simulated day at a time, and records outcomes drawn from a seeded :class:`numpy.random.Generator`.
Timestamps come from ``start``, never from the clock, so the same arguments write the same rows.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from workbench.abtesting.experiment import Experiment, Metric
from workbench.abtesting.experiments import Experiments
from workbench.errors import ConflictError, NotFoundError, ValidationError
from workbench.timeutil import to_utc

logger = logging.getLogger(__name__)

PRIMARY_METRIC = Metric("correct", kind="binary", direction="increase")
GUARDRAIL_METRIC = Metric("latency_ms", kind="continuous", direction="decrease")
#: Start of the simulated period: the first day of the final two weeks of the demo's prediction stream.
DEFAULT_START = datetime(2026, 10, 19, tzinfo=UTC)
DEFAULT_SEED = 20261019
#: Latency never goes below this many milliseconds, so a draw from the normal tail stays a valid latency.
MIN_LATENCY_MS = 1.0
#: Maximum delay, in hours, between a unit's exposure and the label that decides whether it was correct.
MAX_LABEL_DELAY_HOURS = 48.0

_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class SimulationResult:
    """Summary of the rows that :func:`simulate_experiment` wrote.

    Attributes
    ----------
    experiment_id : str
        The experiment simulated.
    created : bool
        Whether this call created the experiment, as opposed to reusing a stored one.
    units : int
        Units simulated.
    enrolled : int
        Units assigned a variant (all of them at coverage 1; none when the experiment is not running).
    outcomes : dict of str to int
        Outcomes written per metric.
    start, end : datetime
        The simulated period, from the first day's start to the last day's end, in UTC.
    """

    experiment_id: str
    created: bool
    units: int
    enrolled: int
    outcomes: dict[str, int]
    start: datetime
    end: datetime

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {"experiment_id": self.experiment_id, "created": self.created, "units": self.units,
                "enrolled": self.enrolled, "outcomes": dict(self.outcomes), "start": self.start.isoformat(),
                "end": self.end.isoformat()}


@dataclass(frozen=True)
class _Draws:
    """Every random quantity of a simulation, drawn before assignment so that outcomes depend on the seed only."""

    arrival_seconds: np.ndarray
    correct_uniform: np.ndarray
    labelled: np.ndarray
    label_delay_hours: np.ndarray
    latency_z: np.ndarray


def simulate_experiment(
    experiments: Experiments,
    experiment_id: str,
    control_model_id: str,
    treatment_model_id: str,
    *,
    units: int = 6_000,
    days: int = 14,
    start: datetime | str = DEFAULT_START,
    correct_rates: tuple[float, float] = (0.90, 0.93),
    label_share: float = 0.9,
    latency_means_ms: tuple[float, float] = (120.0, 120.0),
    latency_sd_ms: float = 30.0,
    seed: int = DEFAULT_SEED,
) -> SimulationResult:
    """Create or reuse a 50/50 experiment of two models and record simulated exposures and outcomes.

    Units are called ``patient-000000``, ``patient-000001``, … (pseudonyms) and arrive uniformly at
    random over ``days`` days from ``start``. Each day's arrivals are assigned with one call of
    :meth:`~workbench.abtesting.Experiments.assign_many`. A share ``label_share`` of the enrolled units
    gets a label, 0 to 48 hours after exposure, and with it a ``correct`` outcome of 1 with probability
    ``correct_rates[variant]``. Every enrolled unit gets a ``latency_ms`` outcome from
    N(``latency_means_ms[variant]``, ``latency_sd_ms``²), cut off below at 1 ms.

    Running it again with the same arguments writes nothing new: exposures are kept once per unit and
    phase, and outcomes are replaced by the same values. A stored experiment that is not running is
    left as it is.

    A new experiment starts at ``start``, so its first phase begins with the first simulated day; its
    ``created_at`` is the wall-clock time.

    Parameters
    ----------
    experiments : Experiments
        Where the experiment is kept. Both model ids must be registered in its registry.
    experiment_id : str
        Name of the experiment to create, or to reuse when it exists.
    control_model_id, treatment_model_id : str
        Registered model ids of the control and the treatment.
    units, days : int
        Units simulated and the days they arrive over, both at least 1.
    start : datetime or str
        Start of the first day, timezone-aware (ISO 8601 text with an offset is read too).
    correct_rates : tuple of float
        Probability, from 0 to 1, that a labelled unit's prediction is correct: (control, treatment).
    label_share : float
        Share of enrolled units whose label arrives, from 0 (exclusive) to 1.
    latency_means_ms : tuple of float
        Mean latency in milliseconds: (control, treatment).
    latency_sd_ms : float
        Standard deviation of latency in milliseconds, positive.
    seed : int
        Seed of :func:`numpy.random.default_rng`. The same seed gives the same outcomes.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValidationError
        If an argument is out of range, or a model id is not registered.
    ConflictError
        If an experiment called ``experiment_id`` exists with other models or without the two metrics.

    Examples
    --------
    >>> from workbench.store import open_store
    >>> experiments = Experiments(open_store("sqlite:///:memory:"))
    >>> _ = experiments.registry.register("lesion-classifier", 1, stage="production")
    >>> _ = experiments.registry.register("lesion-classifier", 2)
    >>> result = simulate_experiment(experiments, "v1-vs-v2", "lesion-classifier:1", "lesion-classifier:2",
    ...                              units=200, days=2)
    >>> result.created, result.enrolled, result.outcomes["latency_ms"]
    (True, 200, 200)
    """
    _check_settings(units, days, correct_rates, label_share, latency_means_ms, latency_sd_ms)
    first_day = to_utc(start, field="start")
    experiment, created = _experiment(experiments, experiment_id, control_model_id, treatment_model_id,
                                      first_day)
    period_end = first_day + timedelta(days=days)
    if experiment.status != "running":
        logger.info("experiment %s is %s; no unit was simulated", experiment_id, experiment.status)
        return SimulationResult(experiment_id, created, units, 0, {}, first_day, period_end)

    draws = _draw(np.random.default_rng(seed), units, days, label_share)
    unit_ids = np.array([f"patient-{index:06d}" for index in range(units)], dtype=object)
    # Whole seconds, because the store keeps microseconds and to_pydatetime warns about dropped nanoseconds.
    exposed_at = (pd.Timestamp(first_day) + pd.to_timedelta(draws.arrival_seconds, unit="s")).floor("s")
    variants = _assign_by_day(experiments, experiment_id, unit_ids, exposed_at, draws.arrival_seconds, days)

    names = [variant.name for variant in experiment.variants]
    position = pd.Series(variants).map({name: index for index, name in enumerate(names)})
    enrolled = position.notna().to_numpy()
    arm = position.fillna(0).astype(int).to_numpy()

    correct = (draws.correct_uniform < np.asarray(correct_rates)[arm]).astype(int)
    latency = np.maximum(np.asarray(latency_means_ms)[arm] + latency_sd_ms * draws.latency_z, MIN_LATENCY_MS)
    labelled = enrolled & draws.labelled
    label_times = (exposed_at + pd.to_timedelta(draws.label_delay_hours, unit="h")).floor("s")

    written = {
        PRIMARY_METRIC.name: _record(experiments, experiment_id, PRIMARY_METRIC.name, unit_ids, correct,
                                     label_times, labelled),
        GUARDRAIL_METRIC.name: _record(experiments, experiment_id, GUARDRAIL_METRIC.name, unit_ids, latency,
                                       exposed_at, enrolled),
    }
    logger.info("simulated experiment %s: %d units over %d days, %d enrolled", experiment_id, units, days,
                int(enrolled.sum()))
    return SimulationResult(experiment_id, created, units, int(enrolled.sum()), written, first_day, period_end)


def _experiment(experiments: Experiments, experiment_id: str, control_model_id: str,
                treatment_model_id: str, started_at: datetime) -> tuple[Experiment, bool]:
    """Return the stored experiment, or a new one, and whether it was created."""
    try:
        existing = experiments.get(experiment_id)
    except NotFoundError:
        created = experiments.create(
            experiment_id, [control_model_id, treatment_model_id], weights=[0.5, 0.5],
            primary_metric=PRIMARY_METRIC, guardrail_metrics=[GUARDRAIL_METRIC],
            description=f"Simulated comparison of {control_model_id} (control) with {treatment_model_id}.",
            started_at=started_at,
        )
        return created, True

    models = [variant.model_id for variant in existing.variants]
    metrics = {metric.name for metric in existing.metrics}
    expected_metrics = {PRIMARY_METRIC.name, GUARDRAIL_METRIC.name}
    if models != [control_model_id, treatment_model_id] or not expected_metrics <= metrics:
        raise ConflictError(
            f"Experiment {experiment_id!r} exists with models {models} and metrics {sorted(metrics)}, but the "
            f"simulation needs models {[control_model_id, treatment_model_id]} and metrics "
            f"{sorted(expected_metrics)}. Give the simulation another experiment id."
        )
    logger.info("experiment %s exists; reusing it", experiment_id)
    return existing, False


def _draw(rng: np.random.Generator, units: int, days: int, label_share: float) -> _Draws:
    # The order of the draws is part of the result: changing it changes every outcome of a seed.
    arrival = np.sort(rng.uniform(0.0, days * _SECONDS_PER_DAY, size=units))
    return _Draws(
        arrival_seconds=arrival,
        correct_uniform=rng.random(units),
        labelled=rng.random(units) < label_share,
        label_delay_hours=rng.uniform(0.0, MAX_LABEL_DELAY_HOURS, size=units),
        latency_z=rng.standard_normal(units),
    )


def _assign_by_day(experiments: Experiments, experiment_id: str, unit_ids: np.ndarray,
                   exposed_at: pd.DatetimeIndex, arrival_seconds: np.ndarray, days: int) -> np.ndarray:
    """Assign each day's arrivals with one batch call and return every unit's variant (None if not enrolled)."""
    variants = np.full(len(unit_ids), None, dtype=object)
    day_of_arrival = np.minimum((arrival_seconds // _SECONDS_PER_DAY).astype(int), days - 1)
    for day in range(days):
        rows = np.flatnonzero(day_of_arrival == day)
        if rows.size == 0:
            continue
        frame = experiments.assign_many(experiment_id, list(unit_ids[rows]),
                                        timestamps=list(exposed_at[rows].to_pydatetime()))
        variants[rows] = frame["variant"].to_numpy(dtype=object)
    return variants


def _record(experiments: Experiments, experiment_id: str, metric: str, unit_ids: np.ndarray, values: np.ndarray,
            times: pd.DatetimeIndex, rows: np.ndarray) -> int:
    if not rows.any():
        return 0
    written = experiments.record_outcomes(experiment_id, list(unit_ids[rows]), values[rows].tolist(), metric=metric,
                                          timestamps=list(times[rows].to_pydatetime()))
    return len(written)


def _check_settings(units: Any, days: Any, correct_rates: Any, label_share: Any, latency_means_ms: Any,
                    latency_sd_ms: Any) -> None:
    for name, value in (("units", units), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ValidationError(f"{name}={value!r} is invalid; give a whole number of at least 1.", field=name,
                                  value=value)
    for rate in _pair(correct_rates, "correct_rates", "(0.90, 0.93)"):
        if not 0 <= rate <= 1:
            raise ValidationError(f"correct_rates={correct_rates!r} is invalid; give two probabilities from 0 to 1, "
                                  "such as (0.90, 0.93).", field="correct_rates", value=correct_rates)
    _pair(latency_means_ms, "latency_means_ms", "(120.0, 120.0)")
    if not _is_number(label_share) or not 0 < label_share <= 1:
        raise ValidationError(f"label_share={label_share!r} is invalid; give a share above 0 and at most 1, such "
                              "as 0.9.", field="label_share", value=label_share)
    if not _is_number(latency_sd_ms) or latency_sd_ms <= 0:
        raise ValidationError(f"latency_sd_ms={latency_sd_ms!r} is invalid; give a positive number of "
                              "milliseconds, such as 30.0.", field="latency_sd_ms", value=latency_sd_ms)


def _pair(value: Any, name: str, example: str) -> tuple[float, float]:
    if isinstance(value, str) or not isinstance(value, tuple | list) or len(value) != 2 \
            or not all(_is_number(item) for item in value):
        raise ValidationError(f"{name}={value!r} is invalid; give two finite numbers, control first, such as "
                              f"{example}.", field=name, value=value)
    return float(value[0]), float(value[1])


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.number) and math.isfinite(value)
