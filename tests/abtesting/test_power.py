"""Sample size and power for two conversion rates against Cohen's table and statsmodels."""

from __future__ import annotations

import json
import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from workbench.abtesting.power import power_proportions, sample_size_proportions
from workbench.errors import ValidationError

# A target rate whose Cohen's h against a baseline of 0.5 is exactly 0.20:
# h = 2 asin(sqrt(target)) - 2 asin(sqrt(0.5)), so target = sin(asin(sqrt(0.5)) + 0.1)^2.
BASELINE_FOR_H = 0.5
TARGET_FOR_H_020 = math.sin(math.asin(math.sqrt(0.5)) + 0.1) ** 2


def test_cohen_table_h_020() -> None:
    # Cohen (1988), Statistical Power Analysis for the Behavioral Sciences, Table 6.4.1: h = 0.20,
    # two-sided alpha 0.05, power 0.80 gives n = 392 per group. The formula gives 392.44, which the
    # table rounds to the nearest whole number. We round up so that the power is at least 0.80.
    size = sample_size_proportions(BASELINE_FOR_H, TARGET_FOR_H_020 - BASELINE_FOR_H)

    assert size.effect_size == pytest.approx(0.20, rel=1e-12)
    assert round(size.exact_control_users) == 392
    assert size.users_per_variant == 393


def test_sample_size_matches_statsmodels() -> None:
    expected = NormalIndPower().solve_power(effect_size=abs(proportion_effectsize(0.12, 0.10)), alpha=0.05,
                                            power=0.8, ratio=1.0, alternative="two-sided")

    size = sample_size_proportions(0.10, 0.02)

    assert size.exact_control_users == pytest.approx(expected, rel=1e-9)
    assert size.control_users == math.ceil(expected)


def test_relative_effect_sets_target() -> None:
    size = sample_size_proportions(0.10, 0.2, relative=True)

    assert size.target_rate == pytest.approx(0.12)
    assert size.users_per_variant == sample_size_proportions(0.10, 0.02).users_per_variant


def test_negative_effect_same_size_as_mirror() -> None:
    # Cohen's h is symmetric under swapping the rates, so a drop from 0.12 to 0.10 needs the users of a
    # rise from 0.10 to 0.12.
    drop = sample_size_proportions(0.12, -0.02)
    rise = sample_size_proportions(0.10, 0.02)

    assert drop.effect_size == pytest.approx(-rise.effect_size, rel=1e-12)
    assert drop.users_per_variant == rise.users_per_variant


def test_uneven_ratio_sizes() -> None:
    size = sample_size_proportions(0.10, 0.02, ratio=2.0)

    assert size.treatment_users == math.ceil(size.exact_control_users * 2)
    assert size.total_users == size.control_users + size.treatment_users


def test_power_at_sample_size_reaches_target() -> None:
    size = sample_size_proportions(0.10, 0.02, power=0.9)

    assert power_proportions(0.10, 0.02, size.control_users).power >= 0.9
    assert power_proportions(0.10, 0.02, size.control_users - 1).power < 0.9


def test_power_matches_statsmodels() -> None:
    expected = NormalIndPower().power(effect_size=abs(proportion_effectsize(0.055, 0.05)), nobs1=20_000,
                                      alpha=0.01, ratio=1.5, alternative="two-sided")

    result = power_proportions(0.05, 0.005, 20_000, alpha=0.01, ratio=1.5)

    assert result.power == pytest.approx(expected, rel=1e-12)


def test_to_dict_is_json() -> None:
    data = sample_size_proportions(0.10, 0.02).to_dict()

    json.dumps(data, allow_nan=False)
    assert data["users_per_variant"] == data["control_users"]


@pytest.mark.parametrize(("arguments", "options", "message"), [
    ((0.0, 0.01), {}, "baseline_rate=0.0"),
    ((1.2, 0.01), {}, "baseline_rate=1.2"),
    ((0.10, 0.0), {}, "minimum_detectable_effect=0.0"),
    ((0.95, 0.1), {}, "target rate must be strictly between 0 and 1"),
    ((0.5, 1.5), {"relative": True}, "target rate must be strictly between 0 and 1"),
    ((0.10, 0.02), {"alpha": 0}, "alpha=0"),
    ((0.10, 0.02), {"power": 1.0}, "power=1.0"),
    ((0.10, 0.02), {"ratio": -1}, "ratio=-1"),
])
def test_sample_size_rejects_invalid_inputs(arguments, options, message) -> None:
    with pytest.raises(ValidationError, match=message):
        sample_size_proportions(*arguments, **options)


def test_power_rejects_invalid_users() -> None:
    with pytest.raises(ValidationError, match="users_per_variant=0"):
        power_proportions(0.10, 0.02, 0)
