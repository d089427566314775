"""Comparison of conversion rates against scipy and statsmodels on the same tables."""

from __future__ import annotations

import copy
import json
import math
import warnings

import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep

from workbench.abtesting.proportions import compare_proportions
from workbench.abtesting.sequential import SequentialSettings
from workbench.errors import SmallSampleWarning, ValidationError

# Reference p-values come from scipy 1.17 and statsmodels 0.15 on the same tables. They are stable to
# many digits, so the tolerance only allows for a different summation order in a later release.
RTOL = 1e-9


def _compare(*args, **kwargs):
    # Small tables warn by design, and the tests that check the warning use pytest.warns instead.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSampleWarning)
        return compare_proportions(*args, **kwargs)


def _json_leaves(value):
    if isinstance(value, dict):
        for item in value.values():
            yield from _json_leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_leaves(item)
    else:
        yield value


# Control 1,573 failures and 3 successes, treatment 4 failures and no success.


def test_tiny_treatment_uses_fisher() -> None:
    result = _compare((3, 1576), (0, 4))

    assert result.test == "fisher"
    assert "below 5" in result.test_reason
    assert result.pvalue == pytest.approx(1.0, rel=RTOL)  # scipy.stats.fisher_exact
    assert result.significant is False
    assert result.winner is None


def test_tiny_treatment_reports_all_pvalues() -> None:
    result = _compare((3, 1576), (0, 4))

    assert result.pvalue_chi2 == pytest.approx(0.9303993377521388, rel=RTOL)  # chi2_contingency(correction=False)
    assert result.pvalue_yates == pytest.approx(1.0, rel=RTOL)  # chi2_contingency(correction=True)
    assert result.pvalue_fisher == pytest.approx(1.0, rel=RTOL)  # fisher_exact


def test_tiny_treatment_warns_small_sample() -> None:
    with pytest.warns(SmallSampleWarning, match="expected cell count"):
        compare_proportions((3, 1576), (0, 4))


def test_tiny_treatment_relative_interval_withheld() -> None:
    # statsmodels' log-adjusted ratio interval is [3.0, 835] here, which excludes the observed ratio 0.
    result = _compare((3, 1576), (0, 4))

    assert result.relative_lift.estimate == pytest.approx(-1.0)
    assert result.relative_lift.lower is None
    assert "does not contain" in result.relative_lift.reason


def test_tiny_treatment_absolute_interval_is_newcomb() -> None:
    result = _compare((3, 1576), (0, 4))
    low, high = confint_proportions_2indep(0, 4, 3, 1576, compare="diff", method="newcomb")

    assert result.absolute_lift.method == "newcomb"
    assert result.absolute_lift.lower == pytest.approx(low, rel=RTOL)
    assert result.absolute_lift.upper == pytest.approx(high, rel=RTOL)


@pytest.mark.parametrize(("control", "treatment"), [((0, 500), (0, 480)), ((500, 500), (480, 480))])
def test_no_events_gives_insufficient_events(control, treatment) -> None:
    with pytest.warns(SmallSampleWarning, match="No verdict"):
        result = compare_proportions(control, treatment)

    assert result.status == "insufficient_events"
    assert result.significant is False
    assert result.winner is None
    assert result.pvalue is None
    assert "cannot be told apart" in result.reason


def test_no_events_to_dict_is_json() -> None:
    data = _compare((0, 500), (0, 480)).to_dict()

    json.dumps(data, allow_nan=False)
    assert data["absolute_lift"]["estimate"] == 0.0
    assert data["relative_lift"]["estimate"] is None


def test_empty_variant_gives_insufficient_data() -> None:
    with pytest.warns(SmallSampleWarning, match="no users yet"):
        result = compare_proportions((0, 0), (3, 40))

    assert result.status == "insufficient_data"
    assert result.significant is False
    assert result.absolute_lift.estimate is None


# Control 0/500 against treatment 12/480.


