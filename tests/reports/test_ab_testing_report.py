"""Run the A/B testing report notebook by name on a small simulated experiment and check its HTML."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from workbench.abtesting import Experiments
from workbench.abtesting.simulation import simulate_experiment
from workbench.errors import NotebookExecutionError, NotebookParameterError
from workbench.reports import run_report
from workbench.store import open_store

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "ab_testing.ipynb"
EXPERIMENT_ID = "lesion-classifier-v1-vs-v2"
TREATMENT = "lesion-classifier:2"
START = datetime(2026, 3, 2, tzinfo=UTC)


def _build_store(data_dir: Path) -> str:
    """Simulate 800 units over 5 days in which the treatment is correct far more often. Return the store URL."""
    store_url = f"sqlite:///{(data_dir / 'store.db').as_posix()}"
    experiments = Experiments(open_store(store_url))
    experiments.registry.register("lesion-classifier", 1, stage="production")
    experiments.registry.register("lesion-classifier", 2)
    simulate_experiment(experiments, EXPERIMENT_ID, "lesion-classifier:1", TREATMENT, units=800, days=5,
                        start=START, correct_rates=(0.78, 0.92), seed=5)
    return store_url


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("ab_testing")
    with pytest.MonkeyPatch.context() as patch:
        # The kernel inherits this environment, so settings of the developer's shell must not leak in.
        for name in [name for name in os.environ if name.startswith("WORKBENCH_")]:
            patch.delenv(name)
        patch.setenv("WORKBENCH_DATA_DIR", str(folder / "data"))
        # load_settings reads .env from the working directory. Outside the source tree, report names
        # resolve to the notebooks folder next to the workbench package.
        patch.chdir(folder)
        (folder / "data").mkdir()
        yield {"folder": folder, "store_url": _build_store(folder / "data")}


@pytest.fixture(scope="module")
def report(environment):
    parameters = {"experiment_id": EXPERIMENT_ID, "store_url": environment["store_url"]}
    run = run_report("ab_testing", parameters, output_dir=environment["folder"] / "out")
    return {"run": run, "html": run.html_path.read_text(encoding="utf-8")}


@pytest.fixture(scope="module")
def overridden(environment):
    parameters = {"experiment_id": EXPERIMENT_ID, "store_url": environment["store_url"], "alpha": "0.01",
                  "mode": "sequential"}
    run = run_report(NOTEBOOK, parameters, output_dir=environment["folder"] / "overridden")
    return {"run": run, "html": run.html_path.read_text(encoding="utf-8")}


def test_report_succeeds(report):
    assert report["run"].manifest["status"] == "succeeded"


def test_report_found_by_name(report):
    assert report["run"].manifest["notebook"] == str(NOTEBOOK)


def test_report_decision(report):
    assert f"Decision: treatment wins (<code>{TREATMENT}</code>)." in report["html"]


def test_report_sample_ratio_check(report):
    assert "Sample ratio check passed: chi-square " in report["html"]


def test_report_sections(report):
    for heading in ("Experiment design", "Exposed units and metric means per variant", "Sample ratio check",
                    "Tests and lifts", "Cumulative lift of the primary metric over time",
                    "Bayesian view of the primary metric", "Decision"):
        assert f">{heading}<" in report["html"], heading


def test_report_draws_two_figures(report):
    assert report["html"].count("<img") == 2


def test_report_hides_output_prompts(report):
    assert re.search(r"Out\[\d+\]", report["html"]) is None


def test_report_leaves_out_widgets(report):
    assert "Explore other experiments and phases" not in report["html"]


def test_report_exposure_window(report):
    assert "units were exposed from 2026-03-02 " in report["html"]


def test_report_manifest_facts(report):
    facts = report["run"].manifest["facts"]

    assert facts["experiment_id"] == EXPERIMENT_ID
    assert facts["decision"]["winner"] == "treatment"
    assert facts["srm_flagged"] is False
    assert facts["overrides"] == {}


def test_report_manifest_data_window(report):
    window = report["run"].manifest["data_window"]

    assert window["start"].startswith("2026-03-02T")
    assert window["end"].startswith("2026-03-06T")


def test_report_manifest_parameters(report):
    manifest = report["run"].manifest

    assert manifest["parameters"]["phase"] == -1
    assert manifest["parameters"]["alpha"] == 0.0
    assert manifest["parameters"]["mode"] == ""
    assert manifest["overrides"] == ["experiment_id", "store_url"]


def test_override_shown(overridden):
    assert "This analysis overrides alpha 0.01 (stored: 0.05), mode sequential (stored: fixed)." in overridden["html"]


def test_override_uses_sequential(overridden):
    assert "confidence sequence" in overridden["html"]
    assert overridden["run"].manifest["facts"]["overrides"]["mode"] == {"stored": "fixed", "used": "sequential"}


def test_override_converts_parameters(overridden):
    parameters = overridden["run"].manifest["parameters"]

    assert parameters["alpha"] == 0.01
    assert parameters["mode"] == "sequential"


def test_override_leaves_store_unchanged(overridden, environment):
    experiment = Experiments(open_store(environment["store_url"])).get(EXPERIMENT_ID)

    assert experiment.alpha == 0.05
    assert experiment.mode == "fixed"
    assert experiment.revision == 0


def test_unconvertible_parameter_rejected(environment):
    output_dir = environment["folder"] / "unconvertible"

    with pytest.raises(NotebookParameterError, match="phase"):
        run_report(NOTEBOOK, {"experiment_id": EXPERIMENT_ID, "phase": "current"}, output_dir=output_dir)

    assert not output_dir.exists()


def test_unknown_parameter_rejected(environment):
    with pytest.raises(NotebookParameterError) as raised:
        run_report(NOTEBOOK, {"experiment": EXPERIMENT_ID}, output_dir=environment["folder"] / "unknown")

    assert raised.value.unknown == ["experiment"]


def test_invalid_mode_fails_run(environment):
    parameters = {"experiment_id": EXPERIMENT_ID, "store_url": environment["store_url"], "mode": "bayesian"}
    output_dir = environment["folder"] / "invalid-mode"

    with pytest.raises(NotebookExecutionError, match="mode='bayesian' is invalid; use one of 'fixed', 'sequential'"):
        run_report(NOTEBOOK, parameters, output_dir=output_dir)

    assert (output_dir / "manifest.json").is_file()
