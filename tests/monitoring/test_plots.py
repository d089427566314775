"""Tests of the figures that the model monitoring report draws, on a seeded reference and a shifted window."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from workbench.monitoring import compute_baseline, detect_drift
from workbench.monitoring.plots import plot_feature_distributions, plot_metric_history


@pytest.fixture(scope="module")
def drifted():
    """Baseline and a window in which a numeric and two categorical features all shift."""
    rng = np.random.default_rng(7)
    reference = pd.DataFrame({
        "intensity": rng.normal(100.0, 15.0, size=400),
        "modality": rng.choice(["CT", "MR"], size=400, p=[0.7, 0.3]),
        "site": rng.choice(["A", "B"], size=400, p=[0.5, 0.5]),
    })
    current = pd.DataFrame({
        "intensity": rng.normal(140.0, 15.0, size=300),
        "modality": rng.choice(["CT", "MR"], size=300, p=[0.2, 0.8]),
        "site": rng.choice(["A", "B"], size=300, p=[0.9, 0.1]),
    })
    baseline = compute_baseline(reference)
    report = detect_drift(baseline, current)
    return baseline, current, report


@pytest.fixture
def history() -> pd.DataFrame:
    return pd.DataFrame({
        "period_start": pd.to_datetime(["2026-09-07", "2026-09-14", "2026-09-21"], utc=True),
        "accuracy": [0.96, 0.95, 0.86],
        "recall": [1.0, 0.98, 0.80],
        "f1": [0.97, 0.96, 0.88],
        "roc_auc": [0.99, 0.99, 0.98],
    })


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _legend_labels(axis) -> list[str]:
    legend = axis.get_legend()
    return [] if legend is None else [text.get_text() for text in legend.get_texts()]


def test_drifted_fixture_drifts_every_feature(drifted):
    report = drifted[2]

    assert report.drifted_features == ["intensity", "modality", "site"]


def test_feature_distributions_axis_labels(drifted):
    baseline, current, report = drifted

    figure = plot_feature_distributions(baseline, current, report)

    numeric, modality, site = figure.axes[:3]
    assert numeric.get_xlabel() == "feature value"
    assert numeric.get_ylabel() == "density"
    assert modality.get_xlabel() == "category"
    assert modality.get_ylabel() == "share"
    assert site.get_ylabel() == "share"


def test_feature_distributions_legends(drifted):
    baseline, current, report = drifted

    figure = plot_feature_distributions(baseline, current, report)

    for axis in figure.axes[:3]:
        assert _legend_labels(axis) == ["reference", "current"], axis.get_title()


def test_feature_distributions_numeric_legend_first_only(drifted):
    baseline, current, report = drifted

    figure = plot_feature_distributions(baseline, current, report, features=["intensity", "site", "intensity"])

    assert _legend_labels(figure.axes[0]) == ["reference", "current"]
    assert _legend_labels(figure.axes[1]) == ["reference", "current"]
    assert figure.axes[2].get_legend() is None


def test_metric_history_default_metrics(history):
    figure = plot_metric_history(history, {"accuracy": 0.97, "recall": 0.99, "f1": 0.975, "roc_auc": 0.99})

    assert [axis.get_title() for axis in figure.axes] == ["accuracy", "recall", "f1", "roc_auc"]


def test_metric_history_per_period_label(history):
    figure = plot_metric_history(history, {"accuracy": 0.97}, tolerance=0.05)

    assert _legend_labels(figure.axes[0]) == ["per period", "baseline", "tolerance"]


def test_metric_history_skips_missing_metric(history):
    figure = plot_metric_history(history.drop(columns="recall"), {})

    assert [axis.get_title() for axis in figure.axes] == ["accuracy", "f1", "roc_auc"]
