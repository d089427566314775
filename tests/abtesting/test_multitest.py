"""Holm's correction and the comparison of several treatments with one control."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from workbench.abtesting.multitest import compare_variants, holm
from workbench.abtesting.proportions import compare_proportions
from workbench.abtesting.sequential import SequentialSettings
from workbench.errors import SmallSampleWarning, ValidationError


def test_holm_matches_statsmodels() -> None:
    # statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03], method="holm")[1] is [0.03, 0.06, 0.06].
    adjusted = holm([0.01, 0.04, 0.03])

    assert adjusted == pytest.approx([0.03, 0.06, 0.06], rel=1e-12)


def test_holm_matches_statsmodels_random() -> None:
    p_values = np.random.default_rng(5).uniform(size=12).tolist()

    assert holm(p_values) == pytest.approx(multipletests(p_values, method="holm")[1].tolist(), rel=1e-12)


def test_holm_empty() -> None:
    assert holm([]) == []


@pytest.mark.parametrize("p_values", [[0.1, 1.2], [0.1, float("nan")], [-0.01], "0.05"])
def test_holm_rejects_invalid(p_values) -> None:
    with pytest.raises(ValidationError, match="p-value|p_values="):
        holm(p_values)


def test_variants_adjusted_pvalues_follow_holm() -> None:
    control, treatments = (100, 1000), {"b": (135, 1000), "c": (104, 1000), "d": (120, 1000)}
    raw = [compare_proportions(control, data).pvalue for data in treatments.values()]

    result = compare_variants(control, treatments)

    assert [item.adjusted_pvalue for item in result.treatments] == pytest.approx(holm(raw), rel=1e-12)


def test_variants_correction_can_remove_significance() -> None:
    # 130/1000 against 100/1000 alone gives p = 0.035 (chi-square), but Holm doubles it with a second treatment.
    control, treatments = (100, 1000), {"b": (130, 1000), "c": (104, 1000)}

    result = compare_variants(control, treatments)

    assert result["b"].comparison.significant is True
    assert result["b"].significant is False
    assert result["b"].winner is None


def test_variants_without_verdict_count_as_one() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        result = compare_variants((100, 1000), {"b": (160, 1000), "empty": (0, 0)})

    assert result["empty"].adjusted_pvalue is None
    assert result["empty"].significant is False
    # The empty variant enters the family with p = 1, so b's p-value is doubled.
    assert result["b"].adjusted_pvalue == pytest.approx(2 * result["b"].comparison.pvalue, rel=1e-12)


def test_variants_srm_over_all_variants() -> None:
    result = compare_variants((100, 1000), {"b": (200, 1000), "c": (120, 1400)}, weights=[1, 1, 1])

    assert result.srm.counts == (1000, 1000, 1400)
    assert result.srm.flagged is True
    assert result["b"].winner is None


def test_variants_continuous_metric() -> None:
    rng = np.random.default_rng(8)
    control = rng.normal(10, 2, 500)
    treatments = {"faster": rng.normal(11, 2, 500), "same": rng.normal(10, 2, 500)}

    result = compare_variants(control, treatments, metric="continuous", sequential=SequentialSettings(tuning=500))

    assert result.mode == "sequential"
    assert result["faster"].winner == "treatment"
    assert result["same"].significant is False


def test_variants_to_dict_is_json() -> None:
    data = compare_variants((100, 1000), {"b": (150, 1000)}, weights=[1, 1]).to_dict()

    json.dumps(data, allow_nan=False)
    assert data["correction"] == "holm"


def test_variants_rejects_empty_treatments() -> None:
    with pytest.raises(ValidationError, match="at least one treatment"):
        compare_variants((100, 1000), {})


def test_variants_rejects_unknown_metric() -> None:
    with pytest.raises(ValidationError, match="metric='count'"):
        compare_variants((100, 1000), {"b": (150, 1000)}, metric="count")
