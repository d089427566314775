"""Fixtures shared by the monitoring tests: a reference frame, a monitor on an in-memory store and a
registered model."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.config import Settings
from workbench.monitoring import Monitor, compute_baseline
from workbench.store import SQLiteStore


@pytest.fixture
def t0() -> datetime:
    """Start of every recorded stream. Tests pass timestamps explicitly and never read the clock."""
    return datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def reference() -> pd.DataFrame:
    """Reference with a numeric and a categorical feature, drawn with a fixed seed."""
    rng = np.random.default_rng(11)
    return pd.DataFrame({
        "intensity": rng.normal(100.0, 15.0, size=400),
        "modality": rng.choice(["CT", "MR"], size=400),
    })


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, store_url="sqlite:///:memory:", min_samples=30, min_labels=30)


@pytest.fixture
def monitor(settings: Settings):
    store = SQLiteStore(":memory:")
    yield Monitor(store=store, settings=settings)
    store.close()


@pytest.fixture
def model_id(monitor: Monitor, reference: pd.DataFrame) -> str:
    """Register a model whose baseline comes from ``reference`` and return its id.

    The model is right on every reference row (label 1 when intensity > 100, probability 0.9 for the
    predicted class), so every baseline metric is 1.0.
    """
    labels = (reference["intensity"] > 100.0).astype(int).to_numpy()
    positive = np.where(labels == 1, 0.9, 0.1)
    probabilities = np.column_stack([1.0 - positive, positive])
    baseline = compute_baseline(reference, labels=labels, predictions=labels, probabilities=probabilities)
    monitor.registry.register("lesion-classifier", 1, baseline_statistics=baseline)
    return "lesion-classifier:1"
