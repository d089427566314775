"""Asymptotic confidence sequences: the formula, its tuning, GrowthBook's numbers and validity under peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from workbench.abtesting.proportions import compare_proportions
from workbench.abtesting.sequential import (
    SequentialSettings,
    always_valid_pvalue,
    confidence_sequence_half_width,
    optimal_rho_squared,
)
from workbench.errors import ValidationError

# Reference numbers from GrowthBook's stats engine, gbstats 0.8.0 (PyPI), SequentialTwoSidedTTest with
# ProportionStatistic inputs, alpha 0.05 and sequential_tuning_parameter=10_000. gbstats counts the
# tuning parameter in users of both variants together, so 10,000 there is 5,000 per variant here.
# Control 1000/10000, treatment 1100/10000:
GBSTATS_RHO_SQUARED = 0.0007936154601737564
GBSTATS_HALF_WIDTH_ABSOLUTE = 0.013270718047313564
GBSTATS_PVALUE_ABSOLUTE = 0.3360687369408199
GBSTATS_HALF_WIDTH_RELATIVE = 0.1392214970149371
# Control 300/3000, treatment 290/2500 (unequal sizes):
GBSTATS_HALF_WIDTH_UNEQUAL = 0.02587690922511171
GBSTATS_HALF_WIDTH_UNEQUAL_RELATIVE = 0.2770149395435496

# Same formula and inputs, so only rounding differs.
FORMULA_RTOL = 1e-12


def _rate_variance(conversions: int, users: int) -> float:
    rate = conversions / users
    return rate * (1 - rate) / users


def _relative_variance(control: tuple[int, int], treatment: tuple[int, int]) -> float:
    p_c, p_t = control[0] / control[1], treatment[0] / treatment[1]
    return _rate_variance(*treatment) / p_c**2 + p_t**2 * _rate_variance(*control) / p_c**4


def test_half_width_matches_hand_calculation() -> None:
    # variance 1e-4, N = 10,000, rho^2 = 1e-3, so r = N rho^2 = 10 and the half-width is
    # sqrt(1e-4 * 11/10 * (ln 11 - 2 ln 0.05)) = sqrt(1.1e-4 * (2.397895 + 5.991465)) = 0.0303781.
    half_width = confidence_sequence_half_width(1e-4, 10_000, 0.05, 1e-3)

    assert float(half_width) == pytest.approx(0.0303781, rel=1e-6)


def test_pvalue_matches_hand_calculation() -> None:
    # estimate 0.02, variance 1e-4 (z^2 = 4), r = 10: sqrt(11) * exp(-4 * 10 / 22) = 3.316625 * 0.162326.
    pvalue = always_valid_pvalue(0.02, 1e-4, 10_000, 1e-3)

    assert float(pvalue) == pytest.approx(0.538357, rel=1e-5)


def test_half_width_matches_gbstats_formula() -> None:
    variance = _rate_variance(1000, 10_000) + _rate_variance(1100, 10_000)

    half_width = confidence_sequence_half_width(variance, 20_000, 0.05, GBSTATS_RHO_SQUARED)

    assert float(half_width) == pytest.approx(GBSTATS_HALF_WIDTH_ABSOLUTE, rel=FORMULA_RTOL)


def test_pvalue_matches_gbstats_formula() -> None:
    variance = _rate_variance(1000, 10_000) + _rate_variance(1100, 10_000)

    pvalue = always_valid_pvalue(0.11 - 0.10, variance, 20_000, GBSTATS_RHO_SQUARED)

    assert float(pvalue) == pytest.approx(GBSTATS_PVALUE_ABSOLUTE, rel=1e-9)


def test_relative_half_width_matches_gbstats_formula() -> None:
    variance = _relative_variance((1000, 10_000), (1100, 10_000))

    half_width = confidence_sequence_half_width(variance, 20_000, 0.05, GBSTATS_RHO_SQUARED)

    assert float(half_width) == pytest.approx(GBSTATS_HALF_WIDTH_RELATIVE, rel=FORMULA_RTOL)


def test_half_width_matches_gbstats_unequal_sizes() -> None:
    control, treatment = (300, 3000), (290, 2500)
    absolute = _rate_variance(*control) + _rate_variance(*treatment)

    half_width = confidence_sequence_half_width(absolute, 5500, 0.05, GBSTATS_RHO_SQUARED)
    relative = confidence_sequence_half_width(_relative_variance(control, treatment), 5500, 0.05, GBSTATS_RHO_SQUARED)

    assert float(half_width) == pytest.approx(GBSTATS_HALF_WIDTH_UNEQUAL, rel=FORMULA_RTOL)
    assert float(relative) == pytest.approx(GBSTATS_HALF_WIDTH_UNEQUAL_RELATIVE, rel=FORMULA_RTOL)


def test_compare_proportions_half_width_near_gbstats() -> None:
    # Here rho^2 solves the width's minimum exactly (r = 8.212 at 10,000 users in all), but gbstats uses
    # the approximation r = 7.936. The width is flat near its minimum, so the two differ by 0.08 %.
    result = compare_proportions((1000, 10_000), (1100, 10_000), sequential=SequentialSettings(tuning=5000))
    lift = result.sequential.absolute_lift

    assert (lift.upper - lift.lower) / 2 == pytest.approx(GBSTATS_HALF_WIDTH_ABSOLUTE, rel=1e-3)


def test_optimal_rho_squared_minimises_width_at_tuning() -> None:
    settings = SequentialSettings(tuning=5000)
    total_users = 2 * settings.tuning

    found = optimize.minimize_scalar(
        lambda rho_squared: float(confidence_sequence_half_width(1.0, total_users, 0.05, rho_squared)),
        bounds=(1e-6, 1e-2), method="bounded", options={"xatol": 1e-12})

    assert settings.rho_squared(0.05) == pytest.approx(found.x, rel=1e-5)


def test_width_penalty_away_from_tuning() -> None:
    # The SequentialSettings docstring quotes these ratios of the width to the best width possible.
    rho_squared = SequentialSettings(tuning=5000).rho_squared(0.05)

    def penalty(total_users: int) -> float:
        best = confidence_sequence_half_width(1.0, total_users, 0.05, optimal_rho_squared(total_users, 0.05))
        return float(confidence_sequence_half_width(1.0, total_users, 0.05, rho_squared) / best)

    assert penalty(1_000) == pytest.approx(1.26, abs=0.005)
    assert penalty(100_000) == pytest.approx(1.07, abs=0.005)


def test_optimal_rho_squared_solves_stationarity() -> None:
    # The minimum satisfies r = ln(1 + r) - 2 ln(alpha) with r = N rho^2.
    for alpha in (0.001, 0.01, 0.05, 0.1, 0.5):
        ratio = optimal_rho_squared(1000, alpha) * 1000

        assert ratio == pytest.approx(math.log1p(ratio) - 2 * math.log(alpha), rel=1e-12)


def test_pvalue_is_alpha_where_sequence_touches_zero() -> None:
    variance = _rate_variance(1000, 10_000) + _rate_variance(1100, 10_000)
    rho_squared = SequentialSettings().rho_squared(0.05)

    def gap(alpha: float) -> float:
        return float(confidence_sequence_half_width(variance, 20_000, alpha, rho_squared)) - 0.01

    root = optimize.brentq(gap, 1e-12, 0.999, xtol=1e-15)

    assert float(always_valid_pvalue(0.01, variance, 20_000, rho_squared)) == pytest.approx(root, rel=1e-9)


def test_pvalue_capped_at_one() -> None:
    assert float(always_valid_pvalue(0.0, 1e-4, 10_000, 1e-3)) == 1.0


def test_sequence_wider_than_fixed_interval() -> None:
    result = compare_proportions((1000, 10_000), (1100, 10_000), sequential=SequentialSettings())
    sequence = result.sequential.absolute_lift
    fixed = result.absolute_lift

    assert sequence.upper - sequence.lower > fixed.upper - fixed.lower


def test_peeking_keeps_sequential_error_rate() -> None:
    # 2,000 A/A experiments at a 10 % conversion rate, looked at 20 times, after every 500 users per
    # variant. Under no difference, the share that is ever significant at alpha 0.05 must stay at or
    # below 0.05 plus three Monte Carlo standard errors, sqrt(0.05 * 0.95 / 2000) = 0.0049 each. The
    # fixed-horizon test, checked at every look, must exceed that bound.
    rng = np.random.default_rng(20_240_501)
    experiments, looks, users_per_look, alpha = 2000, 20, 500, 0.05
    conversions = rng.binomial(users_per_look, 0.10, size=(experiments, looks, 2)).cumsum(axis=1)
    users = users_per_look * np.arange(1, looks + 1)
    rate_c, rate_t = conversions[..., 0] / users, conversions[..., 1] / users
    difference = rate_t - rate_c
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / experiments)

    variance = rate_t * (1 - rate_t) / users + rate_c * (1 - rate_c) / users
    rho_squared = SequentialSettings().rho_squared(alpha)
    sequential_pvalues = always_valid_pvalue(difference, variance, 2 * users, rho_squared)
    # The pooled z-test has the same p-value as the uncorrected chi-square test, the headline test here.
    pooled = (conversions[..., 0] + conversions[..., 1]) / (2 * users)
    z = difference / np.sqrt(pooled * (1 - pooled) * 2 / users)
    fixed_pvalues = 2 * stats.norm.sf(np.abs(z))

    sequential_rate = float((sequential_pvalues < alpha).any(axis=1).mean())
    fixed_rate = float((fixed_pvalues < alpha).any(axis=1).mean())

    assert sequential_rate <= bound
    assert fixed_rate > bound


def test_compare_proportions_uses_same_pvalue_as_simulation() -> None:
    rng = np.random.default_rng(3)
    conversions = rng.binomial(500, 0.10, size=(5, 2)).cumsum(axis=0)
    rho_squared = SequentialSettings().rho_squared(0.05)

    for look, (control, treatment) in enumerate(conversions, start=1):
        users = 500 * look
        result = compare_proportions((int(control), users), (int(treatment), users), sequential=SequentialSettings())
        rate_c, rate_t = control / users, treatment / users
        variance = rate_t * (1 - rate_t) / users + rate_c * (1 - rate_c) / users
        expected = always_valid_pvalue(rate_t - rate_c, variance, 2 * users, rho_squared)

        assert result.sequential.pvalue == pytest.approx(float(expected), rel=1e-12)


def test_settings_reject_invalid_tuning() -> None:
    for tuning in (0, -5, 2.5, True, "5000"):
        with pytest.raises(ValidationError, match="tuning=") as caught:
            SequentialSettings(tuning=tuning)

        assert caught.value.field == "tuning"


def test_settings_reject_unknown_method() -> None:
    with pytest.raises(ValidationError, match="'msprt'"):
        SequentialSettings(method="msprt")


def test_result_to_dict_shows_settings() -> None:
    result = compare_proportions((1000, 10_000), (1100, 10_000), sequential=SequentialSettings(tuning=8000))
    data = result.to_dict()

    assert data["mode"] == "sequential"
    assert data["sequential"]["method"] == "asymptotic_cs"
    assert data["sequential"]["tuning"] == 8000
    assert data["sequential"]["rho_squared"] == pytest.approx(optimal_rho_squared(16_000, 0.05))


def test_fixed_result_has_no_sequential_part() -> None:
    data = compare_proportions((1000, 10_000), (1100, 10_000)).to_dict()

    assert data["mode"] == "fixed"
    assert data["sequential"] is None
