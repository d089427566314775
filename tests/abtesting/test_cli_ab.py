"""The ``workbench ab`` commands, run in-process through ``workbench.cli.main`` on a SQLite store file."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from workbench.abtesting import Experiments
from workbench.cli import main
from workbench.registry import Registry
from workbench.store import open_store

NAME = "triage-ab"
CONTROL_MODEL = "lesion-classifier:1"
TREATMENT_MODEL = "lesion-classifier:2"
CREATE = ["create", NAME, "--control", CONTROL_MODEL, "--treatment", TREATMENT_MODEL]


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path, monkeypatch):
    """Keep the working folder's .env and the caller's store and switches out of every command."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("WORKBENCH_STORE_URL", raising=False)
    monkeypatch.delenv("AB_TESTING_ENABLED", raising=False)


@pytest.fixture
def store_url(tmp_path) -> str:
    """A SQLite store file with the control and treatment models registered."""
    url = f"sqlite:///{(tmp_path / 'workbench.db').as_posix()}"
    with open_store(url) as store:
        registry = Registry(store)
        registry.register("lesion-classifier", 1)
        registry.register("lesion-classifier", 2)
    return url


def ab(store_url: str, *argv: str) -> int:
    return main(["--store", store_url, "ab", *argv])


def ab_json(capsys, store_url: str, *argv: str) -> Any:
    status = ab(store_url, *argv, "--json")
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def ab_text(capsys, store_url: str, *argv: str) -> str:
    status = ab(store_url, *argv)
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return captured.out


