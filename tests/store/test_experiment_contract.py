"""The experiment part of the store contract, run against every backend: experiments, exposures, outcomes.

The backends and the ``store`` fixture come from test_store_contract.py, so a backend added to its
``BACKENDS`` runs these tests too.
"""

from __future__ import annotations

import copy
import functools
import math
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from tests.store import test_store_contract as contract
from workbench.errors import ConflictError, NotFoundError, ValidationError, WorkbenchError
from workbench.store import EXPOSURE_COLUMNS, OUTCOME_COLUMNS, Store, open_store

# pytest finds a fixture by the module attribute's name, so this runs every test below on each backend.
store = contract.store

T0 = datetime(2026, 3, 2, 8, 0, 0, 123456, tzinfo=UTC)
EXPERIMENT = "triage-ab:1"
OTHER_EXPERIMENT = "triage-ab:2"

EXPOSURE_DTYPES = {"experiment_id": "str", "phase": "int64", "unit_id": "str", "variant": "str",
                   "timestamp": "datetime64[us, UTC]"}
OUTCOME_DTYPES = {**EXPOSURE_DTYPES, "metric": "str", "value": "float64"}


def _experiment(experiment_id: str = EXPERIMENT, status: str = "running", **changes) -> dict:
    record = {
        "experiment_id": experiment_id,
        "status": status,
        "variants": [{"name": "control", "model_id": "lesion-classifier:1", "weight": 0.5},
                     {"name": "treatment", "model_id": "lesion-classifier:2", "weight": 0.5}],
        "design": {"metric": "accuracy", "alpha": 0.05, "minimum_effect": None},
        "created_at": T0,
    }
    record.update(changes)
    return record


def _exposure(unit_id: str, variant: str = "control", timestamp: datetime = T0, *, phase=0,
              experiment_id=EXPERIMENT) -> dict:
    return {"experiment_id": experiment_id, "phase": phase, "unit_id": unit_id, "variant": variant,
            "timestamp": timestamp}


def _outcome(unit_id: str, value, variant: str = "control", timestamp: datetime = T0, *, metric="accuracy",
             phase=0, experiment_id=EXPERIMENT) -> dict:
    return {"experiment_id": experiment_id, "phase": phase, "unit_id": unit_id, "variant": variant,
            "metric": metric, "value": value, "timestamp": timestamp}


def _dtypes(frame: pd.DataFrame) -> dict[str, str]:
    return {name: str(dtype) for name, dtype in frame.dtypes.items()}


