"""Sample ratio check against scipy's chi-square goodness-of-fit test."""

from __future__ import annotations

import copy
import json

import pytest
from scipy import stats

from workbench.abtesting.srm import sample_ratio_mismatch
from workbench.errors import SmallSampleWarning, ValidationError


def test_uneven_split_flagged() -> None:
    # scipy.stats.chisquare([5200, 4800], [5000, 5000]): statistic 16.0, p = 6.334e-5.
    check = sample_ratio_mismatch([5200, 4800], [0.5, 0.5])

    assert check.flagged is True
    assert check.statistic == pytest.approx(16.0, rel=1e-12)
    assert check.pvalue == pytest.approx(6.334248366623988e-05, rel=1e-9)


def test_even_split_not_flagged() -> None:
    check = sample_ratio_mismatch([5020, 4980], [0.5, 0.5])

    assert check.flagged is False
    assert check.reason is None


def test_weights_normalised() -> None:
    check = sample_ratio_mismatch([300, 600, 100], [3, 6, 1])

    assert check.weights == pytest.approx((0.3, 0.6, 0.1))
    assert check.expected == pytest.approx((300.0, 600.0, 100.0))
    assert check.pvalue == pytest.approx(1.0)


def test_three_variants_match_scipy() -> None:
    counts, weights = [2100, 4150, 3750], [0.2, 0.4, 0.4]
    expected = stats.chisquare(counts, [2000, 4000, 4000])

    check = sample_ratio_mismatch(counts, weights)

    assert check.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert check.pvalue == pytest.approx(expected.pvalue, rel=1e-12)


def test_no_users_not_flagged() -> None:
    check = sample_ratio_mismatch([0, 0], [0.5, 0.5])

    assert check.flagged is False
    assert check.reason == "no users yet"
    assert check.pvalue is None


def test_small_expected_counts_warn() -> None:
    with pytest.warns(SmallSampleWarning, match="fewer than 5"):
        check = sample_ratio_mismatch([3, 1], [0.5, 0.5])

    assert "approximate" in check.reason


def test_threshold_decides_flag() -> None:
    # p = 6.3e-5 is below 0.001 but not below 1e-5.
    check = sample_ratio_mismatch([5200, 4800], [0.5, 0.5], threshold=1e-5)

    assert check.flagged is False


def test_to_dict_is_json() -> None:
    data = sample_ratio_mismatch([0, 0], [1, 1]).to_dict()

    json.dumps(data, allow_nan=False)
    assert data["reason"] == "no users yet"


def test_inputs_not_mutated() -> None:
    counts, weights = [5200, 4800], [1, 1]
    before = copy.deepcopy((counts, weights))

    sample_ratio_mismatch(counts, weights)

    assert (counts, weights) == before


@pytest.mark.parametrize(("counts", "weights", "message"), [
    ([10], [1.0], "at least two variants"),
    ([10, 20], [0.5], "one weight per variant"),
    ([10, -1], [0.5, 0.5], "counts=-1"),
    ([10, 20], [0.5, 0.0], "weight 0.0 is invalid"),
    ([10, 20], [0.5, float("nan")], "weight nan is invalid"),
])
def test_rejects_invalid_inputs(counts, weights, message) -> None:
    with pytest.raises(ValidationError, match=message):
        sample_ratio_mismatch(counts, weights)


def test_rejects_invalid_threshold() -> None:
    with pytest.raises(ValidationError, match="threshold=0"):
        sample_ratio_mismatch([10, 20], [1, 1], threshold=0)
