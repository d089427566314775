"""Bayesian view of a binary metric: Beta-Binomial posteriors, chance to beat control and expected loss.

Each variant's conversion rate gets a Beta(a, b) prior, uniform Beta(1, 1) by default, and after
``conversions`` out of ``users`` the posterior Beta(a + conversions, b + users - conversions). The
quantities are computed exactly from Evan Miller's closed form while a sum of at most
:data:`MAX_EXACT_TERMS` terms suffices, and from normal approximations of the posteriors above that.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import integrate, stats
from scipy.special import betaln, logsumexp

from workbench.abtesting._checks import check_conversions
from workbench.errors import ValidationError

DEFAULT_PRIOR = (1.0, 1.0)
#: Largest number of terms summed for the exact result. Above it the normal approximation is used: its
#: error shrinks as the counts grow, and a sum of 100,000 terms takes a few milliseconds.
MAX_EXACT_TERMS = 100_000

EXACT = "exact"
NORMAL_APPROXIMATION = "normal_approximation"
QUADRATURE = "quadrature"


@dataclass(frozen=True)
class BayesianResult:
    """Posterior comparison of the treatment's and the control's conversion rates.

    Attributes
    ----------
    chance_to_beat_control : float
        Posterior probability that the treatment's rate exceeds the control's, P(p_t > p_c).
    expected_loss_treatment : float
        Expected loss of choosing the treatment, E[max(p_c − p_t, 0)], in conversion rate.
    expected_loss_control : float
        Expected loss of keeping the control, E[max(p_t − p_c, 0)], in conversion rate.
    prior : tuple of float
        Prior Beta(a, b) of both variants.
    control_posterior, treatment_posterior : tuple of float
        Posterior Beta parameters.
    method : str
        ``"exact"`` (closed-form sum), ``"normal_approximation"`` or ``"quadrature"`` (numerical
        integration, for priors whose posterior parameters are not whole numbers).
    note : str or None
        Why an approximation was used.
    """

    chance_to_beat_control: float
    expected_loss_treatment: float
    expected_loss_control: float
    prior: tuple[float, float]
    control_posterior: tuple[float, float]
    treatment_posterior: tuple[float, float]
    method: str
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "chance_to_beat_control": self.chance_to_beat_control,
            "expected_loss_treatment": self.expected_loss_treatment,
            "expected_loss_control": self.expected_loss_control,
            "prior": list(self.prior),
            "control_posterior": list(self.control_posterior),
            "treatment_posterior": list(self.treatment_posterior),
            "method": self.method,
            "note": self.note,
        }


def beta_binomial(control: tuple[int, int], treatment: tuple[int, int], *,
                  prior: tuple[float, float] = DEFAULT_PRIOR) -> BayesianResult:
    """Compare two conversion rates under a Beta-Binomial model.

    Parameters
    ----------
    control, treatment : tuple of int
        ``(conversions, users)`` of each variant.
    prior : tuple of float
        Parameters (a, b) of the Beta prior of both rates, both positive.

    Returns
    -------
    BayesianResult

    Notes
    -----
    The chance to beat control uses the closed form of Evan Miller, "Formulas for Bayesian A/B testing"
    (2015): for :math:`X_A \\sim \\mathrm{Beta}(a_A, b_A)`, :math:`X_B \\sim \\mathrm{Beta}(a_B, b_B)` and
    whole :math:`a_B`,

    .. math:: P(X_B > X_A) = \\sum_{i=0}^{a_B - 1}
              \\frac{B(a_A + i, b_A + b_B)}{(b_B + i)\\, B(1 + i, b_B)\\, B(a_A, b_A)},

    summed in log space with :func:`scipy.special.betaln` and :func:`scipy.special.logsumexp`. By the
    symmetries :math:`P(X_B > X_A) = 1 - P(X_A > X_B)` and :math:`X \\mapsto 1 - X`, any whole
    parameter can index the sum, and the smallest is used. The expected losses reduce to the same
    function: :math:`E[X_A 1(X_A > X_B)] = a_A/(a_A + b_A) \\cdot P(X'_A > X_B)` with
    :math:`X'_A \\sim \\mathrm{Beta}(a_A + 1, b_A)`, so
    :math:`E[\\max(p_c - p_t, 0)] = \\mu_c P(c' > t) - \\mu_t P(c > t')`.

    When every whole parameter exceeds :data:`MAX_EXACT_TERMS`, each posterior is replaced by the normal
    distribution with its mean and variance, so :math:`D = p_t - p_c \\sim N(m, s^2)`,
    P(D > 0) = Φ(m/s) and :math:`E[\\max(D, 0)] = m\\Phi(m/s) + s\\varphi(m/s)`. When no parameter is a
    whole number, the probabilities are integrated numerically with :func:`scipy.integrate.quad`.

    Examples
    --------
    >>> result = beta_binomial((2, 10), (7, 10))
    >>> round(result.chance_to_beat_control, 3), result.method
    (0.985, 'exact')
    """
    control_conversions, control_users = check_conversions(control, "control")
    treatment_conversions, treatment_users = check_conversions(treatment, "treatment")
    prior_a, prior_b = _check_prior(prior)
    a_c, b_c = prior_a + control_conversions, prior_b + control_users - control_conversions
    a_t, b_t = prior_a + treatment_conversions, prior_b + treatment_users - treatment_conversions

    method, note = _choose_method((a_c, b_c, a_t, b_t))
    if method == NORMAL_APPROXIMATION:
        chance, loss_treatment, loss_control = _normal_approximation(a_c, b_c, a_t, b_t)
    else:
        chance = probability_greater(a_t, b_t, a_c, b_c)
        mean_c, mean_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
        # E[max(p_c - p_t, 0)] = mu_c P(c' > t) - mu_t P(c > t'), with c', t' one parameter a higher.
        loss_treatment = (mean_c * probability_greater(a_c + 1, b_c, a_t, b_t)
                          - mean_t * probability_greater(a_c, b_c, a_t + 1, b_t))
        loss_control = (mean_t * probability_greater(a_t + 1, b_t, a_c, b_c)
                        - mean_c * probability_greater(a_t, b_t, a_c + 1, b_c))
    return BayesianResult(
        chance_to_beat_control=_clip(chance, 0.0, 1.0),
        expected_loss_treatment=_clip(loss_treatment, 0.0, 1.0),
        expected_loss_control=_clip(loss_control, 0.0, 1.0),
        prior=(prior_a, prior_b),
        control_posterior=(a_c, b_c),
        treatment_posterior=(a_t, b_t),
        method=method,
        note=note,
    )


def probability_greater(a1: float, b1: float, a2: float, b2: float) -> float:
    """Return P(X1 > X2) for independent X1 ~ Beta(a1, b1) and X2 ~ Beta(a2, b2).

    Uses Evan Miller's closed-form sum when a parameter is a whole number of at most
    :data:`MAX_EXACT_TERMS`, and :func:`scipy.integrate.quad` otherwise. See :func:`beta_binomial`.

    Examples
    --------
    >>> probability_greater(1, 1, 1, 1)
    0.5
    """
    # Each entry: (whole parameter indexing the sum, whether the result is 1 minus the sum, the sum's
    # arguments (a_A, b_A, a_B, b_B) for P(X_B > X_A)).
    options = (
        (a1, False, (a2, b2, a1, b1)),  # X_B = X1.
        (a2, True, (a1, b1, a2, b2)),  # 1 - P(X2 > X1).
        (b2, False, (b1, a1, b2, a2)),  # P(1 - X2 > 1 - X1).
        (b1, True, (b2, a2, b1, a1)),  # 1 - P(1 - X1 > 1 - X2).
    )
    usable = [option for option in options if float(option[0]).is_integer() and option[0] <= MAX_EXACT_TERMS]
    if not usable:
        return _probability_greater_quad(a1, b1, a2, b2)
    _, complement, arguments = min(usable, key=lambda option: option[0])
    total = _miller_sum(*arguments)
    return 1.0 - total if complement else total


def _miller_sum(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """Return P(X_B > X_A) by Evan Miller's sum over i = 0 … a_B − 1, so ``a_b`` must be a whole number."""
    i = np.arange(int(a_b), dtype=float)
    log_terms = betaln(a_a + i, b_a + b_b) - np.log(b_b + i) - betaln(1 + i, b_b) - betaln(a_a, b_a)
    return float(np.exp(logsumexp(log_terms)))


