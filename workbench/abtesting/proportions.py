"""Comparison of a binary metric, conversions out of users, between a control and one treatment.

The headline test is Pearson's chi-square test of the 2×2 table, or Fisher's exact test when an expected
cell count is below 5. Every result also carries the pooled z-test, all three p-values, the absolute and
relative lift with intervals, a Bayesian view, and, when asked, always-valid sequential results and a
sample ratio check.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from workbench.abtesting._checks import check_alpha, check_choice, check_conversions, check_direction
from workbench.abtesting.bayes import DEFAULT_PRIOR, BayesianResult, beta_binomial
from workbench.abtesting.results import (
    FIXED,
    INSUFFICIENT_DATA,
    INSUFFICIENT_EVENTS,
    OK,
    SEQUENTIAL,
    Lift,
    decide_winner,
    json_number,
)
from workbench.abtesting.sequential import (
    SequentialResult,
    SequentialSettings,
    check_sequential_settings,
    sequential_result,
)
from workbench.abtesting.srm import SampleRatioCheck, sample_ratio_mismatch
from workbench.errors import SmallSampleWarning

CORRECTIONS = ("none", "yates")
#: Expected cell count below which the chi-square approximation is poor (Cochran's rule), so Fisher's
#: exact test becomes the headline test.
MIN_EXPECTED_COUNT = 5


@dataclass(frozen=True)
class ProportionSummary:
    """Conversions and users of one variant."""

    conversions: int
    users: int

    @property
    def conversion_rate(self) -> float | None:
        """Share of users who converted, or None without users."""
        return self.conversions / self.users if self.users else None

    def to_dict(self) -> dict[str, Any]:
        return {"conversions": self.conversions, "users": self.users, "conversion_rate": self.conversion_rate}


@dataclass(frozen=True)
class ProportionComparison:
    """Comparison of the conversion rates of a control and a treatment.

    Attributes
    ----------
    control, treatment : ProportionSummary
        Counts of each variant.
    status : str
        ``"ok"``, ``"insufficient_data"`` (a variant has no users) or ``"insufficient_events"`` (no
        conversion, or only conversions, in every variant).
    reason : str
        Why there is no verdict, or why the verdict is what it is.
    mode : str
        ``"fixed"`` or ``"sequential"``.
    alpha : float
        Significance level.
    correction : str
        ``"none"`` or ``"yates"``: the chi-square test used as headline when Fisher's is not.
    direction : str
        ``"increase"`` or ``"decrease"``: which way the metric should move.
    test : str or None
        Headline fixed-horizon test: ``"chi2"``, ``"chi2_yates"`` or ``"fisher"``.
    test_reason : str or None
        Why that test was chosen.
    statistic, pvalue : float or None
        Headline statistic and two-sided p-value. The statistic is the chi-square value, or for Fisher's
        test the sample odds ratio of the treatment against the control, None when it is infinite or
        undefined because a cell of the table is 0.
    pvalue_chi2, pvalue_yates, pvalue_fisher : float or None
        Two-sided p-values of the chi-square test without and with Yates' correction and of Fisher's
        exact test, for comparison.
    z_statistic, z_pvalue : float or None
        Pooled two-proportion z-test. The statistic is positive when the treatment converts more.
    absolute_lift, relative_lift : Lift
        Fixed-horizon estimates and (1 − alpha) intervals.
    significant : bool
        Whether the sequential p-value (in sequential mode) or else the headline p-value is below alpha.
    winner : str or None
        ``"treatment"`` or ``"control"`` when significant, in the light of ``direction``. None when not
        significant, without a verdict, or when the sample ratio check flagged a mismatch.
    sequential : SequentialResult or None
        Always-valid results, in sequential mode.
    bayes : BayesianResult or None
        Beta-Binomial view, or None without a verdict.
    srm : SampleRatioCheck or None
        Sample ratio check, when weights were given.
    """

    control: ProportionSummary
    treatment: ProportionSummary
    status: str
    reason: str
    mode: str
    alpha: float
    correction: str
    direction: str
    test: str | None
    test_reason: str | None
    statistic: float | None
    pvalue: float | None
    pvalue_chi2: float | None
    pvalue_yates: float | None
    pvalue_fisher: float | None
    z_statistic: float | None
    z_pvalue: float | None
    absolute_lift: Lift
    relative_lift: Lift
    significant: bool
    winner: str | None
    sequential: SequentialResult | None = None
    bayes: BayesianResult | None = None
    srm: SampleRatioCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values, with nested results as dictionaries and absent ones as None."""
        data: dict[str, Any] = {"control": self.control.to_dict(), "treatment": self.treatment.to_dict()}
        for name in ("status", "reason", "mode", "alpha", "correction", "direction", "test", "test_reason"):
            data[name] = getattr(self, name)
        for name in ("statistic", "pvalue", "pvalue_chi2", "pvalue_yates", "pvalue_fisher", "z_statistic",
                     "z_pvalue"):
            data[name] = json_number(getattr(self, name))
        data["absolute_lift"] = self.absolute_lift.to_dict()
        data["relative_lift"] = self.relative_lift.to_dict()
        data["significant"] = self.significant
        data["winner"] = self.winner
        for name in ("sequential", "bayes", "srm"):
            value = getattr(self, name)
            data[name] = None if value is None else value.to_dict()
        return data


