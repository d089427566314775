"""Comparison of means against scipy's Welch test on seeded samples."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from scipy import stats

from workbench.abtesting.means import compare_means
from workbench.abtesting.sequential import SequentialSettings, confidence_sequence_half_width
from workbench.errors import SmallSampleWarning, ValidationError

# compare_means calls scipy itself, so results agree to rounding.
RTOL = 1e-12


def _samples(seed: int = 11, shift: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(5.0, 1.5, size=300), rng.normal(5.0 + shift, 2.5, size=260)


def test_welch_matches_scipy() -> None:
    control, treatment = _samples()
    expected = stats.ttest_ind(treatment, control, equal_var=False)

    result = compare_means(control, treatment)

    assert result.test == "welch_t"
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    assert result.df == pytest.approx(expected.df, rel=RTOL)


def test_welch_interval_matches_scipy() -> None:
    control, treatment = _samples()
    expected = stats.ttest_ind(treatment, control, equal_var=False).confidence_interval(confidence_level=0.9)

    result = compare_means(control, treatment, alpha=0.1)

    assert result.absolute_lift.method == "welch"
    assert result.absolute_lift.estimate == pytest.approx(treatment.mean() - control.mean(), rel=RTOL)
    assert result.absolute_lift.lower == pytest.approx(expected.low, rel=RTOL)
    assert result.absolute_lift.upper == pytest.approx(expected.high, rel=RTOL)


def test_relative_lift_matches_delta_method() -> None:
    # Hand calculation: means 10 and 12, sample variances 2.5 and 10 (ddof=1), 5 values each.
    # Var(12 / 10) = (10 / 5) / 10^2 + 12^2 * (2.5 / 5) / 10^4 = 0.02 + 0.0072 = 0.0272.
    control, treatment = [8, 9, 10, 11, 12], [8, 10, 12, 14, 16]
    half_width = stats.norm.isf(0.025) * math.sqrt(0.0272)

    result = compare_means(control, treatment)

    assert result.relative_lift.estimate == pytest.approx(0.2)
    assert result.relative_lift.lower == pytest.approx(0.2 - half_width, rel=1e-12)
    assert result.relative_lift.upper == pytest.approx(0.2 + half_width, rel=1e-12)


def test_significant_shift_picks_treatment() -> None:
    control, treatment = _samples(shift=1.0)

    result = compare_means(control, treatment)

    assert result.significant is True
    assert result.winner == "treatment"


def test_decrease_direction_picks_control() -> None:
    control, treatment = _samples(shift=1.0)

    result = compare_means(control, treatment, direction="decrease")

    assert result.winner == "control"


@pytest.mark.parametrize(("control", "treatment"), [([1.0], [1.0, 2.0, 3.0]), ([1.0, 2.0], []), ([], [])])
def test_too_few_values_gives_insufficient_data(control, treatment) -> None:
    with pytest.warns(SmallSampleWarning, match="insufficient data"):
        result = compare_means(control, treatment)

    assert result.status == "insufficient_data"
    assert result.significant is False
    assert result.pvalue is None
    assert "at least 2" in result.reason


def test_constant_values_give_insufficient_data() -> None:
    result = compare_means([3.0, 3.0, 3.0], [4.0, 4.0])

    assert result.status == "insufficient_data"
    assert "no variance" in result.reason
    assert result.absolute_lift.estimate == pytest.approx(1.0)


def test_nan_rejected_with_count_and_positions() -> None:
    control = [1.0, float("nan"), 2.0, 3.0, float("inf"), 4.0]

    with pytest.raises(ValidationError, match=r"2 NaN or infinite values \(first at positions \[1, 4\]\)") as caught:
        compare_means(control, [1.0, 2.0, 3.0])

    assert caught.value.field == "control"
    assert caught.value.value == 2


def test_nan_omitted_when_asked() -> None:
    control, treatment = _samples()
    with_nan = np.concatenate([control, [np.nan, np.nan]])
    expected = stats.ttest_ind(treatment, control, equal_var=False)

    result = compare_means(with_nan, treatment, nan_policy="omit")

    assert result.control.dropped == 2
    assert result.control.count == control.size
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_sequential_uses_welch_variance() -> None:
    control, treatment = _samples()
    settings = SequentialSettings(tuning=300)
    variance = treatment.var(ddof=1) / treatment.size + control.var(ddof=1) / control.size
    half_width = confidence_sequence_half_width(variance, 560, 0.05, settings.rho_squared(0.05))

    result = compare_means(control, treatment, sequential=settings)
    lift = result.sequential.absolute_lift

    assert result.mode == "sequential"
    assert (lift.upper - lift.lower) / 2 == pytest.approx(float(half_width), rel=RTOL)


def test_zero_control_mean_relative_undefined() -> None:
    result = compare_means([-1.0, 0.0, 1.0], [0.5, 1.0, 2.0])

    assert result.relative_lift.estimate is None
    assert "mean is 0" in result.relative_lift.reason


def test_srm_counts_dropped_values() -> None:
    control = [1.0, 2.0, np.nan, 3.0]

    with pytest.warns(SmallSampleWarning, match="fewer than 5 users"):
        result = compare_means(control, [1.0, 2.0, 3.0, 4.0], nan_policy="omit", weights=(0.5, 0.5))

    assert result.srm.counts == (4, 4)


def test_inputs_not_mutated() -> None:
    control, treatment = _samples()
    control_list = list(control)
    before = copy.deepcopy((control, control_list, treatment))

    compare_means(control_list, treatment, nan_policy="omit")
    compare_means(control, treatment)

    assert control_list == before[1]
    assert np.array_equal(control, before[0])
    assert np.array_equal(treatment, before[2])


def test_to_dict_is_json() -> None:
    control, treatment = _samples()
    data = compare_means(control, treatment, sequential=SequentialSettings(), weights=(0.5, 0.5)).to_dict()

    json.dumps(data, allow_nan=False)
    assert data["test"] == "welch_t"
    assert data["sequential"]["tuning"] == 5000


def test_rejects_two_dimensional_input() -> None:
    with pytest.raises(ValidationError, match=r"shape \(2, 2\)"):
        compare_means([[1.0, 2.0], [3.0, 4.0]], [1.0, 2.0])


def test_rejects_text_values() -> None:
    with pytest.raises(ValidationError, match="treatment values are invalid"):
        compare_means([1.0, 2.0], ["a", "b"])


def test_rejects_unknown_nan_policy() -> None:
    with pytest.raises(ValidationError, match="nan_policy='propagate'"):
        compare_means([1.0, 2.0], [1.0, 2.0], nan_policy="propagate")