def test_zero_control_matches_statsmodels_ztest() -> None:
    result = _compare((0, 500), (12, 480))

    # statsmodels.stats.proportion.proportions_ztest([0, 12], [500, 480]) gives z = -3.557381 with the
    # control first. Ours puts the treatment first, so the sign follows the lift.
    assert result.z_statistic == pytest.approx(3.5573808732951204, rel=RTOL)
    assert result.z_pvalue == pytest.approx(3.7457087402471693e-4, rel=RTOL)


def test_zero_control_matches_scipy_tests() -> None:
    result = _compare((0, 500), (12, 480))

    assert result.test == "chi2"
    assert result.pvalue_chi2 == pytest.approx(3.7457087402471807e-4, rel=RTOL)  # chi2_contingency(correction=False)
    assert result.pvalue_fisher == pytest.approx(1.775608661831794e-4, rel=RTOL)  # fisher_exact


def test_zero_control_treatment_wins() -> None:
    result = _compare((0, 500), (12, 480))

    assert result.significant is True
    assert result.winner == "treatment"


def test_zero_control_relative_lift_undefined() -> None:
    result = _compare((0, 500), (12, 480))

    assert result.relative_lift.estimate is None
    assert "0 %" in result.relative_lift.reason


def test_zero_control_absolute_interval_is_newcomb() -> None:
    result = _compare((0, 500), (12, 480))

    assert result.absolute_lift.estimate == pytest.approx(0.025)
    assert result.absolute_lift.method == "newcomb"
    # confint_proportions_2indep(12, 480, 0, 500, compare="diff", method="newcomb")
    assert result.absolute_lift.lower == pytest.approx(0.011908519765324343, rel=RTOL)
    assert result.absolute_lift.upper == pytest.approx(0.04318471785701251, rel=RTOL)


# Control 2/10 against treatment 7/10.


def test_small_table_uses_fisher_not_chi2() -> None:
    result = _compare((2, 10), (7, 10))

    assert result.test == "fisher"
    assert result.pvalue == pytest.approx(0.06977851869492736, rel=RTOL)  # fisher_exact
    assert result.pvalue_chi2 == pytest.approx(0.024618761380815174, rel=RTOL)  # chi2_contingency(correction=False)
    assert result.significant is False


def test_srm_flags_uneven_split() -> None:
    # Equal rates (10 %) with 5,200 and 4,800 users on a 50/50 split: scipy.stats.chisquare([5200, 4800])
    # gives p = 6.334e-5.
    result = _compare((520, 5200), (480, 4800), weights=(0.5, 0.5))

    assert result.srm.flagged is True
    assert result.srm.pvalue == pytest.approx(6.334248366623988e-05, rel=RTOL)


def test_srm_withholds_winner() -> None:
    result = _compare((1000, 10_000), (1400, 9000), weights=(0.5, 0.5))

    assert result.significant is True
    assert result.winner is None
    assert "sample ratio mismatch" in result.reason


def test_wald_intervals_match_statsmodels() -> None:
    result = _compare((1000, 10_000), (1100, 10_000), alpha=0.1)
    low, high = confint_proportions_2indep(1100, 10_000, 1000, 10_000, compare="diff", method="wald", alpha=0.1)

    assert result.absolute_lift.method == "wald"
    assert result.absolute_lift.lower == pytest.approx(low, rel=RTOL)
    assert result.absolute_lift.upper == pytest.approx(high, rel=RTOL)
    assert result.absolute_lift.confidence == pytest.approx(0.9)


def test_relative_interval_matches_delta_method() -> None:
    # Hand calculation: v_t = 0.11 * 0.89 / 10000, v_c = 0.1 * 0.9 / 10000, and the variance of
    # p_t / p_c is v_t / 0.1^2 + 0.11^2 * v_c / 0.1^4 = 0.0009790 + 0.0010890 = 0.002068.
    result = _compare((1000, 10_000), (1100, 10_000))
    half_width = stats.norm.isf(0.025) * math.sqrt(0.0009790 + 0.0010890)

    assert result.relative_lift.estimate == pytest.approx(0.1)
    assert result.relative_lift.lower == pytest.approx(0.1 - half_width, rel=1e-9)
    assert result.relative_lift.upper == pytest.approx(0.1 + half_width, rel=1e-9)


