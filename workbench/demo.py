"""The demo: sample data, a registered model with its baseline, a recorded stream, an A/B test and two reports.

The data are the real rows of the breast cancer data set that scikit-learn ships, turned into a
reference cohort and an eight-week production stream by ``data_samples/build_samples.py``; from the
fifth week one imaging site reports scaled texture features (``data_samples/README.md`` has the
details). The A/B part registers a second version of the model and simulates an experiment between the
two versions over the stream's final two weeks (:mod:`workbench.abtesting.simulation`). Its outcomes
are drawn at random, not computed from the sample data. The experiment is left running, so version 1
stays in production.

Running the demo twice is safe: the models are registered once, predictions are stored once by their
prediction id, alerts once per window, exposures once per unit, and outcomes are replaced by the same
values.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from workbench.abtesting import Experiments
from workbench.abtesting.simulation import simulate_experiment
from workbench.config import Settings
from workbench.errors import NotFoundError
from workbench.monitoring import Monitor, compute_baseline
from workbench.registry import ModelRecord

logger = logging.getLogger(__name__)

DEMO_MODEL_NAME = "breast-cancer-lr"
DEMO_MODEL_VERSION = "1"
DEMO_MODEL_ID = f"{DEMO_MODEL_NAME}:{DEMO_MODEL_VERSION}"
#: The second version of the demo model, the treatment of the demo experiment.
DEMO_TREATMENT_VERSION = "2"
DEMO_TREATMENT_ID = f"{DEMO_MODEL_NAME}:{DEMO_TREATMENT_VERSION}"
DEMO_EXPERIMENT_ID = "breast-cancer-lr-v1-vs-v2"
#: Days of the demo experiment, which end with the prediction stream.
DEMO_EXPERIMENT_DAYS = 14
#: The last 600 of the 2,400 predictions fall in the two final weeks, after the shift began.
DEMO_WINDOW = "last:600"
CLASSES = (0, 1)
CATEGORICAL_FEATURES = ("site",)
NON_FEATURE_COLUMNS = ("prediction_id", "timestamp", "label", "prediction", "proba_0", "proba_1")
#: Predictions recorded per store transaction, so the progress bar moves.
CHUNK_SIZE = 200


def samples_dir() -> Path:
    """Return the ``data_samples`` folder of the source tree."""
    return Path(__file__).resolve().parent.parent / "data_samples"


def run_demo(settings: Settings, *, output_dir: Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Build the sample data, register the demo model, record the stream and run the monitoring report.

    Then, unless A/B testing is switched off (``AB_TESTING_ENABLED=false``), register the model's
    second version, simulate the experiment between both versions and run the A/B testing report. The
    A/B report goes into ``output_dir / "ab_testing"`` when ``output_dir`` is given, because both runs
    write a ``manifest.json``.

    Returns a dictionary with the model id, the counts recorded, the status summary of the demo window
    and the paths of the HTML report and its manifest. The A/B part adds ``experiment_id``,
    ``ab_decision`` (the decision the A/B report computed, as a dictionary), ``ab_html_path`` and
    ``ab_manifest_path``, all None when A/B testing is switched off. The multi-modality report of the
    sample CT image with the sample chest CT report adds ``study_html_path``, ``study_findings`` (the
    count) and ``study_mismatches``, all None when multi-modality is switched off
    (``MULTI_MODALITY_ENABLED=false``).
    """
    from workbench.reports import run_report

    paths = _build_samples(samples_dir())
    reference = pd.read_csv(paths["reference"])
    production = pd.read_csv(paths["production"])
    labels = pd.read_csv(paths["labels"])

    monitor = Monitor(settings=settings)
    model = _register(monitor, reference)
    recorded = _record_stream(monitor, production, labels, progress=progress)

    status = monitor.status(model.model_id, DEMO_WINDOW)
    parameters = {"model_id": model.model_id, "window": DEMO_WINDOW, "store_url": settings.store_url}
    run = run_report("model_monitoring", parameters, output_dir=output_dir, progress=progress)
    logger.info("demo report written to %s", run.html_path)
    result = {
        "model_id": model.model_id,
        **recorded,
        "summary": status.summary(),
        "alert": status.alert,
        "html_path": str(run.html_path),
        "manifest_path": str(run.manifest_path),
        "experiment_id": None,
        "ab_decision": None,
        "ab_html_path": None,
        "ab_manifest_path": None,
    }
    if settings.ab_testing_enabled:
        ab_output_dir = None if output_dir is None else output_dir / "ab_testing"
        result |= _run_ab_test(monitor, model, production, output_dir=ab_output_dir, progress=progress)
    result |= {"study_html_path": None, "study_findings": None, "study_mismatches": None}
    if settings.multi_modality_enabled:
        study_output_dir = None if output_dir is None else output_dir / "multi_modality"
        result |= _run_study_report(paths, output_dir=study_output_dir, progress=progress)
    return result


