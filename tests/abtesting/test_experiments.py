"""The experiment service: definition, sticky assignment, phases, outcomes, decisions and promotion.

Every test runs against a SQLite file in the test's temporary folder and against the MongoDB-protocol
server of tests/store/conftest.py, which is skipped when the server is down, except with
``WORKBENCH_REQUIRE_SERVICES=1``. The statistics themselves are tested in their own modules; here the
reference values check that the service feeds them the right counts.
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest

from tests.store import conftest as store_conftest
from workbench.abtesting import Experiments, analyse, hashing
from workbench.cli import configure_logging
from workbench.errors import ConflictError, ValidationError
from workbench.registry import Registry
from workbench.store import Store, open_store

# pytest finds a fixture by the module attribute's name, so the mongodb backend can request it.
mongodb_url = store_conftest.mongodb_url

BACKENDS: dict[str, Callable[[pytest.FixtureRequest], str]] = {
    "sqlite-file": lambda request: f"sqlite:///{(request.getfixturevalue('tmp_path') / 'ab.db').as_posix()}",
    # FerretDB, or the server at WORKBENCH_TEST_MONGODB_URL, with a database of its own per test.
    "mongodb": lambda request: request.getfixturevalue("mongodb_url"),
}

NAME = "triage-ab"
CONTROL_MODEL = "lesion-classifier:1"
TREATMENT_MODEL = "lesion-classifier:2"
THIRD_MODEL = "lesion-classifier:3"
MODELS = [CONTROL_MODEL, TREATMENT_MODEL]
NO_GROWTHBOOK = "growthbook is not installed (pip install growthbook)"


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_url(request: pytest.FixtureRequest, backend: str) -> str:
    return BACKENDS[backend](request)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


@pytest.fixture
def registry(store: Store) -> Registry:
    registry = Registry(store)
    for version in (1, 2, 3):
        registry.register("lesion-classifier", version)
    return registry


@pytest.fixture
def experiments(store: Store, registry: Registry) -> Experiments:
    return Experiments(store, registry)


@pytest.fixture
def second_process(store_url: str, registry: Registry) -> Iterator[Experiments]:
    """A second service over its own connection to the same store, as another process would have."""
    opened = open_store(store_url)
    yield Experiments(opened)
    opened.close()


def _users(count: int, start: int = 0) -> list[str]:
    return [f"user-{number:05d}" for number in range(start, start + count)]


def _enrol(experiments: Experiments, sizes: dict[str, int], pool: int) -> dict[str, list[str]]:
    """Expose exactly ``sizes[variant]`` units of each variant, the first in id order of ``pool`` candidates."""
    preview = experiments.assign_many(NAME, _users(pool), record=False)
    groups = {}
    for variant, size in sizes.items():
        chosen = preview.loc[preview["variant"] == variant, "unit_id"].tolist()[:size]
        assert len(chosen) == size, f"only {len(chosen)} of {pool} candidate ids hash to {variant}"
        groups[variant] = chosen
    experiments.assign_many(NAME, [unit for units in groups.values() for unit in units])
    return groups


def _convert(experiments: Experiments, groups: dict[str, list[str]], conversions: dict[str, int], *,
             metric: str | None = None) -> None:
    """Record 1 for the first ``conversions[variant]`` units of each variant and 0 for the others."""
    for variant, units in groups.items():
        converted = conversions[variant]
        values = [1] * converted + [0] * (len(units) - converted)
        experiments.record_outcomes(NAME, units, values, metric=metric)


def _stored_values(store: Store) -> dict[str, float]:
    outcomes = store.fetch_outcomes(NAME)
    return dict(zip(outcomes["unit_id"], outcomes["value"], strict=True))


# Coverage and weights ----------------------------------------------------------------------------------


@pytest.mark.parametrize("coverage", [0.0, 0], ids=["float", "int"])
def test_coverage_zero_enrols_nobody(experiments: Experiments, store: Store, coverage: float) -> None:
    experiments.create(NAME, MODELS, coverage=coverage)
    users = _users(10_000)

    single = [experiments.assign(NAME, unit) for unit in users]
    batch = experiments.assign_many(NAME, users)

    assert not any(assignment.enrolled for assignment in single)
    assert {assignment.reason for assignment in single} == {"outside the coverage"}
    assert batch["variant"].isna().all()
    assert store.count_exposures(NAME) == {}
    assert len(store.fetch_exposures(NAME)) == 0


def test_thirds_cover_every_unit(experiments: Experiments) -> None:
    experiments.create(NAME, [*MODELS, THIRD_MODEL], weights=[0.333, 0.333, 0.333])
    users = _users(10_000)
    # GrowthBook's ranges for 0.333 x 3 end at 0.999, so these units would get no variant without rescaling.
    above_ranges = [unit for unit in users if hashing.bucket(NAME, unit) >= 0.999]

    batch = experiments.assign_many(NAME, users, record=False)
    single = [experiments.assign(NAME, unit, record=False) for unit in above_ranges]

    assert above_ranges, "no unit hashes to the last 0.001 of the range, so the gap is not exercised"
    assert batch["variant"].notna().all()
    assert all(assignment.enrolled for assignment in single)
    assert {assignment.variant for assignment in single} == {"treatment-2"}


def test_thirds_stored_normalised(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, [*MODELS, THIRD_MODEL], weights=[0.333, 0.333, 0.333])

    stored = store.get_experiment(NAME)["phases"][0]["weights"]

    # 0.333 / 0.999 equals 1/3 up to floating-point rounding.
    assert stored == pytest.approx([1 / 3] * 3, rel=1e-15)
    assert math.fsum(stored) == pytest.approx(1.0, abs=1e-15)


# Each message names the offending value.
INVALID_WEIGHTS = [
    pytest.param([1.1, -0.1], r"-0\.1\b", id="negative"),
    pytest.param([0.4, 0.4], r"sum to 0\.8\b", id="sum-0.8"),
    pytest.param([0.5, math.nan], r"\bnan\b", id="nan"),
]


@pytest.mark.parametrize(("weights", "message"), INVALID_WEIGHTS)
def test_create_rejects_weights(experiments: Experiments, weights: list[float], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        experiments.create(NAME, MODELS, weights=weights)

    assert caught.value.field == "weights"
    assert experiments.list() == []


@pytest.mark.parametrize(("weights", "message"), INVALID_WEIGHTS)
def test_set_weights_rejects_weights(experiments: Experiments, weights: list[float], message: str) -> None:
    before = experiments.create(NAME, MODELS)

    with pytest.raises(ValidationError, match=message):
        experiments.set_weights(NAME, weights)

    assert experiments.get(NAME) == before


def test_create_rejects_coverage(experiments: Experiments) -> None:
    with pytest.raises(ValidationError, match=r"coverage must be a number from 0 to 1.*received 1\.5") as caught:
        experiments.create(NAME, MODELS, coverage=1.5)

    assert caught.value.value == 1.5
    assert experiments.list() == []


def test_set_coverage_rejects_coverage(experiments: Experiments) -> None:
    before = experiments.create(NAME, MODELS)

    with pytest.raises(ValidationError, match=r"coverage must be a number from 0 to 1.*received 1\.5"):
        experiments.set_coverage(NAME, 1.5)

    assert experiments.get(NAME) == before


# Sticky assignment -------------------------------------------------------------------------------------


def test_assignment_sticky_across_processes(experiments: Experiments, second_process: Experiments) -> None:
    experiments.create(NAME, MODELS)
    users = _users(200)

    first = [experiments.assign(NAME, unit).variant for unit in users]
    again = [experiments.assign(NAME, unit).variant for unit in users]
    other = [second_process.assign(NAME, unit).variant for unit in users]

    assert again == first
    assert other == first


def test_assign_agrees_with_assign_many(experiments: Experiments) -> None:
    experiments.create(NAME, [*MODELS, THIRD_MODEL], weights=[0.2, 0.3, 0.5], coverage=0.8)
    users = _users(2_000)

    single = [experiments.assign(NAME, unit, record=False).variant for unit in users]
    batch = experiments.assign_many(NAME, users, record=False)

    # pandas may store a missing variant as NaN, while assign() returns None.
    batch_variants = [None if pd.isna(variant) else variant for variant in batch["variant"]]
    assert batch["unit_id"].tolist() == users
    assert None in single
    assert batch_variants == single


def test_assign_many_not_enrolled_is_none(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS, coverage=0.5)

    batch = experiments.assign_many(NAME, _users(100), record=False)

    outside = batch.loc[batch["variant"].isna()]
    assert len(outside) > 0
    assert all(variant is None for variant in outside["variant"])
    assert all(model_id is None for model_id in outside["model_id"])


@pytest.mark.parametrize("seed", [None, "triage-2026"], ids=["name-as-seed", "explicit-seed"])
def test_assignment_matches_growthbook(experiments: Experiments, seed: str | None) -> None:
    growthbook = pytest.importorskip("growthbook", reason=NO_GROWTHBOOK)
    experiments.create(NAME, MODELS, seed=seed)
    users = _users(1_000)
    client = growthbook.GrowthBook(attributes={})
    # Without a seed GrowthBook hashes with the experiment's key, which is the service's default too.
    reference = growthbook.Experiment(key=NAME, variations=[0, 1], hashVersion=2, seed=seed)
    names = ["control", "treatment"]
    expected = []
    for unit in users:
        client.set_attributes({"id": unit})
        result = client.run(reference)
        expected.append(names[result.value] if result.inExperiment else None)

    single = [experiments.assign(NAME, unit, record=False).variant for unit in users]
    batch = experiments.assign_many(NAME, users, record=False)

    assert single == expected
    assert batch["variant"].tolist() == expected


# Phases ------------------------------------------------------------------------------------------------


def test_weights_change_starts_phase(experiments: Experiments) -> None:
    created = experiments.create(NAME, MODELS)

    updated = experiments.set_weights(NAME, [0.7, 0.3])

    assert [phase.index for phase in updated.phases] == [0, 1]
    assert updated.current_phase.weights == (0.7, 0.3)
    assert updated.current_phase.seed != created.current_phase.seed
    assert updated.phases[0].seed == created.current_phase.seed
    assert updated.phases[0].weights == (0.5, 0.5)
    assert updated.phases[0].ended_at is not None
    assert updated.current_phase.ended_at is None


def test_results_by_phase(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign_many(NAME, _users(300))
    experiments.set_weights(NAME, [0.7, 0.3])
    # 100 units of phase 0 come back and 200 are new.
    experiments.assign_many(NAME, _users(300, start=200))

    first = experiments.results(NAME, phase=0)
    current = experiments.results(NAME)

    assert first.phase.index == 0
    assert sum(first.exposures.values()) == 300
    assert current.phase.index == 1
    assert sum(current.exposures.values()) == 300
    assert first.srm.weights == (0.5, 0.5)
    assert current.srm.weights == (0.7, 0.3)


def test_coverage_change_moves_nobody(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS, coverage=0.5)
    users = _users(2_000)
    before = experiments.assign_many(NAME, users)

    updated = experiments.set_coverage(NAME, 1.0)
    after = experiments.assign_many(NAME, users)

    enrolled = before["variant"].notna()
    assert 0 < enrolled.sum() < len(users)
    assert after.loc[enrolled, "variant"].tolist() == before.loc[enrolled, "variant"].tolist()
    assert after["variant"].notna().all()
    assert len(updated.phases) == 1
    assert after["phase"].unique().tolist() == [0]
    assert [coverage for _, coverage in updated.current_phase.coverage_changes] == [0.5, 1.0]


# Outcomes ----------------------------------------------------------------------------------------------


def test_outcome_without_exposure_rejected(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)

    with pytest.raises(ValidationError, match="1 of 1 units have no exposure"):
        experiments.record_outcome(NAME, "user-00001", 1)

    assert len(store.fetch_outcomes(NAME)) == 0


def test_outcome_batch_with_unknown_unit(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign_many(NAME, _users(3))

    with pytest.raises(ValidationError, match="first at position 3") as caught:
        experiments.record_outcomes(NAME, [*_users(3), "user-00099"], [1, 0, 1, 1])

    assert caught.value.field == "unit_id"
    assert len(store.fetch_outcomes(NAME)) == 0


def test_later_outcome_replaces_earlier(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign(NAME, "user-00001")

    experiments.record_outcome(NAME, "user-00001", 0)
    experiments.record_outcome(NAME, "user-00001", 1)

    assert _stored_values(store) == {"user-00001": 1.0}


@pytest.mark.parametrize("value", [2, math.nan], ids=["two", "nan"])
def test_binary_metric_rejects_value(experiments: Experiments, store: Store, value: float) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign(NAME, "user-00001")

    with pytest.raises(ValidationError, match="Nothing was stored") as caught:
        experiments.record_outcome(NAME, "user-00001", value)

    assert caught.value.field == "value"
    assert len(store.fetch_outcomes(NAME)) == 0


def test_prediction_outcome_match_and_miss(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign_many(NAME, _users(2))

    experiments.record_prediction_outcome(NAME, "user-00000", "malignant", "malignant")
    experiments.record_prediction_outcome(NAME, "user-00001", "benign", "malignant")

    assert _stored_values(store) == {"user-00000": 1.0, "user-00001": 0.0}


def test_prediction_outcome_int_float_match(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign(NAME, "user-00000")

    # Labels read by pandas from a column with a missing value are floats, predictions often ints.
    experiments.record_prediction_outcome(NAME, "user-00000", 1, 1.0)

    assert _stored_values(store) == {"user-00000": 1.0}


def test_record_outcomes_numpy_bools(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign_many(NAME, _users(2))
    predictions = np.array(["malignant", "benign"])
    labels = np.array(["malignant", "malignant"])

    experiments.record_outcomes(NAME, _users(2), predictions == labels)

    assert _stored_values(store) == {"user-00000": 1.0, "user-00001": 0.0}


def test_outcome_goes_to_latest_exposed_phase(experiments: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign_many(NAME, ["user-00001", "user-00002"])
    experiments.set_weights(NAME, [0.6, 0.4])
    experiments.assign(NAME, "user-00002")

    only_first = experiments.record_outcome(NAME, "user-00001", 1)
    both = experiments.record_outcome(NAME, "user-00002", 1)

    assert only_first == 0
    assert both == 1
    outcomes = store.fetch_outcomes(NAME).set_index("unit_id")
    assert outcomes.loc["user-00001", "phase"] == 0
    assert outcomes.loc["user-00002", "phase"] == 1


# Decisions ---------------------------------------------------------------------------------------------


def test_rare_events_use_fisher(experiments: Experiments) -> None:
    # 1,576 vs 4 units fit weights 0.9975 / 0.0025 (sample ratio p = 0.98), so only the tests decide.
    experiments.create(NAME, MODELS, weights=[0.9975, 0.0025])
    groups = _enrol(experiments, {"control": 1_576, "treatment": 4}, pool=4_000)
    _convert(experiments, groups, {"control": 3, "treatment": 0})

    results = experiments.results(NAME)
    comparison = results.primary["treatment"].comparison

    # An expected count of 0.0076 conversions in the treatment is below 5, so Fisher's test is the headline.
    assert comparison.test == "fisher"
    # scipy 1.17.1: chi2_contingency([[3, 1573], [0, 4]], correction=False).pvalue = 0.9303993377521388,
    # with correction=True 1.0, and fisher_exact of the same table 1.0.
    assert comparison.pvalue_chi2 == pytest.approx(0.9303993377521388, rel=1e-9)
    assert comparison.pvalue_yates == pytest.approx(1.0, rel=1e-12)
    assert comparison.pvalue_fisher == pytest.approx(1.0, rel=1e-12)
    assert comparison.pvalue == pytest.approx(1.0, rel=1e-12)
    assert results.decision.winner is None


def test_rare_events_through_analyse(experiments: Experiments) -> None:
    experiment = experiments.create(NAME, MODELS, weights=[0.9975, 0.0025])
    units = _users(1_580)
    variants = ["control"] * 1_576 + ["treatment"] * 4
    values = [1.0] * 3 + [0.0] * 1_573 + [0.0] * 4
    now = pd.Timestamp("2026-03-02T08:00:00Z")
    exposures = pd.DataFrame({"experiment_id": NAME, "phase": 0, "unit_id": units, "variant": variants,
                              "timestamp": now})
    outcomes = exposures.assign(metric="correct", value=values)

    results = analyse(experiment, experiment.current_phase, exposures, outcomes)
    comparison = results.primary["treatment"].comparison

    # Same table and reference as test_rare_events_use_fisher (scipy 1.17.1).
    assert comparison.test == "fisher"
    assert comparison.pvalue_chi2 == pytest.approx(0.9303993377521388, rel=1e-9)
    assert comparison.pvalue_yates == pytest.approx(1.0, rel=1e-12)
    assert comparison.pvalue_fisher == pytest.approx(1.0, rel=1e-12)
    assert results.decision.winner is None


@pytest.mark.parametrize("converted", [{"control": 0, "treatment": 0}, {"control": 500, "treatment": 480}],
                         ids=["none-converted", "all-converted"])
def test_no_events_blocks_promotion(experiments: Experiments, converted: dict[str, int]) -> None:
    experiments.create(NAME, MODELS)
    groups = _enrol(experiments, {"control": 500, "treatment": 480}, pool=2_000)
    _convert(experiments, groups, converted)
    before = experiments.get(NAME)

    results = experiments.results(NAME)
    with pytest.raises(ConflictError, match="promotion was rejected because there is no winner"):
        experiments.stop(NAME, promote=True)
    after_rejection = experiments.get(NAME)
    stopped = experiments.stop(NAME)

    assert results.primary["treatment"].comparison.status == "insufficient_events"
    assert results.decision.winner is None
    assert after_rejection.status == "running"
    assert after_rejection.revision == before.revision
    assert stopped.experiment.status == "stopped"
    assert stopped.experiment.decision["winner"] is None
    assert stopped.promoted is None


def test_treatment_wins_twelve_of_480(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    groups = _enrol(experiments, {"control": 500, "treatment": 480}, pool=2_000)
    _convert(experiments, groups, {"control": 0, "treatment": 12})

    results = experiments.results(NAME)
    comparison = results.primary["treatment"].comparison

    # statsmodels 0.15.0: proportions_ztest([12, 0], [480, 500]) = (3.5573808732951204, 3.7457087402471693e-04).
    assert comparison.z_statistic == pytest.approx(3.5573808732951204, rel=1e-9)
    assert comparison.z_pvalue == pytest.approx(3.7457087402471693e-04, rel=1e-9)
    # scipy 1.17.1: fisher_exact([[12, 468], [0, 500]]).pvalue = 1.775608661831794e-04.
    assert comparison.pvalue_fisher == pytest.approx(1.775608661831794e-04, rel=1e-9)
    assert results.decision.winner == "treatment"
    assert results.decision.model_id == TREATMENT_MODEL


def test_two_of_ten_vs_seven(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    groups = _enrol(experiments, {"control": 10, "treatment": 10}, pool=100)
    _convert(experiments, groups, {"control": 2, "treatment": 7})

    results = experiments.results(NAME)
    comparison = results.primary["treatment"].comparison

    assert comparison.test == "fisher"
    # scipy 1.17.1: fisher_exact([[2, 8], [7, 3]]).pvalue = 0.06977851869492736.
    assert comparison.pvalue == pytest.approx(0.06977851869492736, rel=1e-9)
    assert results.decision.winner is None


def test_sample_ratio_mismatch_flagged(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    groups = _enrol(experiments, {"control": 5_200, "treatment": 4_800}, pool=12_000)
    _convert(experiments, groups, {"control": 520, "treatment": 480})

    results = experiments.results(NAME)

    assert results.srm.flagged
    # scipy 1.17.1: chisquare([5200, 4800]).pvalue = 6.334248366623988e-05.
    assert results.srm.pvalue == pytest.approx(6.334248366623988e-05, rel=1e-9)
    assert results.decision.winner is None
    assert "sample ratio mismatch" in results.decision.reasons[0]


def test_sample_ratio_vetoes_real_difference(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    groups = _enrol(experiments, {"control": 5_200, "treatment": 4_800}, pool=12_000)
    _convert(experiments, groups, {"control": 520, "treatment": 720})

    results = experiments.results(NAME)

    # Without the sample ratio check, 15 % against 10 % would win: scipy 1.17.1 gives
    # chi2_contingency([[520, 4680], [720, 4080]], correction=False).pvalue = 3.47e-14.
    assert results.primary["treatment"].winner == "treatment"
    assert results.srm.flagged
    assert results.decision.winner is None
    assert "sample ratio mismatch" in results.decision.reasons[0]


def test_guardrail_blocks_winner(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS, guardrail_metrics=["adverse:binary:decrease"])
    groups = _enrol(experiments, {"control": 500, "treatment": 480}, pool=2_000)
    _convert(experiments, groups, {"control": 0, "treatment": 12})
    _convert(experiments, groups, {"control": 0, "treatment": 12}, metric="adverse")

    results = experiments.results(NAME)

    assert results.primary["treatment"].winner == "treatment"
    assert results.guardrails["adverse"]["treatment"].winner == "control"
    assert results.decision.winner is None
    assert "significantly worse on guardrail adverse" in results.decision.reasons[0]


def test_sequential_mode_in_results(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS, mode="sequential", sequential_tuning=800)
    groups = _enrol(experiments, {"control": 500, "treatment": 480}, pool=2_000)
    _convert(experiments, groups, {"control": 0, "treatment": 12})

    data = experiments.results(NAME).to_dict()

    assert data["mode"] == "sequential"
    assert data["sequential"] == {"method": "asymptotic_cs", "tuning": 800}
    assert data["primary_metric"]["comparison"]["mode"] == "sequential"
    assert data["primary_metric"]["comparison"]["treatments"][0]["comparison"]["sequential"] is not None


# Stopping and promotion --------------------------------------------------------------------------------


def test_stop_promotes_winner(experiments: Experiments, registry: Registry) -> None:
    experiments.create(NAME, MODELS)
    groups = _enrol(experiments, {"control": 500, "treatment": 480}, pool=2_000)
    _convert(experiments, groups, {"control": 0, "treatment": 12})

    stopped = experiments.stop(NAME, promote=True)
    stored = experiments.get(NAME)
    later = experiments.assign(NAME, groups["treatment"][0])

    assert stopped.promoted == TREATMENT_MODEL
    assert stopped.archived == (CONTROL_MODEL,)
    assert registry.get(TREATMENT_MODEL).stage == "production"
    assert registry.get(CONTROL_MODEL).stage == "archived"
    assert stored.status == "stopped"
    assert stored.decision["winner"] == "treatment"
    assert stored.decision["promoted"] == TREATMENT_MODEL
    assert stored.decision["archived"] == [CONTROL_MODEL]
    assert stored.current_phase.ended_at is not None
    assert not later.enrolled
    assert later.reason == "experiment is stopped"


def test_stop_twice_conflicts(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    experiments.stop(NAME)

    with pytest.raises(ConflictError, match="is stopped; only a running experiment can be stopped"):
        experiments.stop(NAME)


# Concurrency, inputs and privacy -----------------------------------------------------------------------


def test_stale_revision_conflicts(experiments: Experiments, second_process: Experiments, store: Store) -> None:
    experiments.create(NAME, MODELS)
    stale = experiments.get(NAME)
    second_process.set_weights(NAME, [0.7, 0.3])

    with pytest.raises(ConflictError, match="not the expected revision 0"):
        store.update_experiment(NAME, {"description": "stale write"}, expected_revision=stale.revision)

    assert experiments.get(NAME).description == ""


def test_stale_read_change_conflicts(experiments: Experiments, second_process: Experiments,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    experiments.create(NAME, MODELS)
    stale = experiments.get(NAME)
    second_process.set_weights(NAME, [0.7, 0.3])
    # The service reads the experiment on every call, so this patch makes it act on the read from before the change.
    monkeypatch.setattr(experiments, "get", lambda experiment_id: stale)

    with pytest.raises(ConflictError, match="changed after the caller read it"):
        experiments.set_coverage(NAME, 0.5)

    current = second_process.get(NAME)
    assert len(current.phases) == 2
    assert current.current_phase.coverage == 1.0


def test_inputs_not_mutated(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    units = _users(200)
    values = [index % 2 == 0 for index in range(200)]
    array = np.array(units)
    series = pd.Series(units, index=range(500, 700))
    units_before, values_before = copy.deepcopy(units), copy.deepcopy(values)
    array_before, series_before = array.copy(), series.copy()

    experiments.assign_many(NAME, units)
    experiments.assign_many(NAME, array, record=False)
    experiments.assign_many(NAME, series, record=False)
    experiments.record_outcomes(NAME, units, values)

    assert units == units_before
    assert values == values_before
    np.testing.assert_array_equal(array, array_before)
    pd.testing.assert_series_equal(series, series_before)


def _run_lifecycle(experiments: Experiments) -> None:
    """Create, assign, record, analyse and stop an experiment, with a coverage change on the way."""
    experiments.create(NAME, MODELS)
    groups = _enrol(experiments, {"control": 500, "treatment": 480}, pool=2_000)
    _convert(experiments, groups, {"control": 0, "treatment": 12})
    experiments.assign(NAME, groups["control"][0])
    experiments.record_outcome(NAME, groups["control"][0], 0)
    experiments.set_coverage(NAME, 0.9)
    experiments.results(NAME)
    experiments.stop(NAME, promote=True)


def test_unit_ids_absent_from_workbench_logs(experiments: Experiments, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="workbench")

    _run_lifecycle(experiments)

    messages = [record.getMessage() for record in caplog.records]
    assert any("stopped experiment" in message for message in messages)
    # Every unit id of this module starts with "user-", and no other text does.
    assert [message for message in messages if "user-" in message] == []


def test_unit_ids_absent_from_all_logs(experiments: Experiments, caplog: pytest.LogCaptureFixture,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # The command line's logging set-up keeps pymongo's command log, which prints whole documents, at INFO.
    monkeypatch.setattr(logging.getLogger("pymongo"), "level", logging.getLogger("pymongo").level)
    configure_logging("DEBUG")
    caplog.set_level(logging.DEBUG)

    _run_lifecycle(experiments)

    leaked = sorted({record.name for record in caplog.records if "user-" in record.getMessage()})
    assert leaked == []


def test_unit_id_absent_from_errors(experiments: Experiments) -> None:
    experiments.create(NAME, MODELS)
    experiments.assign(NAME, "user-00001")

    with pytest.raises(ValidationError) as unexposed:
        experiments.record_outcome(NAME, "user-00002", 1)
    with pytest.raises(ValidationError) as out_of_range:
        experiments.record_outcome(NAME, "user-00001", 2)
    with pytest.raises(ValidationError) as empty:
        experiments.assign(NAME, "")

    assert "user-" not in str(unexposed.value)
    assert unexposed.value.value == 0
    assert "user-" not in str(out_of_range.value)
    assert out_of_range.value.value == 0
    assert empty.value.value is None
