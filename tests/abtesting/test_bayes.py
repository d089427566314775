"""Beta-Binomial chance to beat control and expected loss against numerical integration."""

from __future__ import annotations

import copy
import json

import pytest
from scipy import integrate, stats

from workbench.abtesting.bayes import MAX_EXACT_TERMS, beta_binomial, probability_greater
from workbench.errors import ValidationError

# The closed form is exact, and quad reaches about 1e-12 on these smooth integrands, so 1e-8 leaves
# room for quad's error without hiding a wrong formula.
QUAD_ATOL = 1e-8

CASES = [((3, 1576), (0, 4)), ((2, 10), (7, 10)), ((0, 500), (12, 480)), ((1000, 10_000), (1100, 10_000)),
         ((50, 50), (40, 41))]


def _posterior(counts: tuple[int, int], prior: tuple[float, float] = (1, 1)):
    conversions, users = counts
    return stats.beta(prior[0] + conversions, prior[1] + users - conversions)


def _quad(function, *distributions) -> float:
    # Points at the posterior means help quad find narrow peaks.
    points = sorted({float(distribution.mean()) for distribution in distributions})
    value, _ = integrate.quad(function, 0, 1, points=points, epsabs=1e-13, epsrel=1e-12, limit=500)
    return value


def _quad_chance(control, treatment, prior=(1, 1)) -> float:
    # P(p_t > p_c) = integral of f_t(x) F_c(x) dx.
    c, t = _posterior(control, prior), _posterior(treatment, prior)
    return _quad(lambda x: t.pdf(x) * c.cdf(x), c, t)


def _quad_loss(better, worse) -> float:
    # E[max(B - W, 0)] = integral of f_B(x) E[max(x - W, 0)] dx, and E[max(x - W, 0)] = x F_W(x) - E[W 1(W < x)]
    # with E[W 1(W < x)] = mean(W) * F_W'(x) for W' ~ Beta(a + 1, b).
    b, w = _posterior(better), _posterior(worse)
    shifted = stats.beta(w.args[0] + 1, w.args[1])
    return _quad(lambda x: b.pdf(x) * (x * w.cdf(x) - w.mean() * shifted.cdf(x)), b, w)


@pytest.mark.parametrize(("control", "treatment"), CASES)
def test_chance_to_beat_matches_quad(control, treatment) -> None:
    result = beta_binomial(control, treatment)

    assert result.method == "exact"
    assert result.chance_to_beat_control == pytest.approx(_quad_chance(control, treatment), abs=QUAD_ATOL)


@pytest.mark.parametrize(("control", "treatment"), CASES)
def test_expected_loss_treatment_matches_quad(control, treatment) -> None:
    result = beta_binomial(control, treatment)

    assert result.expected_loss_treatment == pytest.approx(_quad_loss(control, treatment), abs=QUAD_ATOL)


@pytest.mark.parametrize(("control", "treatment"), CASES)
def test_expected_loss_control_matches_quad(control, treatment) -> None:
    result = beta_binomial(control, treatment)

    assert result.expected_loss_control == pytest.approx(_quad_loss(treatment, control), abs=QUAD_ATOL)


def test_expected_loss_matches_double_integral() -> None:
    # An independent check of the loss, without the mean(W) * F_W' step: a double integral of
    # max(p_c - p_t, 0) over both posteriors.
    control, treatment = (2, 10), (7, 10)
    c, t = _posterior(control), _posterior(treatment)
    expected, _ = integrate.dblquad(lambda y, x: (x - y) * c.pdf(x) * t.pdf(y), 0, 1, 0, lambda x: x,
                                    epsabs=1e-12, epsrel=1e-10)

    assert beta_binomial(control, treatment).expected_loss_treatment == pytest.approx(expected, abs=QUAD_ATOL)


@pytest.mark.parametrize(("control", "treatment"), CASES)
def test_losses_differ_by_mean_difference(control, treatment) -> None:
    # E[max(D, 0)] - E[max(-D, 0)] = E[D] = mean_t - mean_c.
    result = beta_binomial(control, treatment)
    difference = _posterior(treatment).mean() - _posterior(control).mean()

    assert result.expected_loss_control - result.expected_loss_treatment == pytest.approx(difference, abs=1e-12)


def test_probability_greater_symmetry() -> None:
    assert probability_greater(4, 9, 8, 3) + probability_greater(8, 3, 4, 9) == pytest.approx(1.0, abs=1e-14)


def test_probability_greater_equal_posteriors() -> None:
    assert probability_greater(5, 7, 5, 7) == pytest.approx(0.5, abs=1e-14)


def test_fractional_prior_uses_quadrature() -> None:
    # Jeffreys prior Beta(0.5, 0.5): no posterior parameter is a whole number. The reference integrates
    # in the other order, P(p_t > p_c) = integral of f_c(y) S_t(y) dy.
    control, treatment, prior = (2, 10), (7, 10), (0.5, 0.5)
    c, t = _posterior(control, prior), _posterior(treatment, prior)
    expected = _quad(lambda y: c.pdf(y) * t.sf(y), c, t)

    result = beta_binomial(control, treatment, prior=prior)

    assert result.method == "quadrature"
    assert result.chance_to_beat_control == pytest.approx(expected, abs=QUAD_ATOL)


def test_half_integer_prior_stays_exact() -> None:
    # With Beta(0.5, 1) the b parameters are whole, so the sum runs over them.
    control, treatment, prior = (2, 10), (7, 10), (0.5, 1.0)

    result = beta_binomial(control, treatment, prior=prior)

    assert result.method == "exact"
    assert result.chance_to_beat_control == pytest.approx(_quad_chance(control, treatment, prior), abs=QUAD_ATOL)


def test_large_counts_use_normal_approximation() -> None:
    # Every posterior parameter is above 100,000. At these counts the approximation differs from quad
    # by 6e-8 (measured with scipy 1.17), so 1e-6 catches a wrong formula but not the approximation.
    control, treatment = (150_000, 1_000_000), (151_000, 1_000_000)

    result = beta_binomial(control, treatment)

    assert result.method == "normal_approximation"
    assert f"{MAX_EXACT_TERMS:,}" in result.note
    assert result.chance_to_beat_control == pytest.approx(_quad_chance(control, treatment), abs=1e-6)


def test_to_dict_is_json() -> None:
    data = beta_binomial((2, 10), (7, 10)).to_dict()

    json.dumps(data, allow_nan=False)
    assert data["control_posterior"] == [3.0, 9.0]


def test_inputs_not_mutated() -> None:
    control, treatment, prior = [2, 10], [7, 10], [1, 1]
    before = copy.deepcopy((control, treatment, prior))

    beta_binomial(control, treatment, prior=prior)

    assert (control, treatment, prior) == before


@pytest.mark.parametrize("prior", [(0, 1), (1, -1), (1,), "uniform", (float("nan"), 1)])
def test_rejects_invalid_prior(prior) -> None:
    with pytest.raises(ValidationError, match="prior=") as caught:
        beta_binomial((1, 10), (2, 10), prior=prior)

    assert caught.value.field == "prior"