def _run_study_report(paths: dict[str, Path], *, output_dir: Path | None, progress: bool) -> dict[str, Any]:
    """Run the multi-modality report on the sample CT image with the sample chest CT report."""
    from workbench.modality.report import SAMPLE_REPORT_PATH
    from workbench.reports import run_report

    parameters = {"image_path": str(paths["images/CT_small.dcm"]), "report_path": str(SAMPLE_REPORT_PATH)}
    run = run_report("multi_modality", parameters, output_dir=output_dir, progress=progress)
    logger.info("demo multi-modality report written to %s", run.html_path)
    facts = run.manifest["facts"]
    return {"study_html_path": str(run.html_path), "study_findings": facts.get("findings"),
            "study_mismatches": facts.get("mismatches")}


def _run_ab_test(monitor: Monitor, control: ModelRecord, production: pd.DataFrame, *, output_dir: Path | None,
                 progress: bool) -> dict[str, Any]:
    """Register the second model version, simulate the experiment and run the A/B testing report."""
    from workbench.reports import run_report

    treatment = _register_treatment(monitor, control)
    # The experiment covers the stream's last DEMO_EXPERIMENT_DAYS whole days (UTC).
    last_day = pd.to_datetime(production["timestamp"], utc=True).max().floor("D")
    start = last_day - pd.Timedelta(days=DEMO_EXPERIMENT_DAYS - 1)
    simulate_experiment(Experiments(monitor.store, monitor.registry), DEMO_EXPERIMENT_ID, control.model_id,
                        treatment.model_id, days=DEMO_EXPERIMENT_DAYS, start=start.to_pydatetime())

    parameters = {"experiment_id": DEMO_EXPERIMENT_ID, "store_url": monitor.settings.store_url}
    run = run_report("ab_testing", parameters, output_dir=output_dir, progress=progress)
    logger.info("demo A/B report written to %s", run.html_path)
    return {
        "experiment_id": DEMO_EXPERIMENT_ID,
        "ab_decision": run.manifest["facts"].get("decision"),
        "ab_html_path": str(run.html_path),
        "ab_manifest_path": str(run.manifest_path),
    }


def _build_samples(folder: Path) -> dict[str, Path]:
    """Write the sample tables and copy the sample images, keyed as ``reference`` or ``images/<name>``."""
    module = _load_module(folder / "build_samples.py")
    paths = module.build_samples(folder)
    paths.update({f"images/{name}": path for name, path in module.build_images(folder).items()})
    return paths


def _load_module(path: Path) -> ModuleType:
    if not path.is_file():
        raise NotFoundError(
            f"The sample data script {str(path)!r} is missing; the demo runs from a clone of the "
            "workbench repository.",
            kind="file", key=str(path),
        )
    spec = importlib.util.spec_from_file_location("workbench_build_samples", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _register(monitor: Monitor, reference: pd.DataFrame) -> ModelRecord:
    try:
        existing = monitor.registry.get(DEMO_MODEL_ID)
    except NotFoundError:
        existing = None
    if existing is not None:
        logger.info("demo model %s is already registered; reusing it", DEMO_MODEL_ID)
        return existing

    features = reference.drop(columns=[column for column in NON_FEATURE_COLUMNS if column in reference])
    baseline = compute_baseline(
        features,
        feature_types={column: "categorical" for column in CATEGORICAL_FEATURES},
        labels=reference["label"],
        predictions=reference["prediction"],
        probabilities=reference[["proba_0", "proba_1"]].to_numpy(),
        classes=CLASSES,
        reference_sample_size=monitor.settings.reference_sample_size,
    )
    return monitor.registry.register(
        DEMO_MODEL_NAME, DEMO_MODEL_VERSION, stage="production", baseline_statistics=baseline,
        description="Logistic regression on the Wisconsin diagnostic breast cancer features (demo).",
    )


def _register_treatment(monitor: Monitor, control: ModelRecord) -> ModelRecord:
    """Register version 2 of the demo model at stage staging, with version 1's baseline, unless it exists."""
    try:
        return monitor.registry.get(DEMO_TREATMENT_ID)
    except NotFoundError:
        pass
    return monitor.registry.register(
        DEMO_MODEL_NAME, DEMO_TREATMENT_VERSION, stage="staging", baseline_statistics=control.baseline,
        description="Second version of the demo model, the treatment of the demo A/B test, whose outcomes are "
                    "simulated. It shares version 1's baseline, computed from the same reference data.",
    )


def _record_stream(monitor: Monitor, production: pd.DataFrame, labels: pd.DataFrame, *,
                   progress: bool) -> dict[str, int]:
    features = production.drop(columns=[column for column in NON_FEATURE_COLUMNS if column in production])
    new = 0
    bar = tqdm(total=len(production), desc="recording predictions", unit="pred", disable=not progress)
    with bar:
        for start in range(0, len(production), CHUNK_SIZE):
            chunk = slice(start, start + CHUNK_SIZE)
            new += monitor.record_batch(
                DEMO_MODEL_ID,
                features.iloc[chunk],
                production["prediction"].iloc[chunk],
                production[["proba_0", "proba_1"]].iloc[chunk].to_numpy(),
                prediction_ids=production["prediction_id"].iloc[chunk],
                timestamps=production["timestamp"].iloc[chunk],
            )
            bar.update(len(production.iloc[chunk]))
    written = monitor.record_labels(DEMO_MODEL_ID, labels["prediction_id"], labels["label"],
                                    timestamps=labels["timestamp"])
    return {"predictions": len(production), "new_predictions": new, "labels": written}