class _TableTests(NamedTuple):
    test: str
    test_reason: str
    statistic: float | None
    pvalue: float
    pvalue_chi2: float
    pvalue_yates: float
    pvalue_fisher: float
    min_expected: float


def compare_proportions(control: tuple[int, int], treatment: tuple[int, int], *, alpha: float = 0.05,
                        correction: str = "none", sequential: SequentialSettings | None = None,
                        prior: tuple[float, float] = DEFAULT_PRIOR, weights: tuple[float, float] | None = None,
                        direction: str = "increase") -> ProportionComparison:
    """Compare the conversion rate of a treatment with the control's.

    Parameters
    ----------
    control, treatment : tuple of int
        ``(conversions, users)`` of each variant.
    alpha : float
        Significance level, and 1 − the coverage of the intervals.
    correction : {'none', 'yates'}
        Whether the headline chi-square test uses Yates' continuity correction. Fisher's exact test
        replaces it whenever an expected cell count is below 5.
    sequential : SequentialSettings or None
        When given, the result carries always-valid results and ``significant`` follows the sequential
        p-value, so the experiment may be checked at every look.
    prior : tuple of float
        Beta prior (a, b) of the Bayesian view.
    weights : tuple of float or None
        Assignment weights (control, treatment). When given, a sample ratio check runs first and a
        mismatch withholds the winner.
    direction : {'increase', 'decrease'}
        Whether a higher or a lower conversion rate is better.

    Returns
    -------
    ProportionComparison

    Warns
    -----
    SmallSampleWarning
        When there is no verdict, or when an expected cell count is below 5 so that the z-test, the
        intervals and the sequential results rest on approximations that are poor at that size.

    Notes
    -----
    - Chi-square: :func:`scipy.stats.chi2_contingency` with ``correction=False`` (or True for Yates).
      Fisher: :func:`scipy.stats.fisher_exact`, two-sided. Both are skipped for tables with an empty
      row or column, where scipy raises or returns NaN, and ``status`` and ``reason`` name the cause.
    - z-test: :func:`statsmodels.stats.proportion.proportions_ztest` with the pooled variance, called
      with the treatment first so that its sign follows the lift (statsmodels' order with the control
      first gives the opposite sign).
    - Intervals: Wald (delta-method) intervals, :math:`p_t - p_c \\pm z\\sqrt{v_t + v_c}` and
      :math:`p_t/p_c - 1 \\pm z\\sqrt{v_t/p_c^2 + p_t^2 v_c/p_c^4}` with :math:`v = p(1 - p)/n`. When a
      variant is at 0 % or 100 % its variance estimate is 0 and the Wald interval collapses, so
      :func:`statsmodels.stats.proportion.confint_proportions_2indep` gives the interval instead:
      ``method="newcomb"`` (Newcombe's hybrid score) for the difference and ``method="log-adjusted"``
      for the ratio. When that ratio interval does not contain the observed lift, as with a handful of
      users in a variant, no relative interval is reported and ``relative_lift.reason`` gives the cause.
    - Sequential: see :mod:`workbench.abtesting.sequential`. A variance estimate of 0 there is replaced
      by the one of the rate with one conversion and one non-conversion added, as in the Agresti–Caffo
      interval.

    Examples
    --------
    >>> result = compare_proportions((0, 500), (12, 480))
    >>> result.test, round(result.z_statistic, 3), result.significant, result.winner
    ('chi2', 3.557, True, 'treatment')
    >>> result.relative_lift.reason
    "the control's conversion rate is 0 %, so the relative lift is undefined"
    """
    control_counts = check_conversions(control, "control")
    treatment_counts = check_conversions(treatment, "treatment")
    alpha = check_alpha(alpha)
    check_choice(correction, CORRECTIONS, "correction")
    direction = check_direction(direction)
    check_sequential_settings(sequential)
    srm = None if weights is None else sample_ratio_mismatch([control_counts[1], treatment_counts[1]], weights)
    summaries = ProportionSummary(*control_counts), ProportionSummary(*treatment_counts)
    settings = {"mode": FIXED if sequential is None else SEQUENTIAL, "alpha": alpha, "correction": correction,
                "direction": direction, "srm": srm}

    status, reason = _degenerate_status(control_counts, treatment_counts)
    if status != OK:
        warnings.warn(f"No verdict: {reason}.", SmallSampleWarning, stacklevel=2)
        return _without_verdict(*summaries, status, reason, settings)

    tests = _table_tests(control_counts, treatment_counts, correction)
    z_statistic, z_pvalue = proportions_ztest([treatment_counts[0], control_counts[0]],
                                              [treatment_counts[1], control_counts[1]])
    absolute_lift, relative_lift = _fixed_lifts(control_counts, treatment_counts, alpha)
    sequential_results = None if sequential is None else _sequential(control_counts, treatment_counts, alpha,
                                                                      sequential)

    decision_pvalue = tests.pvalue if sequential_results is None else sequential_results.pvalue
    significant = bool(decision_pvalue < alpha)
    effect = summaries[1].conversion_rate - summaries[0].conversion_rate
    winner, reason = decide_winner(significant, effect, direction, srm is not None and srm.flagged)
    if tests.min_expected < MIN_EXPECTED_COUNT:
        warnings.warn(f"An expected cell count is {tests.min_expected:.3g}, below {MIN_EXPECTED_COUNT}: the "
                      "headline is Fisher's exact test, but the z-test, the lift intervals and any sequential "
                      "results are approximations that are poor at this size.", SmallSampleWarning, stacklevel=2)

    return ProportionComparison(
        *summaries, status=OK, reason=reason, **settings, test=tests.test, test_reason=tests.test_reason,
        statistic=tests.statistic, pvalue=tests.pvalue, pvalue_chi2=tests.pvalue_chi2,
        pvalue_yates=tests.pvalue_yates, pvalue_fisher=tests.pvalue_fisher, z_statistic=float(z_statistic),
        z_pvalue=float(z_pvalue), absolute_lift=absolute_lift, relative_lift=relative_lift,
        significant=significant, winner=winner, sequential=sequential_results,
        bayes=beta_binomial(control_counts, treatment_counts, prior=prior))


