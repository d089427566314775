"""Model registry: registration, lookup, stages and baselines kept in the store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.errors import ConflictError, NotFoundError, ValidationError
from workbench.monitoring import compute_baseline
from workbench.registry import Registry
from workbench.store import SQLiteStore


@pytest.fixture
def registry():
    store = SQLiteStore(":memory:")
    yield Registry(store)
    store.close()


@pytest.fixture
def baseline():
    rng = np.random.default_rng(12)
    frame = pd.DataFrame({
        "intensity": np.where(rng.random(500) < 0.1, np.nan, rng.normal(100, 15, 500)),
        "modality": rng.choice(["CT", "MR", "US"], 500),
    })
    labels = (np.nan_to_num(frame["intensity"].to_numpy()) > 100).astype(int)
    predictions = np.where(rng.random(500) < 0.9, labels, 1 - labels)
    positive = np.where(predictions == 1, 0.8, 0.2)
    return compute_baseline(frame, labels=labels, predictions=predictions,
                            probabilities=np.column_stack([1 - positive, positive]))


def test_register_returns_record(registry: Registry) -> None:
    record = registry.register("lesion-classifier", 1, description="first version")

    assert record.model_id == "lesion-classifier:1"
    assert record.version == "1"
    assert record.stage == "staging"
    assert record.description == "first version"


def test_register_then_get(registry: Registry) -> None:
    registry.register("lesion-classifier", 1, metrics={"accuracy": 0.91}, classes=["benign", "malignant"])

    record = registry.get("lesion-classifier:1")

    assert record.metrics == {"accuracy": 0.91}
    assert record.classes == ("benign", "malignant")
    assert record.created_at is not None


def test_register_duplicate_conflicts(registry: Registry) -> None:
    registry.register("lesion-classifier", 1)

    with pytest.raises(ConflictError, match="'lesion-classifier:1' is already registered"):
        registry.register("lesion-classifier", 1)


@pytest.mark.parametrize("name", ["", "lesion classifier", "lesion:classifier", "-lesion", "lesion\n",
                                  "x" * 129])
def test_register_rejects_invalid_name(registry: Registry, name: str) -> None:
    with pytest.raises(ValidationError, match="Model name .* is invalid; use letters, digits"):
        registry.register(name, 1)

    assert registry.list() == []


def test_register_rejects_invalid_version(registry: Registry) -> None:
    with pytest.raises(ValidationError, match="Model version '1 beta' is invalid"):
        registry.register("lesion-classifier", "1 beta")


def test_register_rejects_invalid_stage(registry: Registry) -> None:
    with pytest.raises(ValidationError, match="Stage 'live' is invalid; use one of staging, production, archived"):
        registry.register("lesion-classifier", 1, stage="live")


def test_get_unknown_lists_registered(registry: Registry) -> None:
    registry.register("lesion-classifier", 1)

    with pytest.raises(NotFoundError, match=r"'lesion-classifier:2' is not registered \(registered: lesion-classifier:1\)"):
        registry.get("lesion-classifier:2")


def test_list_by_stage(registry: Registry) -> None:
    registry.register("lesion-classifier", 1)
    registry.register("lesion-classifier", 2, stage="production")
    registry.register("report-reader", 1, stage="production")

    production = [record.model_id for record in registry.list(stage="production")]

    assert production == ["lesion-classifier:2", "report-reader:1"]
    assert len(registry.list()) == 3


def test_list_rejects_invalid_stage(registry: Registry) -> None:
    with pytest.raises(ValidationError, match="Stage 'live' is invalid"):
        registry.list(stage="live")


def test_set_stage_changes_stage(registry: Registry) -> None:
    registry.register("lesion-classifier", 1)

    updated = registry.set_stage("lesion-classifier:1", "production")

    assert updated.stage == "production"
    assert registry.get("lesion-classifier:1").stage == "production"


def test_set_stage_archives_other_production(registry: Registry) -> None:
    registry.register("lesion-classifier", 1, stage="production")
    registry.register("lesion-classifier", 2)
    registry.register("report-reader", 1, stage="production")

    registry.set_stage("lesion-classifier:2", "production")

    assert registry.get("lesion-classifier:1").stage == "archived"
    assert registry.get("lesion-classifier:2").stage == "production"
    assert registry.get("report-reader:1").stage == "production"


def test_set_stage_keeps_others_when_asked(registry: Registry) -> None:
    registry.register("lesion-classifier", 1, stage="production")
    registry.register("lesion-classifier", 2)

    registry.set_stage("lesion-classifier:2", "production", archive_others=False)

    assert registry.get("lesion-classifier:1").stage == "production"


def test_set_stage_rejects_invalid_stage(registry: Registry) -> None:
    registry.register("lesion-classifier", 1)

    with pytest.raises(ValidationError, match="Stage 'retired' is invalid"):
        registry.set_stage("lesion-classifier:1", "retired")

    assert registry.get("lesion-classifier:1").stage == "staging"


def test_set_stage_unknown_model(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match="'lesion-classifier:1' is not registered"):
        registry.set_stage("lesion-classifier:1", "production")


def test_baseline_round_trips_through_store(registry: Registry, baseline) -> None:
    registry.register("lesion-classifier", 1, baseline_statistics=baseline)

    restored = registry.get("lesion-classifier:1").baseline

    assert restored == baseline
    assert restored.metrics == baseline.metrics
    np.testing.assert_array_equal(restored.features["intensity"].sample, baseline.features["intensity"].sample)
    assert restored.features["modality"].frequencies == baseline.features["modality"].frequencies


def test_register_takes_metrics_and_classes_from_baseline(registry: Registry, baseline) -> None:
    record = registry.register("lesion-classifier", 1, baseline_statistics=baseline)

    assert record.metrics == baseline.metrics
    assert record.classes == (0, 1)


def test_register_accepts_numpy_classes(registry: Registry) -> None:
    # A scikit-learn classes_ array contains NumPy scalars, which the store's JSON cannot encode as is.
    registry.register("lesion-classifier", 1, classes=np.array([0, 1]))

    assert registry.get("lesion-classifier:1").classes == (0, 1)


def test_to_frame_one_row_per_model(registry: Registry, baseline) -> None:
    registry.register("lesion-classifier", 1, baseline_statistics=baseline)
    registry.register("report-reader", 1)

    frame = registry.to_frame()

    assert frame["model_id"].tolist() == ["lesion-classifier:1", "report-reader:1"]
    assert frame["has_baseline"].tolist() == [True, False]


def test_register_rejects_reserved_feature_names(registry):
    baseline = compute_baseline(pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [0, 1, 0]}))

    with pytest.raises(ValidationError, match=r"\['label'\] have names that monitoring keeps"):
        registry.register("reserved", "1", baseline_statistics=baseline)