def _probability_greater_quad(a1: float, b1: float, a2: float, b2: float) -> float:
    """Return P(X1 > X2) = ∫ f1(x) F2(x) dx by adaptive quadrature over the bulk of X1's density."""
    first, second = stats.beta(a1, b1), stats.beta(a2, b2)
    low, high = first.ppf(1e-15), first.isf(1e-15)
    points = [first.mean()] if low < first.mean() < high else None
    value, _ = integrate.quad(lambda x: first.pdf(x) * second.cdf(x), low, high, points=points,
                              epsabs=1e-13, epsrel=1e-11, limit=200)
    return float(value)


def _normal_approximation(a_c: float, b_c: float, a_t: float, b_t: float) -> tuple[float, float, float]:
    mean_c, mean_t = a_c / (a_c + b_c), a_t / (a_t + b_t)
    variance_c = a_c * b_c / ((a_c + b_c) ** 2 * (a_c + b_c + 1))
    variance_t = a_t * b_t / ((a_t + b_t) ** 2 * (a_t + b_t + 1))
    difference, scale = mean_t - mean_c, math.sqrt(variance_c + variance_t)
    z = difference / scale
    chance = stats.norm.cdf(z)
    # E[max(D, 0)] = m Phi(m/s) + s phi(m/s), and E[max(-D, 0)] = -m Phi(-m/s) + s phi(m/s).
    loss_control = difference * stats.norm.cdf(z) + scale * stats.norm.pdf(z)
    loss_treatment = -difference * stats.norm.cdf(-z) + scale * stats.norm.pdf(z)
    return float(chance), float(loss_treatment), float(loss_control)


def _choose_method(parameters: tuple[float, ...]) -> tuple[str, str | None]:
    whole = [value for value in parameters if float(value).is_integer()]
    if not whole:
        return QUADRATURE, "no posterior parameter is a whole number, so the closed-form sum does not apply"
    # The expected losses raise a parameter by one, so the sums can need one term more.
    if min(whole) + 1 > MAX_EXACT_TERMS:
        return NORMAL_APPROXIMATION, (f"every whole posterior parameter exceeds {MAX_EXACT_TERMS:,}, so the "
                                      "posteriors were approximated by normal distributions")
    return EXACT, None


def _check_prior(prior: Any) -> tuple[float, float]:
    valid = isinstance(prior, tuple | list) and len(prior) == 2 and all(
        not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value) and value > 0
        for value in prior)
    if not valid:
        raise ValidationError(f"prior={prior!r} is invalid; give the two parameters (a, b) of a Beta prior, both "
                              "positive, such as (1, 1) for a uniform prior.", field="prior", value=repr(prior))
    return float(prior[0]), float(prior[1])


def _clip(value: float, low: float, high: float) -> float:
    # The differences and complements above can leave rounding errors of about 1e-16 outside the range.
    return float(min(max(value, low), high))