def _degenerate_status(control: tuple[int, int], treatment: tuple[int, int]) -> tuple[str, str]:
    """Return the status of the counts and, without a verdict, its reason, before any scipy test runs."""
    for name, (_, users) in (("control", control), ("treatment", treatment)):
        if users == 0:
            return INSUFFICIENT_DATA, f"insufficient data: the {name} has no users yet"
    if control[0] == 0 and treatment[0] == 0:
        return INSUFFICIENT_EVENTS, "no user converted in either variant, so the rates cannot be told apart"
    if control[0] == control[1] and treatment[0] == treatment[1]:
        return INSUFFICIENT_EVENTS, "every user converted in both variants, so the rates cannot be told apart"
    return OK, ""


def _without_verdict(control: ProportionSummary, treatment: ProportionSummary, status: str, reason: str,
                     settings: dict[str, Any]) -> ProportionComparison:
    confidence = 1 - settings["alpha"]
    absolute = None
    relative = None
    if control.users and treatment.users:
        absolute = treatment.conversion_rate - control.conversion_rate
        relative = treatment.conversion_rate / control.conversion_rate - 1 if control.conversions else None
    return ProportionComparison(
        control, treatment, status=status, reason=reason, **settings, test=None, test_reason=None, statistic=None,
        pvalue=None, pvalue_chi2=None, pvalue_yates=None, pvalue_fisher=None, z_statistic=None, z_pvalue=None,
        absolute_lift=Lift.undefined("absolute", confidence, reason, absolute),
        relative_lift=Lift.undefined("relative", confidence, reason, relative),
        significant=False, winner=None)