def test_full_control_relative_uses_log_adjusted() -> None:
    result = _compare((100, 100), (90, 100))
    low, high = confint_proportions_2indep(90, 100, 100, 100, compare="ratio", method="log-adjusted")

    assert result.relative_lift.method == "log-adjusted"
    assert result.relative_lift.lower == pytest.approx(low - 1, rel=RTOL)
    assert result.relative_lift.upper == pytest.approx(high - 1, rel=RTOL)


def test_yates_headline_when_requested() -> None:
    result = _compare((1000, 10_000), (1100, 10_000), correction="yates")
    expected = stats.chi2_contingency([[1100, 8900], [1000, 9000]], correction=True)

    assert result.test == "chi2_yates"
    assert result.pvalue == pytest.approx(expected.pvalue, rel=RTOL)
    assert result.statistic == pytest.approx(expected.statistic, rel=RTOL)


def test_decrease_direction_picks_control() -> None:
    result = _compare((1000, 10_000), (1200, 10_000), direction="decrease")

    assert result.significant is True
    assert result.winner == "control"


def test_sequential_mode_decides_on_sequential_pvalue() -> None:
    # Fixed p = 0.021 but the always-valid p-value is 0.34 at this look.
    result = _compare((1000, 10_000), (1100, 10_000), sequential=SequentialSettings())

    assert result.pvalue < 0.05
    assert result.sequential.pvalue > 0.05
    assert result.significant is False


def test_bayes_included() -> None:
    result = _compare((1000, 10_000), (1100, 10_000), prior=(2, 2))

    assert result.bayes.prior == (2.0, 2.0)
    assert result.bayes.chance_to_beat_control > 0.95


@pytest.mark.parametrize(("control", "treatment"), [((3, 1576), (0, 4)), ((0, 500), (12, 480)), ((2, 10), (7, 10)),
                                                    ((0, 500), (0, 480)), ((0, 0), (1, 2)), ((100, 100), (90, 100))])
def test_to_dict_is_plain_json(control, treatment) -> None:
    data = _compare(control, treatment, sequential=SequentialSettings(), weights=(1, 1)).to_dict()

    json.dumps(data, allow_nan=False)
    assert all(type(leaf) in (str, int, float, bool, type(None)) for leaf in _json_leaves(data))


def test_inputs_not_mutated() -> None:
    control, treatment, weights, prior = [3, 1576], [0, 4], [0.5, 0.5], [1, 1]
    before = copy.deepcopy((control, treatment, weights, prior))

    _compare(control, treatment, weights=weights, prior=prior, sequential=SequentialSettings())

    assert (control, treatment, weights, prior) == before


def test_rejects_more_conversions_than_users() -> None:
    with pytest.raises(ValidationError, match="12 conversions but only 10 users") as caught:
        compare_proportions((12, 10), (1, 10))

    assert caught.value.field == "control"


@pytest.mark.parametrize("counts", [(-1, 10), (1.5, 10), ("1", 10), (1, 2, 3), "12/480", None])
def test_rejects_invalid_counts(counts) -> None:
    with pytest.raises(ValidationError, match="treatment"):
        compare_proportions((1, 10), counts)


def test_rejects_invalid_options() -> None:
    with pytest.raises(ValidationError, match="alpha=1.5"):
        compare_proportions((1, 10), (2, 10), alpha=1.5)
    with pytest.raises(ValidationError, match="correction='williams'"):
        compare_proportions((1, 10), (2, 10), correction="williams")
    with pytest.raises(ValidationError, match="sequential="):
        compare_proportions((1, 10), (2, 10), sequential="asymptotic_cs")
    with pytest.raises(ValidationError, match="direction="):
        compare_proportions((1, 10), (2, 10), direction="up")
