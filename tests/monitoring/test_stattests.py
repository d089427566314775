"""Two-sample tests against scipy on the same inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from workbench.errors import ValidationError
from workbench.monitoring.stattests import (
    PSI_FLOOR,
    chi2_homogeneity,
    cramers_v,
    ks_2samp_sorted,
    missing_share_test,
    population_stability_index,
)

# The exact mode calls scipy itself and the asymptotic mode repeats scipy's arithmetic step by step,
# so both should agree with scipy to the last bit. The tolerance only covers a different summation
# order in a future scipy, far below any p-value that matters.
RTOL = 1e-12


def _samples(n_reference: int, n_current: int, shift: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=n_reference), rng.normal(shift, size=n_current)


def test_ks_matches_scipy_exact_small_n() -> None:
    reference, current = _samples(40, 55, 0.4, seed=1)

    result = ks_2samp_sorted(np.sort(reference), current)
    expected = stats.ks_2samp(reference, current, method="exact")

    assert result.method == "exact"
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_ks_matches_scipy_exact_on_ties() -> None:
    reference, current = _samples(60, 45, 0.3, seed=2)
    reference, current = np.round(reference, 1), np.round(current, 1)

    result = ks_2samp_sorted(np.sort(reference), current, method="exact")
    expected = stats.ks_2samp(reference, current, method="exact")

    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_ks_matches_scipy_asymp_method() -> None:
    reference, current = _samples(900, 700, 0.1, seed=3)

    result = ks_2samp_sorted(np.sort(reference), current, method="asymp")
    expected = stats.ks_2samp(reference, current, method="asymp")

    assert result.method == "asymp"
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_ks_matches_scipy_asymp_large_n() -> None:
    reference, current = _samples(12_000, 9_000, 0.03, seed=4)

    result = ks_2samp_sorted(np.sort(reference), current, method="asymp")
    expected = stats.ks_2samp(reference, current, method="asymp")

    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_ks_auto_uses_asymp_above_10000() -> None:
    # scipy's method='auto' switches to the asymptotic distribution when a sample exceeds 10,000.
    reference, current = _samples(12_000, 9_000, 0.03, seed=5)

    result = ks_2samp_sorted(np.sort(reference), current)
    expected = stats.ks_2samp(reference, current)

    assert result.method == "asymp"
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_ks_matches_scipy_asymp_on_ties() -> None:
    reference, current = _samples(15_000, 11_000, 0.02, seed=6)
    reference, current = np.round(reference, 1), np.round(current, 1)

    result = ks_2samp_sorted(np.sort(reference), current)
    expected = stats.ks_2samp(reference, current)

    assert result.method == "asymp"
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_ks_ignores_current_order() -> None:
    reference, current = _samples(11_000, 500, 0.1, seed=7)
    shuffled = np.random.default_rng(0).permutation(current)

    in_order = ks_2samp_sorted(np.sort(reference), np.sort(current), method="asymp")
    out_of_order = ks_2samp_sorted(np.sort(reference), shuffled, method="asymp")

    assert out_of_order == in_order


def test_ks_does_not_mutate_inputs() -> None:
    reference, current = _samples(11_000, 300, 0.0, seed=8)
    reference = np.sort(reference)
    reference_copy, current_copy = reference.copy(), current.copy()

    ks_2samp_sorted(reference, current, method="asymp")

    np.testing.assert_array_equal(reference, reference_copy)
    np.testing.assert_array_equal(current, current_copy)


def test_ks_rejects_unknown_method() -> None:
    with pytest.raises(ValidationError, match="method='two-sided' is invalid"):
        ks_2samp_sorted(np.arange(5.0), np.arange(5.0), method="two-sided")


def test_ks_rejects_empty_current() -> None:
    with pytest.raises(ValidationError, match="at least one value"):
        ks_2samp_sorted(np.arange(5.0), np.array([]))


def test_chi2_matches_scipy_without_correction() -> None:
    # Rows: reference and current counts of categories CT, MR, US.
    table = np.array([[120, 60, 20],
                      [30, 45, 25]])

    result = chi2_homogeneity(table)
    expected = stats.chi2_contingency(table, correction=False)

    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)


def test_chi2_skips_yates_on_2x2() -> None:
    # scipy applies Yates' correction to a 2-by-2 table by default, but the drift test must not.
    table = np.array([[40, 60],
                      [55, 45]])

    result = chi2_homogeneity(table)
    uncorrected = stats.chi2_contingency(table, correction=False)
    corrected = stats.chi2_contingency(table)

    assert result.statistic == pytest.approx(uncorrected.statistic, rel=RTOL)
    assert result.statistic != pytest.approx(corrected.statistic, rel=RTOL)


def test_chi2_single_category_has_no_evidence() -> None:
    result = chi2_homogeneity(np.array([[50], [20]]))

    assert result.statistic == 0.0
    assert result.pvalue == 1.0


def test_cramers_v_matches_scipy_association() -> None:
    table = np.array([[120, 60, 20],
                      [30, 45, 25]])

    expected = stats.contingency.association(table, method="cramer", correction=False)

    assert cramers_v(table) == pytest.approx(expected, rel=RTOL)


def test_cramers_v_hand_calculation() -> None:
    # Table [[10, 0], [0, 10]]: perfect association, chi2 = N = 20 and V = sqrt(chi2 / (N * 1)) = 1.
    assert cramers_v(np.array([[10, 0], [0, 10]])) == pytest.approx(1.0, rel=RTOL)


def test_missing_share_matches_fisher_greater() -> None:
    result = missing_share_test(reference_missing=10, reference_count=500, current_missing=12,
                                current_count=100)
    # Rows: current then reference, columns: missing then valid, as in the implementation.
    expected = stats.fisher_exact([[12, 88], [10, 490]], alternative="greater")

    assert result is not None
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)


def test_missing_share_none_without_missing() -> None:
    assert missing_share_test(0, 500, 0, 100) is None


def test_missing_share_fall_does_not_alert() -> None:
    # A lower current missing share is the opposite of the one-sided alternative, so p is large.
    result = missing_share_test(reference_missing=100, reference_count=500, current_missing=0,
                                current_count=100)

    assert result is not None
    assert result.pvalue > 0.5


def test_psi_hand_calculation() -> None:
    # One inner edge at 0.5 splits the reference 50/50. Three of the four current values are <= 0.5,
    # so the current shares are 0.75 and 0.25:
    # PSI = (0.75 - 0.5) ln(0.75 / 0.5) + (0.25 - 0.5) ln(0.25 / 0.5) = 0.25 ln 1.5 + 0.25 ln 2.
    expected = 0.25 * math.log(1.5) + 0.25 * math.log(2.0)

    psi = population_stability_index(np.array([0.5]), np.array([0.5, 0.5]), np.array([0.1, 0.2, 0.3, 0.9]))

    assert psi == pytest.approx(expected, rel=RTOL)


def test_psi_floors_empty_bin() -> None:
    # Every current value lands in the first bin, and the empty second bin is floored at PSI_FLOOR:
    # PSI = (1 - 0.5) ln(1 / 0.5) + (PSI_FLOOR - 0.5) ln(PSI_FLOOR / 0.5).
    expected = 0.5 * math.log(2.0) + (PSI_FLOOR - 0.5) * math.log(PSI_FLOOR / 0.5)

    psi = population_stability_index(np.array([0.5]), np.array([0.5, 0.5]), np.array([0.1, 0.2]))

    assert psi == pytest.approx(expected, rel=RTOL)
