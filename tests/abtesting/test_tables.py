"""The A/B testing report's analysis and tables: report-time overrides that write nothing, tables and text."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from workbench.abtesting import Experiments, beta_binomial
from workbench.abtesting.simulation import simulate_experiment
from workbench.abtesting.tables import (
    analyse_experiment,
    bayes_table,
    comparisons_table,
    decision_markdown,
    design_markdown,
    exposure_markdown,
    metrics_table,
    overrides_markdown,
    phases_table,
    srm_markdown,
    srm_table,
    variants_table,
)
from workbench.errors import NotFoundError, ValidationError
from workbench.store import open_store

EXPERIMENT_ID = "lesion-classifier-v1-vs-v2"
CONTROL = "lesion-classifier:1"
TREATMENT = "lesion-classifier:2"
START = datetime(2026, 3, 2, tzinfo=UTC)


def _experiments(folder) -> Experiments:
    experiments = Experiments(open_store(f"sqlite:///{(folder / 'store.db').as_posix()}"))
    experiments.registry.register("lesion-classifier", 1, stage="production")
    experiments.registry.register("lesion-classifier", 2)
    return experiments


@pytest.fixture(scope="module")
def experiments(tmp_path_factory: pytest.TempPathFactory) -> Experiments:
    """A simulated experiment in which the treatment is clearly more often correct and as fast."""
    experiments = _experiments(tmp_path_factory.mktemp("tables"))
    simulate_experiment(experiments, EXPERIMENT_ID, CONTROL, TREATMENT, units=1_000, days=4, start=START,
                        correct_rates=(0.75, 0.92), seed=3)
    return experiments


@pytest.fixture(scope="module")
def report(experiments):
    return analyse_experiment(experiments, EXPERIMENT_ID)


def _skewed(folder, exposed: tuple[int, int]) -> Experiments:
    """An experiment whose exposures were written straight to the store with the split ``exposed``."""
    experiments = _experiments(folder)
    experiments.create("skewed", [CONTROL, TREATMENT])
    rows = [{"experiment_id": "skewed", "phase": 0, "unit_id": f"unit-{variant}-{index}", "variant": variant,
             "timestamp": START + timedelta(minutes=index)}
            for variant, count in zip(("control", "treatment"), exposed, strict=True) for index in range(count)]
    experiments.store.insert_exposures(rows)
    return experiments


# Report-time overrides ---------------------------------------------------------------------------------

def test_stored_settings_match_results(experiments, report):
    stored = experiments.results(EXPERIMENT_ID)

    assert report.results.decision == stored.decision
    assert report.results.primary["treatment"].adjusted_pvalue == stored.primary["treatment"].adjusted_pvalue
    assert report.overrides == {}


def test_alpha_override_used(experiments):
    report = analyse_experiment(experiments, EXPERIMENT_ID, alpha=0.01)

    assert report.results.experiment.alpha == 0.01
    assert report.results.primary.alpha == 0.01
    assert report.overrides == {"alpha": {"stored": 0.05, "used": 0.01}}


def test_mode_override_used(experiments):
    report = analyse_experiment(experiments, EXPERIMENT_ID, mode="sequential")

    assert report.results.primary.mode == "sequential"
    assert report.overrides == {"mode": {"stored": "fixed", "used": "sequential"}}


def test_overrides_write_nothing(experiments):
    before = experiments.get(EXPERIMENT_ID)

    analyse_experiment(experiments, EXPERIMENT_ID, alpha=0.2, mode="sequential")

    after = experiments.get(EXPERIMENT_ID)
    assert after.revision == before.revision
    assert after.alpha == 0.05
    assert after.mode == "fixed"


def test_override_equal_to_stored_not_listed(experiments):
    report = analyse_experiment(experiments, EXPERIMENT_ID, alpha=0.05, mode="fixed")

    assert report.overrides == {}


@pytest.mark.parametrize(("arguments", "field"), [
    ({"alpha": 1.5}, "alpha"),
    ({"mode": "bayesian"}, "mode"),
    ({"phase": 1}, "phase"),
    ({"phase": -2}, "phase"),
])
def test_invalid_analysis_setting(experiments, arguments, field):
    with pytest.raises(ValidationError) as raised:
        analyse_experiment(experiments, EXPERIMENT_ID, **arguments)

    assert raised.value.field == field


def test_unknown_experiment(experiments):
    with pytest.raises(NotFoundError, match=EXPERIMENT_ID):
        analyse_experiment(experiments, "missing-experiment")


def test_negative_phase_counts_from_end(tmp_path):
    experiments = _experiments(tmp_path)
    experiments.create("two-phases", [CONTROL, TREATMENT])
    experiments.set_weights("two-phases", [0.3, 0.7])

    assert analyse_experiment(experiments, "two-phases", phase=-1).results.phase.index == 1
    assert analyse_experiment(experiments, "two-phases", phase=-2).results.phase.index == 0
    assert analyse_experiment(experiments, "two-phases").results.phase.index == 1


def test_exposure_window(experiments, report):
    exposures = experiments.store.fetch_exposures(EXPERIMENT_ID)

    assert report.first_exposure == exposures["timestamp"].min().to_pydatetime()
    assert report.last_exposure == exposures["timestamp"].max().to_pydatetime()


def test_facts_json_ready(report):
    facts = json.loads(json.dumps(report.facts()))

    assert facts["decision"]["winner"] == "treatment"
    assert facts["data_window"]["start"] == report.first_exposure.isoformat()
    assert facts["srm_flagged"] is False


def test_to_dict_json_ready(report):
    data = json.loads(json.dumps(report.to_dict(), allow_nan=False))

    assert len(data["lift_over_time"]) == 4
    assert data["results"]["experiment_id"] == EXPERIMENT_ID


# Design ------------------------------------------------------------------------------------------------

def test_design_fixed_mode(report):
    text = design_markdown(report.results.experiment)

    assert "**fixed** mode" in text
    assert "alpha = 0.05" in text


def test_design_sequential_tuning(experiments):
    experiment = analyse_experiment(experiments, EXPERIMENT_ID, mode="sequential").results.experiment

    assert "narrowest at 5,000 units per variant" in design_markdown(experiment)


def test_variants_table(report):
    table = variants_table(report.results.experiment)

    assert table.loc["control", "model_id"] == CONTROL
    assert table.loc["treatment", "role"] == "treatment"
    assert table.loc["treatment", "weight"] == 0.5


def test_metrics_table(report):
    table = metrics_table(report.results.experiment)

    assert list(table.index) == ["correct", "latency_ms"]
    assert list(table["role"]) == ["primary", "guardrail"]
    assert list(table["better when"]) == ["higher", "lower"]


def test_phases_table_weights(tmp_path):
    experiments = _experiments(tmp_path)
    experiments.create("two-phases", [CONTROL, TREATMENT])
    experiment = experiments.set_weights("two-phases", [0.3, 0.7])

    table = phases_table(experiment)

    assert list(table["weight treatment"]) == [0.5, 0.7]
    assert table.loc[0, "ended (UTC)"] != ""
    assert table.loc[1, "ended (UTC)"] == ""


def test_exposure_markdown(report):
    text = exposure_markdown(report)

    assert text.startswith("Phase 0: units were exposed from 2026-03-02 ")


def test_exposure_markdown_without_units(tmp_path):
    experiments = _experiments(tmp_path)
    experiments.create("empty", [CONTROL, TREATMENT])

    text = exposure_markdown(analyse_experiment(experiments, "empty"))

    assert text == "Phase 0: no unit has been exposed yet."


# Results -----------------------------------------------------------------------------------------------

def test_srm_passed(report):
    assert srm_markdown(report.results).startswith("Sample ratio check passed: chi-square ")


def test_srm_flagged(tmp_path):
    # 700 against 300 at weights 0.5/0.5: chi-square = 2 × 200² / 500 = 160, p far below 0.001.
    results = analyse_experiment(_skewed(tmp_path, (700, 300)), "skewed").results

    text = srm_markdown(results)

    assert text.startswith("Sample ratio check **FLAGGED**: chi-square 160, ")
    assert "assignment or exposure logging is broken" in text


def test_srm_flagged_no_winner(tmp_path):
    results = analyse_experiment(_skewed(tmp_path, (700, 300)), "skewed").results

    text = decision_markdown(results)

    assert text.startswith("**Decision: no winner.**")
    assert "sample ratio mismatch" in text


def test_srm_without_units(tmp_path):
    experiments = _experiments(tmp_path)
    experiments.create("empty", [CONTROL, TREATMENT])

    text = srm_markdown(analyse_experiment(experiments, "empty").results)

    assert text == "Sample ratio check not run: no users yet."


def test_srm_table(tmp_path):
    table = srm_table(analyse_experiment(_skewed(tmp_path, (700, 300)), "skewed").results)

    assert list(table["exposed"]) == [700, 300]
    assert list(table["expected"]) == [500.0, 500.0]


def test_comparisons_rows(report):
    table = comparisons_table(report.results)

    assert list(table.index) == [("correct", "treatment"), ("latency_ms", "treatment")]
    assert list(table["role"]) == ["primary", "guardrail"]


def test_comparisons_fixed_interval(report):
    row = comparisons_table(report.results).loc[("correct", "treatment")]
    lift = report.results.primary["treatment"].comparison.absolute_lift

    assert row["lift lower"] == lift.lower
    assert row["lift upper"] == lift.upper
    assert row["significantly better"] == "treatment"


def test_comparisons_sequential_interval(experiments):
    results = analyse_experiment(experiments, EXPERIMENT_ID, mode="sequential").results
    sequential = results.primary["treatment"].comparison.sequential

    row = comparisons_table(results).loc[("correct", "treatment")]

    assert row["test"] == "confidence sequence"
    assert row["lift lower"] == sequential.absolute_lift.lower
    assert row["p-value"] == sequential.pvalue


def test_comparisons_means(report):
    row = comparisons_table(report.results).loc[("correct", "treatment")]
    variants = report.results.variants.set_index("variant")

    assert row["control mean"] == pytest.approx(variants.loc["control", "correct mean"])
    assert row["treatment mean"] == pytest.approx(variants.loc["treatment", "correct mean"])


def test_comparisons_note_without_outcomes(tmp_path):
    experiments = _skewed(tmp_path, (20, 20))

    row = comparisons_table(analyse_experiment(experiments, "skewed").results).loc[("correct", "treatment")]

    assert row["note"].startswith("insufficient data")
    assert row["lift"] is None


def test_bayes_matches_beta_binomial(report):
    comparison = report.results.primary["treatment"].comparison
    expected = beta_binomial((comparison.control.conversions, comparison.control.users),
                             (comparison.treatment.conversions, comparison.treatment.users))

    row = bayes_table(report.results).loc["treatment"]

    assert row["chance to beat control"] == expected.chance_to_beat_control
    assert row["expected loss of choosing treatment"] == expected.expected_loss_treatment


def test_bayes_decrease_direction(tmp_path):
    # For an error rate, beating the control means a lower rate: P(p_t < p_c) = 1 − P(p_t > p_c).
    experiments = _experiments(tmp_path)
    experiments.create("errors", [CONTROL, TREATMENT], primary_metric="error:binary:decrease")
    frame = experiments.assign_many("errors", [f"unit-{index}" for index in range(200)])
    errors = [int(variant == "control" and index % 4 == 0) for index, variant in enumerate(frame["variant"])]
    experiments.record_outcomes("errors", list(frame["unit_id"]), errors)
    results = analyse_experiment(experiments, "errors").results
    comparison = results.primary["treatment"].comparison
    expected = beta_binomial((comparison.control.conversions, comparison.control.users),
                             (comparison.treatment.conversions, comparison.treatment.users))

    row = bayes_table(results).loc["treatment"]

    assert row["chance to beat control"] == pytest.approx(1 - expected.chance_to_beat_control, abs=1e-12)
    assert row["expected loss of choosing treatment"] == expected.expected_loss_control


def test_bayes_empty_for_continuous(tmp_path):
    experiments = _experiments(tmp_path)
    experiments.create("latency", [CONTROL, TREATMENT], primary_metric="latency_ms:continuous:decrease")

    assert bayes_table(analyse_experiment(experiments, "latency").results).empty


def test_decision_winner(report):
    text = decision_markdown(report.results)

    assert text.startswith(f"**Decision: treatment wins (`{TREATMENT}`).**")


def test_decision_escapes_markdown(tmp_path):
    # A harmed guardrail's name appears in the reason; its underscore must not start emphasis.
    experiments = _experiments(tmp_path)
    simulate_experiment(experiments, "slower", CONTROL, TREATMENT, units=1_000, days=2, correct_rates=(0.75, 0.92),
                        latency_means_ms=(110.0, 125.0), seed=3)

    text = decision_markdown(analyse_experiment(experiments, "slower").results)

    assert "guardrail latency\\_ms" in text


def test_design_stopped_decision(tmp_path):
    experiments = _experiments(tmp_path)
    simulate_experiment(experiments, "stopped", CONTROL, TREATMENT, units=1_000, days=2, correct_rates=(0.75, 0.92),
                        seed=3)
    experiments.stop("stopped")

    text = design_markdown(experiments.get("stopped"))

    assert "is **stopped**" in text
    assert "with the recorded decision: treatment won in phase 0." in text


def test_overrides_markdown(experiments):
    report = analyse_experiment(experiments, EXPERIMENT_ID, alpha=0.01, mode="sequential")

    text = overrides_markdown(report)

    assert text == ("This analysis overrides alpha 0.01 (stored: 0.05), mode sequential (stored: fixed). The stored "
                    "experiment is unchanged.")


def test_overrides_markdown_empty(report):
    assert overrides_markdown(report) == ""