def _run_at_once(calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in a thread of its own, released together, and return each result or WorkbenchError."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def run(position: int, call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            results[position] = call()
        except WorkbenchError as exc:
            # Returned, so that the test can assert on the exception's type.
            results[position] = exc

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture(params=["sqlite-file", "mongodb"])
def connections(request: pytest.FixtureRequest) -> Iterator[list[Store]]:
    """Four stores on the same data, each with its own SQLite connection or MongoDB client."""
    stores = [contract.BACKENDS[request.param](request) for _ in range(4)]
    yield stores
    for opened in stores:
        opened.close()


# Experiments -------------------------------------------------------------------------------------------


def test_experiment_round_trips_with_revision_zero(store: Store) -> None:
    record = _experiment(stopped_at=T0.astimezone(timezone(timedelta(hours=-5))))

    store.insert_experiment(record)

    assert store.get_experiment(EXPERIMENT) == {**record, "revision": 0}


def test_experiment_keeps_nested_values_and_types(store: Store) -> None:
    store.insert_experiment(_experiment())

    stored = store.get_experiment(EXPERIMENT)

    assert stored["variants"][1] == {"name": "treatment", "model_id": "lesion-classifier:2", "weight": 0.5}
    assert stored["design"]["minimum_effect"] is None
    assert stored["created_at"] == T0
    assert stored["created_at"].utcoffset() == timedelta(0)
    assert stored["created_at"].microsecond == 123456


def test_experiment_given_revision_kept(store: Store) -> None:
    store.insert_experiment(_experiment(revision=4))

    assert store.get_experiment(EXPERIMENT)["revision"] == 4


def test_experiment_unknown_is_none(store: Store) -> None:
    assert store.get_experiment("triage-ab:9") is None


def test_experiment_duplicate_conflicts(store: Store) -> None:
    store.insert_experiment(_experiment(status="running"))

    with pytest.raises(ConflictError, match="'triage-ab:1' already exists"):
        store.insert_experiment(_experiment(status="draft"))

    assert store.get_experiment(EXPERIMENT)["status"] == "running"


@pytest.mark.parametrize("record, field", [
    ({"status": "running"}, "experiment_id"),
    ({"experiment_id": None}, "experiment_id"),
    ({"experiment_id": 7}, "experiment_id"),
    ({"experiment_id": EXPERIMENT, "status": 1}, "status"),
    ({"experiment_id": EXPERIMENT, "revision": -1}, "revision"),
    ({"experiment_id": EXPERIMENT, "revision": "0"}, "revision"),
    ({"experiment_id": EXPERIMENT, "revision": 2**63}, "revision"),
    ({"experiment_id": EXPERIMENT, "started_at": datetime(2026, 3, 2, 8, 0)}, "record"),
    ({"experiment_id": EXPERIMENT, "variants": {"control", "treatment"}}, "record"),
], ids=["id-absent", "id-none", "id-number", "status-number", "revision-negative", "revision-text",
        "revision-beyond-int64", "naive-datetime", "set-value"])
def test_experiment_invalid_record_rejected(store: Store, record: dict, field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        store.insert_experiment(record)

    assert excinfo.value.field == field
    assert store.list_experiments() == []


def test_experiments_listed_by_id(store: Store) -> None:
    for experiment_id in ("b-test:1", "a-test:2", "a-test:1"):
        store.insert_experiment(_experiment(experiment_id))

    listed = [record["experiment_id"] for record in store.list_experiments()]

    assert listed == ["a-test:1", "a-test:2", "b-test:1"]


def test_experiments_filtered_by_status(store: Store) -> None:
    store.insert_experiment(_experiment("c-test:1", status="running"))
    store.insert_experiment(_experiment("a-test:1", status="stopped"))
    store.insert_experiment(_experiment("b-test:1", status="running"))
    store.insert_experiment({"experiment_id": "d-test:1"})

    running = [record["experiment_id"] for record in store.list_experiments(status="running")]

    assert running == ["b-test:1", "c-test:1"]
    assert [record["experiment_id"] for record in store.list_experiments("stopped")] == ["a-test:1"]
    assert store.list_experiments("draft") == []
    assert len(store.list_experiments()) == 4


def test_experiment_update_returns_and_persists(store: Store) -> None:
    store.insert_experiment(_experiment())

    updated = store.update_experiment(EXPERIMENT, {"status": "stopped", "stopped_at": T0 + timedelta(days=3)})

    expected = {**_experiment(), "status": "stopped", "stopped_at": T0 + timedelta(days=3), "revision": 1}
    assert updated == expected
    assert store.get_experiment(EXPERIMENT) == updated


def test_experiment_update_increments_revision(store: Store) -> None:
    store.insert_experiment(_experiment())

    store.update_experiment(EXPERIMENT, {"phase": 1}, expected_revision=0)
    updated = store.update_experiment(EXPERIMENT, {"phase": 2}, expected_revision=1)

    assert updated["revision"] == 2
    assert updated["phase"] == 2


def test_experiment_update_moves_status_filter(store: Store) -> None:
    store.insert_experiment(_experiment(status="running"))

    store.update_experiment(EXPERIMENT, {"status": "stopped"})

    assert store.list_experiments("running") == []
    assert [record["experiment_id"] for record in store.list_experiments("stopped")] == [EXPERIMENT]


def test_experiment_update_stale_revision_conflicts(store: Store) -> None:
    store.insert_experiment(_experiment())
    store.update_experiment(EXPERIMENT, {"status": "paused"}, expected_revision=0)

    with pytest.raises(ConflictError, match="at revision 1, not the expected revision 0"):
        store.update_experiment(EXPERIMENT, {"status": "stopped"}, expected_revision=0)

    stored = store.get_experiment(EXPERIMENT)
    assert stored["status"] == "paused"
    assert stored["revision"] == 1


def test_experiment_concurrent_stops_one_wins(store: Store) -> None:
    store.insert_experiment(_experiment())

    def stop() -> dict:
        return store.update_experiment(EXPERIMENT, {"status": "stopped"}, expected_revision=0)

    results = _run_at_once([stop] * 6)

    assert sum(isinstance(result, dict) for result in results) == 1
    assert sum(isinstance(result, ConflictError) for result in results) == 5
    assert store.get_experiment(EXPERIMENT)["revision"] == 1


def test_experiment_stops_across_connections(connections: list[Store]) -> None:
    connections[0].insert_experiment(_experiment())
    changes = {"status": "stopped"}
    calls = [functools.partial(opened.update_experiment, EXPERIMENT, changes, expected_revision=0)
             for opened in connections]

    results = _run_at_once(calls)

    assert sum(isinstance(result, dict) for result in results) == 1
    assert sum(isinstance(result, ConflictError) for result in results) == len(connections) - 1
    assert connections[0].get_experiment(EXPERIMENT)["revision"] == 1


def test_experiment_update_unknown_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="'triage-ab:9' does not exist") as excinfo:
        store.update_experiment("triage-ab:9", {"status": "stopped"}, expected_revision=0)

    assert excinfo.value.kind == "experiment"
    assert excinfo.value.key == "triage-ab:9"
    assert store.list_experiments() == []


@pytest.mark.parametrize("changes, expected_revision, field", [
    ({"revision": 5}, None, "revision"),
    ({"experiment_id": OTHER_EXPERIMENT}, None, "experiment_id"),
    ({"status": 3}, None, "status"),
    ({"stopped_at": datetime(2026, 3, 5, 8, 0)}, None, "record"),
    ({"status": "stopped"}, -1, "expected_revision"),
], ids=["revision", "other-id", "status-number", "naive-datetime", "negative-expected-revision"])
def test_experiment_invalid_update_rejected(store: Store, changes: dict, expected_revision,
                                            field: str) -> None:
    store.insert_experiment(_experiment())

    with pytest.raises(ValidationError) as excinfo:
        store.update_experiment(EXPERIMENT, changes, expected_revision=expected_revision)

    assert excinfo.value.field == field
    assert store.get_experiment(EXPERIMENT) == {**_experiment(), "revision": 0}


def test_experiment_inputs_not_mutated(store: Store) -> None:
    record = _experiment()
    changes = {"status": "stopped", "result": {"winner": "treatment", "lift": [0.01, 0.04]}}
    record_copy = copy.deepcopy(record)
    changes_copy = copy.deepcopy(changes)

    store.insert_experiment(record)
    updated = store.update_experiment(EXPERIMENT, changes)
    updated["result"]["lift"].append(1.0)

    assert record == record_copy
    assert changes == changes_copy
    assert store.get_experiment(EXPERIMENT)["result"] == {"winner": "treatment", "lift": [0.01, 0.04]}


# Exposures ---------------------------------------------------------------------------------------------


def test_exposures_insert_returns_new_count(store: Store) -> None:
    assert store.insert_exposures([_exposure("unit-1"), _exposure("unit-2")]) == 2
    assert store.insert_exposures([_exposure("unit-2"), _exposure("unit-3")]) == 1


def test_exposures_empty_batch(store: Store) -> None:
    assert store.insert_exposures([]) == 0


def test_exposure_repeat_keeps_first(store: Store) -> None:
    store.insert_exposures([_exposure("unit-1", "control", T0)])

    written = store.insert_exposures([_exposure("unit-1", "treatment", T0 + timedelta(hours=1))])

    frame = store.fetch_exposures(EXPERIMENT)
    assert written == 0
    assert frame["variant"].tolist() == ["control"]
    assert frame["timestamp"].tolist() == [pd.Timestamp(T0)]


def test_exposure_repeat_in_batch_keeps_first(store: Store) -> None:
    written = store.insert_exposures([_exposure("unit-1", "treatment"), _exposure("unit-1", "control")])

    assert written == 1
    assert store.fetch_exposures(EXPERIMENT)["variant"].tolist() == ["treatment"]


def test_exposure_other_phase_stored(store: Store) -> None:
    store.insert_exposures([_exposure("unit-1", "control", phase=0)])

    assert store.insert_exposures([_exposure("unit-1", "treatment", phase=1)]) == 1
    assert store.fetch_exposures(EXPERIMENT)["variant"].tolist() == ["control", "treatment"]


def test_exposures_counted_per_variant(store: Store) -> None:
    store.insert_exposures([
        _exposure("unit-1", "treatment"), _exposure("unit-2", "control"), _exposure("unit-3", "treatment"),
        _exposure("unit-1", "control", phase=1),
        _exposure("unit-9", "control", experiment_id=OTHER_EXPERIMENT),
    ])
    # A repeat of unit-1 in phase 0 is skipped, so it counts once, for its first variant.
    store.insert_exposures([_exposure("unit-1", "control")])

    assert store.count_exposures(EXPERIMENT) == {"control": 2, "treatment": 2}
    assert store.count_exposures(EXPERIMENT, phase=0) == {"control": 1, "treatment": 2}
    assert store.count_exposures(EXPERIMENT, phase=1) == {"control": 1}
    assert store.count_exposures("triage-ab:9") == {}


def test_exposure_counts_ordered_by_variant(store: Store) -> None:
    store.insert_exposures([_exposure("unit-1", "treatment"), _exposure("unit-2", "control")])

    assert list(store.count_exposures(EXPERIMENT)) == ["control", "treatment"]


@pytest.mark.parametrize("bad_row, field", [
    ({key: value for key, value in _exposure("unit-bad").items() if key != "variant"}, "variant"),
    (_exposure("unit-bad", variant=None), "variant"),
    (_exposure("unit-bad", phase=None), "phase"),
    (_exposure("unit-bad", timestamp=datetime(2026, 3, 2, 8, 0)), "timestamp"),
    (_exposure("unit-bad", timestamp="2026-03-02T08:00:00Z"), "timestamp"),
    (_exposure("unit-bad", phase="1"), "phase"),
    (_exposure("unit-bad", phase=True), "phase"),
    (_exposure("unit-bad", phase=1.5), "phase"),
    (_exposure("unit-bad", phase=2**63), "phase"),
    (_exposure(17), "unit_id"),
], ids=["variant-absent", "variant-none", "phase-none", "naive-timestamp", "text-timestamp", "phase-text",
        "phase-bool", "phase-float", "phase-beyond-int64", "unit-id-number"])
def test_exposures_bad_row_writes_nothing(store: Store, bad_row: dict, field: str) -> None:
    batch = [_exposure("unit-1"), bad_row, _exposure("unit-3")]

    with pytest.raises(ValidationError, match="^Row 1 ") as excinfo:
        store.insert_exposures(batch)

    assert excinfo.value.field == field
    assert store.count_exposures(EXPERIMENT) == {}


def test_exposures_naive_timestamp_message(store: Store) -> None:
    with pytest.raises(ValidationError, match="aware datetime"):
        store.insert_exposures([_exposure("unit-1", timestamp=datetime(2026, 3, 2, 8, 0))])


def test_exposures_numpy_phase_accepted(store: Store) -> None:
    store.insert_exposures([_exposure("unit-1", phase=np.int64(2))])

    assert store.fetch_exposures(EXPERIMENT)["phase"].tolist() == [2]


def test_exposures_oldest_first(store: Store) -> None:
    store.insert_exposures([
        _exposure("unit-c", timestamp=T0 + timedelta(minutes=2)),
        _exposure("unit-a", timestamp=T0),
        _exposure("unit-b", timestamp=T0 + timedelta(minutes=1)),
    ])

    assert store.fetch_exposures(EXPERIMENT)["unit_id"].tolist() == ["unit-a", "unit-b", "unit-c"]


def test_exposures_same_time_order(store: Store) -> None:
    store.insert_exposures([_exposure("unit-b", phase=1), _exposure("unit-b"), _exposure("unit-a", phase=1)])

    frame = store.fetch_exposures(EXPERIMENT)

    assert frame["phase"].tolist() == [0, 1, 1]
    assert frame["unit_id"].tolist() == ["unit-b", "unit-a", "unit-b"]


@pytest.fixture
def two_phases(store: Store) -> Store:
    """Units unit-0 … unit-3 in phase 0, unit-0 and unit-1 in phase 1, a minute apart, another experiment."""
    store.insert_exposures([
        _exposure(f"unit-{index}", ("control", "treatment")[index % 2], T0 + timedelta(minutes=index))
        for index in range(4)
    ])
    store.insert_exposures([
        _exposure(f"unit-{index}", "treatment", T0 + timedelta(hours=1, minutes=index), phase=1)
        for index in range(2)
    ])
    store.insert_exposures([_exposure("unit-0", experiment_id=OTHER_EXPERIMENT)])
    return store


def test_exposures_phase_filter(two_phases: Store) -> None:
    frame = two_phases.fetch_exposures(EXPERIMENT, phase=1)

    assert frame["unit_id"].tolist() == ["unit-0", "unit-1"]
    assert frame["phase"].tolist() == [1, 1]


def test_exposures_unit_ids_filter(two_phases: Store) -> None:
    frame = two_phases.fetch_exposures(EXPERIMENT, unit_ids=["unit-3", "unit-0", "unit-0", "unit-9"])

    assert frame["unit_id"].tolist() == ["unit-0", "unit-3", "unit-0"]
    assert frame["phase"].tolist() == [0, 0, 1]


def test_exposures_phase_and_unit_ids(two_phases: Store) -> None:
    frame = two_phases.fetch_exposures(EXPERIMENT, phase=0, unit_ids=("unit-1", "unit-2"))

    assert frame["unit_id"].tolist() == ["unit-1", "unit-2"]
    assert frame["variant"].tolist() == ["treatment", "control"]


def test_exposures_no_unit_ids_empty(two_phases: Store) -> None:
    frame = two_phases.fetch_exposures(EXPERIMENT, unit_ids=[])

    assert frame.empty
    assert _dtypes(frame) == EXPOSURE_DTYPES


def test_exposures_string_unit_ids_rejected(two_phases: Store) -> None:
    with pytest.raises(ValidationError, match="single string") as excinfo:
        two_phases.fetch_exposures(EXPERIMENT, unit_ids="unit-1")

    assert excinfo.value.field == "unit_ids"


def test_exposures_invalid_phase_filter_rejected(two_phases: Store) -> None:
    with pytest.raises(ValidationError) as excinfo:
        two_phases.fetch_exposures(EXPERIMENT, phase="1")

    assert excinfo.value.field == "phase"


def test_exposures_only_requested_experiment(two_phases: Store) -> None:
    frame = two_phases.fetch_exposures(OTHER_EXPERIMENT)

    assert frame["experiment_id"].tolist() == [OTHER_EXPERIMENT]


def test_exposures_frame_columns_and_dtypes(two_phases: Store) -> None:
    frame = two_phases.fetch_exposures(EXPERIMENT)

    assert tuple(frame.columns) == EXPOSURE_COLUMNS
    assert _dtypes(frame) == EXPOSURE_DTYPES


def test_exposures_empty_frame_columns_and_dtypes(store: Store) -> None:
    frame = store.fetch_exposures(EXPERIMENT)

    assert frame.empty
    assert tuple(frame.columns) == EXPOSURE_COLUMNS
    assert _dtypes(frame) == EXPOSURE_DTYPES


def test_exposure_timestamp_keeps_microseconds_in_utc(store: Store) -> None:
    local = T0.astimezone(timezone(timedelta(hours=5, minutes=30)))
    store.insert_exposures([_exposure("unit-1", timestamp=local)])

    stored = store.fetch_exposures(EXPERIMENT)["timestamp"].iloc[0].to_pydatetime()

    assert stored == T0
    assert stored.microsecond == 123456
    assert stored.utcoffset() == timedelta(0)


def test_exposures_across_connections_stored_once(connections: list[Store]) -> None:
    calls = [
        functools.partial(opened.insert_exposures, [_exposure(f"unit-{index}", f"variant-{writer}")
                                                    for index in range(50)])
        for writer, opened in enumerate(connections)
    ]

    results = _run_at_once(calls)

    frame = connections[0].fetch_exposures(EXPERIMENT)
    assert sum(results) == 50
    assert len(frame) == 50
    assert frame["unit_id"].is_unique


def test_exposures_input_not_mutated(store: Store) -> None:
    rows = [_exposure("unit-1", phase=np.int64(0)), _exposure("unit-1", "treatment")]
    rows_copy = copy.deepcopy(rows)

    store.insert_exposures(rows)

    assert rows == rows_copy


# Outcomes ----------------------------------------------------------------------------------------------


def test_outcomes_upsert_returns_rows_written(store: Store) -> None:
    assert store.upsert_outcomes([_outcome("unit-1", 1.0), _outcome("unit-2", 0.0)]) == 2
    assert store.upsert_outcomes([_outcome("unit-2", 1.0)]) == 1


def test_outcomes_empty_batch(store: Store) -> None:
    assert store.upsert_outcomes([]) == 0


def test_outcome_later_replaces_earlier(store: Store) -> None:
    store.upsert_outcomes([_outcome("unit-1", 0.0, "control", T0 + timedelta(hours=2))])

    store.upsert_outcomes([_outcome("unit-1", 1.0, "treatment", T0 + timedelta(hours=1))])

    frame = store.fetch_outcomes(EXPERIMENT)
    assert frame["value"].tolist() == [1.0]
    assert frame["variant"].tolist() == ["treatment"]
    assert frame["timestamp"].tolist() == [pd.Timestamp(T0 + timedelta(hours=1))]


def test_outcome_repeat_in_batch_keeps_last(store: Store) -> None:
    store.upsert_outcomes([_outcome("unit-1", 0.25), _outcome("unit-1", 0.75)])

    assert store.fetch_outcomes(EXPERIMENT)["value"].tolist() == [0.75]


def test_outcome_other_metric_or_phase_kept(store: Store) -> None:
    store.upsert_outcomes([_outcome("unit-1", 1.0)])

    store.upsert_outcomes([_outcome("unit-1", 0.0, metric="recall"), _outcome("unit-1", 0.5, phase=1)])

    assert store.fetch_outcomes(EXPERIMENT)["value"].tolist() == [1.0, 0.0, 0.5]


def test_outcomes_replace_many_in_one_batch(store: Store) -> None:
    # More than the 100 connections per database that FerretDB 1.24 has, had the replacements gone in one
    # update command.
    store.upsert_outcomes([_outcome(f"unit-{index:03d}", 0.0) for index in range(150)])

    written = store.upsert_outcomes([_outcome(f"unit-{index:03d}", 1.0, "treatment") for index in range(150)])

    frame = store.fetch_outcomes(EXPERIMENT)
    assert written == 150
    assert frame["value"].tolist() == [1.0] * 150
    assert set(frame["variant"]) == {"treatment"}


@pytest.mark.parametrize("given, stored", [(True, 1.0), (False, 0.0), (np.bool_(True), 1.0), (3, 3.0),
                                           (np.float32(0.5), 0.5), (-2.5, -2.5)],
                         ids=["true", "false", "numpy-bool", "int", "numpy-float32", "negative"])
def test_outcome_value_stored_as_float(store: Store, given, stored: float) -> None:
    store.upsert_outcomes([_outcome("unit-1", given)])

    values = store.fetch_outcomes(EXPERIMENT)["value"].tolist()

    assert values == [stored]
    assert type(values[0]) is float


@pytest.mark.parametrize(
    "bad_value", [math.nan, math.inf, -math.inf, np.float64("nan"), "0.5", None, 10**400],
    ids=["nan", "inf", "minus-inf", "numpy-nan", "text", "none", "int-beyond-float"],
)
def test_outcomes_bad_value_writes_nothing(store: Store, bad_value) -> None:
    batch = [_outcome("unit-1", 1.0), _outcome("unit-2", bad_value), _outcome("unit-3", 0.0)]

    with pytest.raises(ValidationError, match="^Row 1 ") as excinfo:
        store.upsert_outcomes(batch)

    assert excinfo.value.field == "value"
    assert store.fetch_outcomes(EXPERIMENT).empty


def test_outcomes_bad_value_keeps_stored(store: Store) -> None:
    store.upsert_outcomes([_outcome("unit-1", 1.0)])

    with pytest.raises(ValidationError, match="^Row 1 .*value=nan"):
        store.upsert_outcomes([_outcome("unit-1", 0.0), _outcome("unit-2", math.nan)])

    assert store.fetch_outcomes(EXPERIMENT)["value"].tolist() == [1.0]


@pytest.mark.parametrize("bad_row, field", [
    ({key: value for key, value in _outcome("unit-bad", 1.0).items() if key != "metric"}, "metric"),
    (_outcome("unit-bad", 1.0, metric=5), "metric"),
    (_outcome("unit-bad", 1.0, timestamp=datetime(2026, 3, 2, 8, 0)), "timestamp"),
    (_outcome("unit-bad", 1.0, phase="0"), "phase"),
], ids=["metric-absent", "metric-number", "naive-timestamp", "phase-text"])
def test_outcomes_bad_row_writes_nothing(store: Store, bad_row: dict, field: str) -> None:
    with pytest.raises(ValidationError, match="^Row 1 ") as excinfo:
        store.upsert_outcomes([_outcome("unit-1", 1.0), bad_row])

    assert excinfo.value.field == field
    assert store.fetch_outcomes(EXPERIMENT).empty


@pytest.fixture
def outcomes(store: Store) -> Store:
    """Accuracy and recall of two units in phase 0, accuracy of one unit in phase 1, another experiment."""
    store.upsert_outcomes([
        _outcome("unit-0", 1.0, "control", T0),
        _outcome("unit-1", 0.0, "treatment", T0 + timedelta(minutes=1)),
        _outcome("unit-0", 0.5, "control", T0 + timedelta(minutes=2), metric="recall"),
        _outcome("unit-1", 0.25, "treatment", T0 + timedelta(minutes=3), metric="recall"),
        _outcome("unit-0", 1.0, "treatment", T0 + timedelta(hours=1), phase=1),
        _outcome("unit-0", 0.0, experiment_id=OTHER_EXPERIMENT),
    ])
    return store


def test_outcomes_oldest_first(outcomes: Store) -> None:
    frame = outcomes.fetch_outcomes(EXPERIMENT)

    assert frame["value"].tolist() == [1.0, 0.0, 0.5, 0.25, 1.0]
    assert frame["metric"].tolist() == ["accuracy", "accuracy", "recall", "recall", "accuracy"]


def test_outcomes_same_time_order(store: Store) -> None:
    store.upsert_outcomes([_outcome("unit-a", 1.0, phase=1), _outcome("unit-b", 2.0, metric="recall"),
                           _outcome("unit-b", 3.0), _outcome("unit-a", 4.0, metric="recall")])

    assert store.fetch_outcomes(EXPERIMENT)["value"].tolist() == [3.0, 4.0, 2.0, 1.0]


def test_outcomes_metric_filter(outcomes: Store) -> None:
    frame = outcomes.fetch_outcomes(EXPERIMENT, metric="recall")

    assert frame["unit_id"].tolist() == ["unit-0", "unit-1"]
    assert frame["value"].tolist() == [0.5, 0.25]


def test_outcomes_phase_filter(outcomes: Store) -> None:
    frame = outcomes.fetch_outcomes(EXPERIMENT, phase=1)

    assert frame["unit_id"].tolist() == ["unit-0"]
    assert frame["variant"].tolist() == ["treatment"]


def test_outcomes_phase_and_metric(outcomes: Store) -> None:
    frame = outcomes.fetch_outcomes(EXPERIMENT, phase=0, metric="accuracy")

    assert frame["value"].tolist() == [1.0, 0.0]


def test_outcomes_only_requested_experiment(outcomes: Store) -> None:
    assert outcomes.fetch_outcomes(OTHER_EXPERIMENT)["experiment_id"].tolist() == [OTHER_EXPERIMENT]


def test_outcomes_frame_columns_and_dtypes(outcomes: Store) -> None:
    frame = outcomes.fetch_outcomes(EXPERIMENT)

    assert tuple(frame.columns) == OUTCOME_COLUMNS
    assert _dtypes(frame) == OUTCOME_DTYPES


def test_outcomes_empty_frame_columns_and_dtypes(store: Store) -> None:
    frame = store.fetch_outcomes(EXPERIMENT, metric="accuracy")

    assert frame.empty
    assert tuple(frame.columns) == OUTCOME_COLUMNS
    assert _dtypes(frame) == OUTCOME_DTYPES


def test_outcome_timestamp_keeps_microseconds_in_utc(store: Store) -> None:
    local = T0.astimezone(timezone(timedelta(hours=-3)))
    store.upsert_outcomes([_outcome("unit-1", 1.0, timestamp=local)])

    stored = store.fetch_outcomes(EXPERIMENT)["timestamp"].iloc[0].to_pydatetime()

    assert stored == T0
    assert stored.microsecond == 123456
    assert stored.utcoffset() == timedelta(0)


def test_outcomes_across_connections_replace(connections: list[Store]) -> None:
    # 50 rows per writer are more than one update command of replacements, whose size FerretDB 1.24 limits.
    calls = [
        functools.partial(opened.upsert_outcomes,
                          [_outcome(f"unit-{index}", float(writer)) for index in range(50)])
        for writer, opened in enumerate(connections)
    ]

    results = _run_at_once(calls)

    frame = connections[0].fetch_outcomes(EXPERIMENT)
    assert results == [50] * len(connections)
    assert len(frame) == 50
    assert set(frame["value"]) <= {0.0, 1.0, 2.0, 3.0}


def test_outcomes_input_not_mutated(store: Store) -> None:
    rows = [_outcome("unit-1", True), _outcome("unit-1", np.float32(0.5), phase=np.int64(1))]
    rows_copy = copy.deepcopy(rows)

    store.upsert_outcomes(rows)

    assert rows == rows_copy


# Backend specifics: a SQLite file from before the experiment tables, the MongoDB indexes ----------


def test_sqlite_file_gains_experiment_tables(request: pytest.FixtureRequest) -> None:
    new_tables = {"experiments", "exposures", "outcomes"}
    with contract.BACKENDS["sqlite-file"](request) as opened:
        url, path = opened.url, opened.path
        opened.insert_model({"model_id": "lesion-classifier:1"})
    # Dropping a table drops its indexes too, which leaves the schema that the store had before.
    with closing(sqlite3.connect(path)) as conn:
        for table in sorted(new_tables):
            conn.execute(f"DROP TABLE {table}")
        conn.commit()
        before = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert before.isdisjoint(new_tables)

    with open_store(url) as reopened:
        reopened.insert_experiment(_experiment())
        written = reopened.insert_exposures([_exposure("unit-1")])
        model = reopened.get_model("lesion-classifier:1")

    with closing(sqlite3.connect(path)) as conn:
        names = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
        after = {row[0] for row in names}
    assert new_tables <= after
    assert "exposures_experiment_phase_ts" in after
    assert "outcomes_experiment_phase_ts" in after
    assert written == 1
    assert model == {"model_id": "lesion-classifier:1"}


def test_mongo_experiment_indexes(mongodb_url: str) -> None:
    # Opening twice shows that creating the indexes again, on a database that has them, succeeds.
    open_store(mongodb_url).close()
    with open_store(mongodb_url) as opened:
        database = opened._database
        exposures = database["exposures"].index_information()
        outcomes = database["outcomes"].index_information()
        experiments = database["experiments"].index_information()

    assert exposures["experiment_id_phase_unit_id_unique"]["key"] == [("experiment_id", 1), ("phase", 1),
                                                                       ("unit_id", 1)]
    assert exposures["experiment_id_phase_unit_id_unique"]["unique"] is True
    assert exposures["experiment_id_phase_timestamp"]["key"] == [("experiment_id", 1), ("phase", 1),
                                                                  ("timestamp_us", 1)]
    assert exposures["experiment_id_phase_variant"]["key"] == [("experiment_id", 1), ("phase", 1),
                                                                ("variant", 1)]
    assert outcomes["experiment_id_phase_metric_unit_id_unique"]["key"] == [
        ("experiment_id", 1), ("phase", 1), ("metric", 1), ("unit_id", 1)]
    assert outcomes["experiment_id_phase_metric_unit_id_unique"]["unique"] is True
    assert outcomes["experiment_id_phase_timestamp"]["key"] == [("experiment_id", 1), ("phase", 1),
                                                                 ("timestamp_us", 1)]
    assert experiments["experiment_id_seq_unique"]["key"] == [("experiment_id", 1), ("seq", -1)]
    assert experiments["experiment_id_seq_unique"]["unique"] is True
