"""Tests of the workbench command line, run in-process through ``main``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from workbench.cli import main

MODEL_ID = "toy-model:1"


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Point every command at a store in a temporary folder and keep the working folder's .env out."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WORKBENCH_STORE_URL", raising=False)
    monkeypatch.delenv("MODEL_MONITORING_ENABLED", raising=False)


@pytest.fixture
def tables(tmp_path):
    """Reference and current CSV files; the current ``x`` is shifted by one standard deviation."""
    rng = np.random.default_rng(11)
    reference = pd.DataFrame({"x": rng.normal(size=400), "site": rng.choice(["A", "B"], size=400),
                              "label": rng.integers(0, 2, size=400)})
    reference["prediction"] = reference["label"]
    reference["proba_1"] = np.where(reference["label"] == 1, 0.8, 0.2)
    reference["proba_0"] = 1 - reference["proba_1"]
    current = pd.DataFrame({"x": rng.normal(1.0, size=300), "site": rng.choice(["A", "B"], size=300)})
    paths = {"reference": tmp_path / "reference.csv", "current": tmp_path / "current.parquet"}
    reference.to_csv(paths["reference"], index=False)
    current.to_parquet(paths["current"])
    return paths, reference, current


def run_json(capsys, *argv):
    status = main([*argv, "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def register(tables_fixture):
    paths, _, _ = tables_fixture
    return main(["models", "register", "toy-model", "1", "--reference", str(paths["reference"]),
                 "--label-column", "label", "--prediction-column", "prediction",
                 "--probability-columns", "proba_0,proba_1", "--classes", "0,1", "--categorical", "site"])


def test_drift_matches_scipy(capsys, tables):
    paths, reference, current = tables
    report = run_json(capsys, "drift", str(paths["reference"]), str(paths["current"]), "--categorical", "site",
                      "--exclude", "label,prediction,proba_0,proba_1")
    x = next(item for item in report["features"] if item["feature"] == "x")
    expected = stats.ks_2samp(reference["x"], current["x"])
    # Same arrays and the same exact-mode algorithm: agreement to rounding error.
    assert x["statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert x["pvalue"] == pytest.approx(expected.pvalue, rel=1e-9)


def test_drift_lists_columns_missing_from_current(capsys, tables):
    paths, _, _ = tables
    status = main(["drift", str(paths["reference"]), str(paths["current"])])
    assert status == 1
    assert "--exclude label,prediction,proba_1,proba_0" in capsys.readouterr().err


def test_drift_text_output_names_drifted_columns(capsys, tables):
    paths, _, _ = tables
    status = main(["drift", str(paths["reference"]), str(paths["current"]), "--categorical", "site",
                   "--exclude", "label,prediction,proba_0,proba_1"])
    output = capsys.readouterr().out
    assert status == 0
    assert "1 of 2 columns drifted (alpha 0.05, correction bh): x." in output


def test_drift_rejects_unknown_suffix(capsys, tmp_path):
    (tmp_path / "a.txt").write_text("x\n1\n")
    status = main(["drift", str(tmp_path / "a.txt"), str(tmp_path / "a.txt")])
    assert status == 1
    assert "use a CSV" in capsys.readouterr().err


def test_models_register_and_list(capsys, tables):
    assert register(tables) == 0
    capsys.readouterr()
    models = run_json(capsys, "models", "list")
    assert [model["model_id"] for model in models] == [MODEL_ID]


def test_models_register_twice_fails(capsys, tables):
    register(tables)
    capsys.readouterr()
    assert register(tables) == 1
    assert "already registered" in capsys.readouterr().err


def test_models_stage_moves_model(capsys, tables):
    register(tables)
    capsys.readouterr()
    record = run_json(capsys, "models", "stage", MODEL_ID, "production")
    assert record["stage"] == "production"


def test_models_show_unknown_id(capsys, tables):
    register(tables)
    capsys.readouterr()
    status = main(["models", "show", "missing:9"])
    assert status == 1
    assert "'missing:9' is not registered" in capsys.readouterr().err


def test_record_and_status(capsys, tables):
    register(tables)
    capsys.readouterr()
    for index in range(40):
        features = json.dumps({"x": 3.0 + index / 40, "site": "AB"[index % 2]})
        run_json(capsys, "monitoring", "record", MODEL_ID, "--features", features, "--prediction", "1",
                 "--probability", "[0.3, 0.7]", "--label", "0", "--prediction-id", f"p{index}",
                 "--timestamp", f"2026-09-07T10:{index:02d}:00Z")
    status = run_json(capsys, "monitoring", "status", MODEL_ID, "--window", "all")
    assert status["drift"]["drifted_features"] == ["x"]
    assert status["decay"]["status"] == "decay"


def test_record_rejects_bad_probability(capsys, tables):
    register(tables)
    capsys.readouterr()
    status = main(["monitoring", "record", MODEL_ID, "--features", '{"x": 1.0, "site": "A"}',
                   "--prediction", "1", "--probability", "[0.3, 0.3]"])
    assert status == 1
    assert "sums to 0.6" in capsys.readouterr().err


def test_record_rejects_invalid_json(capsys, tables):
    register(tables)
    capsys.readouterr()
    status = main(["monitoring", "record", MODEL_ID, "--features", "{x: 1}", "--prediction", "1"])
    assert status == 1
    assert "--features is not valid JSON" in capsys.readouterr().err


def test_status_all_lists_models(capsys, tables):
    register(tables)
    capsys.readouterr()
    statuses = run_json(capsys, "monitoring", "status")
    assert [status["model_id"] for status in statuses] == [MODEL_ID]


def test_alerts_empty(capsys, tables):
    register(tables)
    capsys.readouterr()
    assert run_json(capsys, "monitoring", "alerts") == []


def test_alerts_of_unknown_model(capsys, tables):
    register(tables)
    capsys.readouterr()
    status = main(["monitoring", "alerts", "missing:9"])
    assert status == 1
    assert "'missing:9' is not registered" in capsys.readouterr().err


def test_read_command_rejects_missing_store(capsys, tmp_path):
    status = main(["--store", f"sqlite:///{tmp_path}/typo/workbench.db", "models", "list"])
    assert status == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "typo").exists()


def test_record_twice_says_skipped(capsys, tables):
    register(tables)
    arguments = ["monitoring", "record", MODEL_ID, "--features", '{"x": 1.0, "site": "A"}', "--prediction", "1",
                 "--prediction-id", "p1", "--timestamp", "2026-09-07T10:00:00Z"]
    main(arguments)
    capsys.readouterr()
    main(arguments)
    assert "already stored; skipped" in capsys.readouterr().out


def test_register_names_wrong_option(capsys, tables):
    paths, _, _ = tables
    status = main(["models", "register", "toy-model", "1", "--reference", str(paths["reference"]),
                   "--label-column", "lbl"])
    assert status == 1
    assert "--label-column names column(s) ['lbl']" in capsys.readouterr().err


def test_register_rejects_zero_sample_size(capsys, tables):
    paths, _, _ = tables
    status = main(["models", "register", "toy-model", "1", "--reference", str(paths["reference"]),
                   "--exclude", "label,prediction,proba_0,proba_1", "--sample-size", "0"])
    assert status == 1
    assert "reference_sample_size=0 is invalid" in capsys.readouterr().err


def test_monitoring_switched_off(capsys, monkeypatch):
    monkeypatch.setenv("MODEL_MONITORING_ENABLED", "false")
    status = main(["monitoring", "alerts"])
    assert status == 1
    assert "MODEL_MONITORING_ENABLED=true" in capsys.readouterr().err


def test_bad_setting_is_reported(capsys, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DRIFT_ALPHA", "high")
    status = main(["models", "list"])
    assert status == 1
    assert "WORKBENCH_DRIFT_ALPHA='high' is not a number" in capsys.readouterr().err


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "commands" in capsys.readouterr().out


def test_record_rejects_missing_store(capsys, tmp_path):
    status = main(["--store", f"sqlite:///{tmp_path}/typo.db", "monitoring", "record", MODEL_ID, "--features",
                   '{"x": 1.0}', "--prediction", "1"])
    assert status == 1
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "typo.db").exists()


def test_two_slash_sqlite_url_rejected(capsys):
    status = main(["--store", "sqlite://.workbench/workbench.db", "models", "list"])
    assert status == 1
    assert "three or four slashes" in capsys.readouterr().err
