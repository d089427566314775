"""Run the model monitoring report notebook on a small seeded store and check what its HTML shows."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.config import Settings
from workbench.monitoring import Monitor, compute_baseline
from workbench.reports import run_report

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "model_monitoring.ipynb"
MODEL_ID = "lesion-classifier:1"
WINDOW = "last:120"
WINDOW_KEY = "last:120 ending pred-000239"
# Longer than pandas' default display.max_colwidth of 50 characters.
DRIFT_MESSAGE = "drift in 2 feature(s): mean_intensity_hounsfield, acquisition_modality"


def _build_store(data_dir: Path) -> str:
    """Register a model and record 240 hourly predictions whose last 120 drift and decay.

    Returns the store URL. The drift and decay alerts of the window ``all`` are stored too, so the
    report has alerts of another window to list.
    """
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({
        "mean_intensity_hounsfield": rng.normal(100.0, 15.0, size=400),
        "acquisition_modality": rng.choice(["CT", "MR"], size=400, p=[0.7, 0.3]),
    })
    reference_labels = (reference["mean_intensity_hounsfield"] > 100.0).astype(int).to_numpy()
    reference_positive = np.where(reference_labels == 1, 0.9, 0.1)
    baseline = compute_baseline(
        reference,
        labels=reference_labels,
        predictions=reference_labels,
        probabilities=np.column_stack([1.0 - reference_positive, reference_positive]),
    )

    stable = pd.DataFrame({
        "mean_intensity_hounsfield": rng.normal(100.0, 15.0, size=120),
        "acquisition_modality": rng.choice(["CT", "MR"], size=120, p=[0.7, 0.3]),
    })
    shifted = pd.DataFrame({
        "mean_intensity_hounsfield": rng.normal(140.0, 15.0, size=120),
        "acquisition_modality": rng.choice(["CT", "MR"], size=120, p=[0.2, 0.8]),
    })
    stream = pd.concat([stable, shifted], ignore_index=True)
    labels = (stream["mean_intensity_hounsfield"] > 100.0).astype(int).to_numpy()
    # Predictions are right on the stable half. In the shifted half every third one is wrong.
    wrong = (np.arange(len(stream)) >= 120) & (np.arange(len(stream)) % 3 == 0)
    predictions = np.where(wrong, 1 - labels, labels)
    positive = np.where(predictions == 1, 0.9, 0.1)

    store_url = f"sqlite:///{(data_dir / 'store.db').as_posix()}"
    monitor = Monitor(settings=Settings(data_dir=data_dir, store_url=store_url))
    monitor.registry.register("lesion-classifier", 1, stage="production", baseline_statistics=baseline)
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    monitor.record_batch(
        MODEL_ID,
        stream,
        predictions,
        np.column_stack([1.0 - positive, positive]),
        labels=labels,
        prediction_ids=[f"pred-{index:06d}" for index in range(len(stream))],
        timestamps=[start + timedelta(hours=index) for index in range(len(stream))],
    )
    monitor.status(MODEL_ID, "all")
    return store_url


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("monitoring")
    with pytest.MonkeyPatch.context() as patch:
        # The kernel inherits this environment, so settings of the developer's shell must not leak in.
        for name in [name for name in os.environ if name.startswith("WORKBENCH_")]:
            patch.delenv(name)
        patch.setenv("WORKBENCH_DATA_DIR", str(folder / "data"))
        # load_settings reads .env from the working directory.
        patch.chdir(folder)
        (folder / "data").mkdir()

        store_url = _build_store(folder / "data")
        parameters = {"model_id": MODEL_ID, "window": WINDOW, "store_url": store_url, "period": "2D"}
        run = run_report(NOTEBOOK, parameters, output_dir=folder / "out")

    html = run.html_path.read_text(encoding="utf-8")
    window_section = html.split("Alerts of the reported window", 1)[1].split("Other alerts of this model", 1)[0]
    other_section = html.split("Other alerts of this model", 1)[1]
    return {"run": run, "html": html, "window_section": window_section, "other_section": other_section}


def test_report_succeeds(report):
    assert report["run"].manifest["status"] == "succeeded"


def test_report_window_alerts(report):
    section = report["window_section"]

    assert WINDOW_KEY in section
    assert DRIFT_MESSAGE in section
    assert "all ending" not in section


def test_report_other_alerts(report):
    section = report["other_section"]

    assert "Alerts of this model from other windows: 2." in section
    assert "all ending pred-000239" in section
    assert WINDOW_KEY not in section


def test_report_hides_output_prompts(report):
    assert re.search(r"Out\[\d+\]", report["html"]) is None


def test_report_draws_two_figures(report):
    assert report["html"].count("<img") == 2


def test_report_history_dates(report):
    assert "period start (UTC)" in report["html"]
    assert ">2026-03-02<" in report["html"]


def test_report_manifest_parameters(report):
    manifest = report["run"].manifest

    assert manifest["parameters"]["alpha"] == 0.05
    assert manifest["parameters"]["window"] == WINDOW
    assert manifest["overrides"] == ["model_id", "window", "store_url", "period"]