def _table_tests(control: tuple[int, int], treatment: tuple[int, int], correction: str) -> _TableTests:
    """Run the chi-square tests and Fisher's exact test on the 2×2 table and pick the headline one."""
    table = np.array([[treatment[0], treatment[1] - treatment[0]], [control[0], control[1] - control[0]]])
    plain = stats.chi2_contingency(table, correction=False)
    yates = stats.chi2_contingency(table, correction=True)
    fisher = stats.fisher_exact(table, alternative="two-sided")
    min_expected = float(plain.expected_freq.min())
    pvalues = float(plain.pvalue), float(yates.pvalue), float(fisher.pvalue)

    if min_expected < MIN_EXPECTED_COUNT:
        reason = (f"an expected cell count is {min_expected:.3g}, below {MIN_EXPECTED_COUNT}, where the chi-square "
                  "approximation is poor; Fisher's exact test holds at any size")
        return _TableTests("fisher", reason, json_number(fisher.statistic), pvalues[2], *pvalues, min_expected)
    if correction == "yates":
        reason = "every expected cell count is at least 5; Yates' continuity correction was requested"
        return _TableTests("chi2_yates", reason, float(yates.statistic), pvalues[1], *pvalues, min_expected)
    reason = "every expected cell count is at least 5, so the chi-square approximation holds"
    return _TableTests("chi2", reason, float(plain.statistic), pvalues[0], *pvalues, min_expected)


def _fixed_lifts(control: tuple[int, int], treatment: tuple[int, int], alpha: float) -> tuple[Lift, Lift]:
    """Return the absolute and relative lift with their fixed-horizon intervals."""
    (x_c, n_c), (x_t, n_t) = control, treatment
    p_c, p_t = x_c / n_c, x_t / n_t
    confidence = 1 - alpha
    collapsed = x_c in (0, n_c) or x_t in (0, n_t)
    z = stats.norm.isf(alpha / 2)

    if collapsed:
        low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="diff", method="newcomb", alpha=alpha)
        absolute = Lift("absolute", p_t - p_c, float(low), float(high), confidence, "newcomb")
    else:
        half_width = z * np.sqrt(_rate_variance(x_t, n_t) + _rate_variance(x_c, n_c))
        absolute = Lift("absolute", p_t - p_c, p_t - p_c - half_width, p_t - p_c + half_width, confidence, "wald")

    if x_c == 0:
        return absolute, Lift.undefined("relative", confidence, "the control's conversion rate is 0 %, so the "
                                        "relative lift is undefined")
    estimate = p_t / p_c - 1
    if not collapsed:
        half_width = z * np.sqrt(_relative_variance(control, treatment))
        return absolute, Lift("relative", estimate, estimate - half_width, estimate + half_width, confidence, "wald")
    low, high = confint_proportions_2indep(x_t, n_t, x_c, n_c, compare="ratio", method="log-adjusted", alpha=alpha)
    if not low - 1 <= estimate <= high - 1:
        # The log-adjusted interval adds 0.5 to every count and number of users (statsmodels 0.15),
        # which moves it far with very few users: 0/4 against 3/1576 gives [3.0, 835] for a ratio of 0.
        return absolute, Lift.undefined(
            "relative", confidence, f"the log-adjusted interval [{low - 1:.4g}, {high - 1:.4g}] does not contain "
            "the observed lift because a variant has too few users; no interval is reported", estimate)
    return absolute, Lift("relative", estimate, float(low) - 1, float(high) - 1, confidence, "log-adjusted")


def _sequential(control: tuple[int, int], treatment: tuple[int, int], alpha: float,
                settings: SequentialSettings) -> SequentialResult:
    (x_c, n_c), (x_t, n_t) = control, treatment
    p_c, p_t = x_c / n_c, x_t / n_t
    absolute = (p_t - p_c, _rate_variance(x_t, n_t, adjusted=True) + _rate_variance(x_c, n_c, adjusted=True))
    if x_c == 0:
        return sequential_result(settings, alpha, n_c + n_t, absolute, None,
                                 "the control's conversion rate is 0 %, so the relative lift is undefined")
    relative = (p_t / p_c - 1, _relative_variance(control, treatment, adjusted=True))
    return sequential_result(settings, alpha, n_c + n_t, absolute, relative)


def _rate_variance(conversions: int, users: int, adjusted: bool = False) -> float:
    """Return p(1 − p)/n. With ``adjusted``, p is (x + 1)/(n + 2) when x is 0 or n, so the variance is positive."""
    rate = conversions / users
    if adjusted and conversions in (0, users):
        rate = (conversions + 1) / (users + 2)
    return rate * (1 - rate) / users


def _relative_variance(control: tuple[int, int], treatment: tuple[int, int], adjusted: bool = False) -> float:
    """Return the delta-method variance of p_t / p_c."""
    p_c, p_t = control[0] / control[1], treatment[0] / treatment[1]
    return (_rate_variance(*treatment, adjusted=adjusted) / p_c**2
            + p_t**2 * _rate_variance(*control, adjusted=adjusted) / p_c**4)