def ab_error(capsys, store_url: str, *argv: str) -> str:
    """Run a command that must fail with status 1 and return its one-line message."""
    status = ab(store_url, *argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert status == 1, captured.out
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    return lines[0]


def _users(count: int) -> list[str]:
    return [f"user-{number:05d}" for number in range(count)]


def _record_winner(store_url: str) -> None:
    """Expose 500 control and 480 treatment units, of which 0 and 12 convert (chi-square p = 3.7e-4)."""
    with open_store(store_url) as store:
        experiments = Experiments(store)
        preview = experiments.assign_many(NAME, _users(2_000), record=False)
        control = preview.loc[preview["variant"] == "control", "unit_id"].tolist()[:500]
        treatment = preview.loc[preview["variant"] == "treatment", "unit_id"].tolist()[:480]
        experiments.assign_many(NAME, control + treatment)
        experiments.record_outcomes(NAME, control, [0] * 500)
        experiments.record_outcomes(NAME, treatment, [1] * 12 + [0] * 468)


# create and list ---------------------------------------------------------------------------------------


def test_create_text(capsys, store_url):
    output = ab_text(capsys, store_url, *CREATE)

    assert output.strip() == (f"created experiment {NAME} (running): control {CONTROL_MODEL} 0.5, treatment "
                              f"{TREATMENT_MODEL} 0.5; coverage 1, primary metric correct, fixed mode")


def test_create_json_options(capsys, store_url):
    experiment = ab_json(capsys, store_url, *CREATE, "--weights", "0.7,0.3", "--coverage", "0.4",
                         "--metric", "converted:binary:increase", "--guardrail", "adverse:binary:decrease",
                         "--mode", "sequential", "--tuning", "800", "--seed", "triage-2026")

    assert experiment["status"] == "running"
    assert [variant["model_id"] for variant in experiment["variants"]] == [CONTROL_MODEL, TREATMENT_MODEL]
    assert experiment["phases"][0]["weights"] == [0.7, 0.3]
    assert experiment["phases"][0]["coverage"] == 0.4
    assert experiment["phases"][0]["seed"] == "triage-2026"
    assert experiment["primary_metric"]["name"] == "converted"
    assert experiment["guardrail_metrics"][0]["direction"] == "decrease"
    assert experiment["mode"] == "sequential"
    assert experiment["sequential_tuning"] == 800


def test_create_draft_enrols_nobody(capsys, store_url):
    ab_text(capsys, store_url, *CREATE, "--draft")

    output = ab_text(capsys, store_url, "assign", NAME, "user-00001")

    assert output.strip() == "not enrolled: experiment is draft"


def test_start_draft_enrols(capsys, store_url):
    ab_text(capsys, store_url, *CREATE, "--draft")

    started = ab_json(capsys, store_url, "start", NAME)
    assigned = ab_json(capsys, store_url, "assign", NAME, "user-00001")

    assert started["status"] == "running"
    assert assigned["enrolled"] is True


def test_show_sequential_prints_confidence_sequence(capsys, store_url):
    ab_text(capsys, store_url, *CREATE, "--mode", "sequential", "--tuning", "1000")
    _record_winner(store_url)

    output = ab_text(capsys, store_url, "show", NAME)
    data = ab_json(capsys, store_url, "show", NAME)

    sequence = data["primary_metric"]["comparison"]["treatments"][0]["comparison"]["sequential"]["absolute_lift"]
    assert f"confidence sequence [{sequence['lower']:+.4g}, {sequence['upper']:+.4g}]" in output
    assert "always-valid p = " in output


def test_create_twice_fails(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    message = ab_error(capsys, store_url, *CREATE)

    assert "already exists" in message


def test_create_unknown_model_fails(capsys, store_url):
    message = ab_error(capsys, store_url, "create", NAME, "--control", CONTROL_MODEL, "--treatment",
                       "lesion-classifier:9")

    assert "'lesion-classifier:9' is not registered" in message


def test_create_invalid_weights_fails(capsys, store_url):
    message = ab_error(capsys, store_url, *CREATE, "--weights", "0.4,0.4")

    assert "sum to 0.8" in message
    assert ab_json(capsys, store_url, "list") == []


def test_list_text_and_json(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    text = ab_text(capsys, store_url, "list")
    listed = ab_json(capsys, store_url, "list")
    stopped = ab_text(capsys, store_url, "list", "--status", "stopped")

    assert NAME in text
    assert f"{CONTROL_MODEL} vs {TREATMENT_MODEL}" in text
    assert [experiment["experiment_id"] for experiment in listed] == [NAME]
    assert stopped.strip() == "No experiment is stopped."


# assign and record -------------------------------------------------------------------------------------


def test_assign_text_and_json(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    assignment = ab_json(capsys, store_url, "assign", NAME, "user-00001")
    text = ab_text(capsys, store_url, "assign", NAME, "user-00001")

    assert assignment["enrolled"] is True
    assert assignment["variant"] in ("control", "treatment")
    assert text.strip() == f"{assignment['variant']} ({assignment['model_id']}), phase 0"


def test_assign_no_record(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    ab_text(capsys, store_url, "assign", NAME, "user-00001", "--no-record")

    with open_store(store_url) as store:
        assert store.count_exposures(NAME) == {}


def test_record_then_show(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)
    variant = ab_json(capsys, store_url, "assign", NAME, "user-00001")["variant"]

    recorded = ab_json(capsys, store_url, "record", NAME, "user-00001", "1")
    results = ab_json(capsys, store_url, "show", NAME)

    assert recorded == {"experiment_id": NAME, "phase": 0, "recorded": True}
    assert results["exposures"][variant] == 1
    assert sum(results["exposures"].values()) == 1
    assert results["decision"]["winner"] is None


def test_record_prediction_and_label(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)
    ab_text(capsys, store_url, "assign", NAME, "user-00001")
    ab_text(capsys, store_url, "assign", NAME, "user-00002")

    match = ab_text(capsys, store_url, "record", NAME, "user-00001", "--prediction", "malignant", "--label",
                    "malignant")
    ab_text(capsys, store_url, "record", NAME, "user-00002", "--prediction", "benign", "--label", "malignant")

    with open_store(store_url) as store:
        outcomes = store.fetch_outcomes(NAME)
    assert match.strip() == "recorded the outcome in phase 0"
    assert dict(zip(outcomes["unit_id"], outcomes["value"], strict=True)) == {"user-00001": 1.0, "user-00002": 0.0}


def test_record_without_exposure_fails(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    message = ab_error(capsys, store_url, "record", NAME, "user-00001", "1")

    assert "have no exposure" in message
    assert "user-00001" not in message


@pytest.mark.parametrize(("argv", "expected"), [
    (["user-00001"], "Give the outcome VALUE"),
    (["user-00001", "1", "--prediction", "benign", "--label", "benign"], "not both"),
    (["user-00001", "--prediction", "benign"], "--prediction and --label together"),
    (["user-00001", "yes"], "is not a number"),
    (["user-00001", "2"], "give 0 or 1"),
], ids=["no-value", "value-and-prediction", "prediction-alone", "not-a-number", "not-binary"])
def test_record_rejects_arguments(capsys, store_url, argv, expected):
    ab_text(capsys, store_url, *CREATE)
    ab_text(capsys, store_url, "assign", NAME, "user-00001")

    message = ab_error(capsys, store_url, "record", NAME, *argv)

    assert expected in message


# weights, coverage and show ----------------------------------------------------------------------------


def test_weights_start_phase(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    text = ab_text(capsys, store_url, "weights", NAME, "0.7,0.3")
    experiment = ab_json(capsys, store_url, "weights", NAME, "0.6,0.4")

    assert text.strip() == "phase 1 started with weights 0.7, 0.3"
    assert [phase["index"] for phase in experiment["phases"]] == [0, 1, 2]
    assert experiment["phases"][2]["weights"] == [0.6, 0.4]


@pytest.mark.parametrize(("weights", "expected"), [("0.7,x", "is not a comma-separated list of numbers"),
                                                   ("0.4,0.4", "sum to 0.8")], ids=["text", "sum-0.8"])
def test_weights_rejected(capsys, store_url, weights, expected):
    ab_text(capsys, store_url, *CREATE)

    message = ab_error(capsys, store_url, "weights", NAME, weights)

    assert expected in message
    assert len(ab_json(capsys, store_url, "list")[0]["phases"]) == 1


def test_coverage_keeps_phase(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    experiment = ab_json(capsys, store_url, "coverage", NAME, "0.5")
    text = ab_text(capsys, store_url, "coverage", NAME, "0.8")

    assert len(experiment["phases"]) == 1
    assert experiment["phases"][0]["coverage"] == 0.5
    assert text.strip() == "coverage is 0.8 in phase 0"


def test_coverage_rejected(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    message = ab_error(capsys, store_url, "coverage", NAME, "1.5")

    assert "received 1.5" in message


def test_show_earlier_phase(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)
    ab_text(capsys, store_url, "assign", NAME, "user-00001")
    ab_text(capsys, store_url, "weights", NAME, "0.7,0.3")

    first = ab_json(capsys, store_url, "show", NAME, "--phase", "0")
    current = ab_json(capsys, store_url, "show", NAME)

    assert first["phase"]["index"] == 0
    assert sum(first["exposures"].values()) == 1
    assert current["phase"]["index"] == 1
    assert sum(current["exposures"].values()) == 0


def test_show_text_names_decision(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)
    _record_winner(store_url)

    text = ab_text(capsys, store_url, "show", NAME)

    assert "sample ratio check: passed" in text
    assert f"decision: treatment wins ({TREATMENT_MODEL})" in text


def test_show_unknown_experiment(capsys, store_url):
    message = ab_error(capsys, store_url, "show", "missing-ab")

    assert "'missing-ab' does not exist" in message


def test_missing_store_file(capsys, tmp_path):
    message = ab_error(capsys, f"sqlite:///{(tmp_path / 'absent.db').as_posix()}", "list")

    assert "does not exist" in message
    assert not (tmp_path / "absent.db").exists()


# stop --------------------------------------------------------------------------------------------------


def test_stop_promote_with_winner(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)
    _record_winner(store_url)

    stopped = ab_json(capsys, store_url, "stop", NAME, "--promote")

    assert stopped["promoted"] == TREATMENT_MODEL
    assert stopped["archived"] == [CONTROL_MODEL]
    assert stopped["experiment"]["status"] == "stopped"
    assert stopped["experiment"]["decision"]["winner"] == "treatment"
    with open_store(store_url) as store:
        registry = Registry(store)
        assert registry.get(TREATMENT_MODEL).stage == "production"
        assert registry.get(CONTROL_MODEL).stage == "archived"


def test_stop_promote_text(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)
    _record_winner(store_url)

    text = ab_text(capsys, store_url, "stop", NAME, "--promote")

    assert text.splitlines()[0] == f"stopped experiment {NAME}: treatment wins ({TREATMENT_MODEL})"
    assert f"promoted {TREATMENT_MODEL} to production; archived {CONTROL_MODEL}" in text


def test_stop_promote_without_winner(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    message = ab_error(capsys, store_url, "stop", NAME, "--promote")

    assert "promotion was rejected because there is no winner" in message
    assert ab_json(capsys, store_url, "list")[0]["status"] == "running"


def test_stop_without_promote(capsys, store_url):
    ab_text(capsys, store_url, *CREATE)

    text = ab_text(capsys, store_url, "stop", NAME)
    again = ab_error(capsys, store_url, "stop", NAME)

    assert text.splitlines()[0] == f"stopped experiment {NAME}: no winner"
    assert "is stopped; only a running experiment can be stopped" in again
    with open_store(store_url) as store:
        registry = Registry(store)
        assert registry.get(TREATMENT_MODEL).stage == "staging"
        assert registry.get(CONTROL_MODEL).stage == "staging"


# sample-size -------------------------------------------------------------------------------------------


def test_sample_size_matches_statsmodels(capsys, store_url):
    size = ab_json(capsys, store_url, "sample-size", "--baseline", "0.1", "--mde", "0.02")
    text = ab_text(capsys, store_url, "sample-size", "--baseline", "0.1", "--mde", "0.02")

    # statsmodels 0.15.0 on the same input: Cohen's h of 0.12 against 0.10, then NormalIndPower gives
    # 3834.595739884031 units per variant, which rounds up to 3,835.
    effect = proportion_effectsize(0.12, 0.10)
    expected = NormalIndPower().solve_power(effect_size=abs(effect), alpha=0.05, power=0.8, ratio=1.0,
                                            alternative="two-sided")
    assert size["effect_size"] == pytest.approx(effect, rel=1e-9)
    assert size["exact_control_users"] == pytest.approx(expected, rel=1e-9)
    assert size["users_per_variant"] == math.ceil(expected)
    assert size["total_users"] == 2 * math.ceil(expected)
    assert text.strip() == f"{math.ceil(expected):,} units per variant"


def test_sample_size_rejects_baseline(capsys, store_url):
    message = ab_error(capsys, store_url, "sample-size", "--baseline", "1.5", "--mde", "0.02")

    assert "1.5" in message


# Switch and usage errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["list"], CREATE, ["sample-size", "--baseline", "0.1", "--mde", "0.02"]],
                         ids=["list", "create", "sample-size"])
def test_switched_off(capsys, store_url, monkeypatch, argv):
    monkeypatch.setenv("AB_TESTING_ENABLED", "false")

    message = ab_error(capsys, store_url, *argv)

    assert "AB_TESTING_ENABLED=true" in message
    monkeypatch.delenv("AB_TESTING_ENABLED")
    assert ab_json(capsys, store_url, "list") == []


@pytest.mark.parametrize("argv", [
    [],
    ["create", NAME],
    ["create", NAME, "--control", CONTROL_MODEL, "--treatment", TREATMENT_MODEL, "--mode", "bayesian"],
    ["coverage", NAME, "half"],
    ["frobnicate"],
], ids=["no-command", "no-control", "unknown-mode", "coverage-text", "unknown-command"])
def test_usage_errors_exit_2(capsys, store_url, argv):
    with pytest.raises(SystemExit) as exited:
        ab(store_url, *argv)

    assert exited.value.code == 2
    assert "usage: workbench" in capsys.readouterr().err
