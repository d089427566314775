"""Comparison of a continuous metric, one value per user, between a control and one treatment.

Welch's t-test, which does not assume equal variances, is the headline test. The difference of means
gets Welch's interval and the relative lift a delta-method interval. Sequential results and a sample
ratio check are added when asked.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from workbench.abtesting._checks import check_alpha, check_choice, check_direction
from workbench.abtesting.results import (
    FIXED,
    INSUFFICIENT_DATA,
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
from workbench.errors import SmallSampleWarning, ValidationError

#: ``"raise"`` rejects NaN and infinite values, and ``"omit"`` drops them and counts them in the result.
NAN_POLICIES = ("raise", "omit")
#: Values per variant that Welch's test needs: one for the mean and one more for the variance.
MIN_VALUES = 2
# Positions of non-finite values listed in an error message.
_POSITIONS_SHOWN = 5


@dataclass(frozen=True)
class MeanSummary:
    """Values of one variant: how many, their mean and standard deviation (ddof=1), and how many were dropped."""

    count: int
    mean: float | None
    std: float | None
    dropped: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "mean": json_number(self.mean), "std": json_number(self.std),
                "dropped": self.dropped}


@dataclass(frozen=True)
class MeanComparison:
    """Comparison of the means of a control and a treatment.

    Attributes
    ----------
    control, treatment : MeanSummary
        Summary of each variant's values.
    status : str
        ``"ok"`` or ``"insufficient_data"`` (fewer than 2 values in a variant, or no variance in either).
    reason : str
        Why there is no verdict, or why the verdict is what it is.
    mode : str
        ``"fixed"`` or ``"sequential"``.
    alpha : float
        Significance level.
    direction : str
        ``"increase"`` or ``"decrease"``: which way the metric should move.
    nan_policy : str
        ``"raise"`` or ``"omit"``.
    test : str or None
        ``"welch_t"``.
    statistic, pvalue, df : float or None
        Welch's t statistic (positive when the treatment's mean is higher), two-sided p-value and
        Welch–Satterthwaite degrees of freedom.
    absolute_lift, relative_lift : Lift
        Difference of means with Welch's interval, and relative lift with a delta-method interval.
    significant : bool
        Whether the sequential p-value (in sequential mode) or else Welch's p-value is below alpha.
    winner : str or None
        ``"treatment"`` or ``"control"`` when significant, in the light of ``direction``.
    sequential : SequentialResult or None
        Always-valid results, in sequential mode.
    srm : SampleRatioCheck or None
        Sample ratio check, when weights were given.
    """

    control: MeanSummary
    treatment: MeanSummary
    status: str
    reason: str
    mode: str
    alpha: float
    direction: str
    nan_policy: str
    test: str | None
    statistic: float | None
    pvalue: float | None
    df: float | None
    absolute_lift: Lift
    relative_lift: Lift
    significant: bool
    winner: str | None
    sequential: SequentialResult | None = None
    srm: SampleRatioCheck | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values, with nested results as dictionaries and absent ones as None."""
        data: dict[str, Any] = {"control": self.control.to_dict(), "treatment": self.treatment.to_dict()}
        for name in ("status", "reason", "mode", "alpha", "direction", "nan_policy", "test"):
            data[name] = getattr(self, name)
        for name in ("statistic", "pvalue", "df"):
            data[name] = json_number(getattr(self, name))
        data["absolute_lift"] = self.absolute_lift.to_dict()
        data["relative_lift"] = self.relative_lift.to_dict()
        data["significant"] = self.significant
        data["winner"] = self.winner
        data["sequential"] = None if self.sequential is None else self.sequential.to_dict()
        data["srm"] = None if self.srm is None else self.srm.to_dict()
        return data


def compare_means(control: ArrayLike, treatment: ArrayLike, *, alpha: float = 0.05,
                  sequential: SequentialSettings | None = None, nan_policy: str = "raise",
                  weights: tuple[float, float] | None = None, direction: str = "increase") -> MeanComparison:
    """Compare the mean of a treatment's values with the control's.

    Parameters
    ----------
    control, treatment : array_like
        One value per user, one-dimensional. The inputs are not modified.
    alpha : float
        Significance level, and 1 − the coverage of the intervals.
    sequential : SequentialSettings or None
        When given, the result carries always-valid results and ``significant`` follows the sequential
        p-value.
    nan_policy : {'raise', 'omit'}
        ``"raise"`` rejects NaN and infinite values with a ValidationError that counts them and lists
        their first positions. ``"omit"`` drops them and reports how many in ``MeanSummary.dropped``.
    weights : tuple of float or None
        Assignment weights (control, treatment). When given, a sample ratio check runs on the numbers
        of values, dropped ones included, and a mismatch withholds the winner.
    direction : {'increase', 'decrease'}
        Whether a higher or a lower mean is better.

    Returns
    -------
    MeanComparison

    Raises
    ------
    ValidationError
        When a sample is not one-dimensional or numeric, or contains NaN or infinite values under
        ``nan_policy="raise"``.

    Warns
    -----
    SmallSampleWarning
        When a variant has fewer than 2 values, so there is no verdict.

    Notes
    -----
    - Welch's test: :func:`scipy.stats.ttest_ind` with ``equal_var=False``, treatment first, and its
      interval from ``confidence_interval(1 - alpha)``, the difference ± the t quantile at the
      Welch–Satterthwaite degrees of freedom times the standard error.
    - Relative lift :math:`\\bar x_t/\\bar x_c - 1` with the delta-method variance
      :math:`s_t^2/(n_t \\bar x_c^2) + \\bar x_t^2 s_c^2/(n_c \\bar x_c^4)` and a normal quantile. It is
      undefined when the control's mean is 0, and only meaningful for metrics that are positive.
    - Sequential: see :mod:`workbench.abtesting.sequential`, with the variance
      :math:`s_t^2/n_t + s_c^2/n_c` of the difference.

    Examples
    --------
    >>> rng = np.random.default_rng(7)
    >>> result = compare_means(rng.normal(10, 2, 400), rng.normal(10.5, 2, 400))
    >>> result.test, result.significant, result.winner
    ('welch_t', True, 'treatment')
    """
    alpha = check_alpha(alpha)
    check_choice(nan_policy, NAN_POLICIES, "nan_policy")
    direction = check_direction(direction)
    check_sequential_settings(sequential)
    control_values, control_dropped = _clean_values(control, "control", nan_policy)
    treatment_values, treatment_dropped = _clean_values(treatment, "treatment", nan_policy)
    # Users whose value was dropped were still assigned, so the sample ratio check counts them.
    users = [control_values.size + control_dropped, treatment_values.size + treatment_dropped]
    srm = None if weights is None else sample_ratio_mismatch(users, weights)
    summaries = _summary(control_values, control_dropped), _summary(treatment_values, treatment_dropped)
    settings = {"mode": FIXED if sequential is None else SEQUENTIAL, "alpha": alpha, "direction": direction,
                "nan_policy": nan_policy, "srm": srm}

    reason = _insufficient_reason(control_values, treatment_values)
    if reason is not None:
        return _without_verdict(*summaries, reason, settings)

    welch = stats.ttest_ind(treatment_values, control_values, equal_var=False)
    interval = welch.confidence_interval(confidence_level=1 - alpha)
    difference = float(treatment_values.mean() - control_values.mean())
    absolute_lift = Lift("absolute", difference, float(interval.low), float(interval.high), 1 - alpha, "welch")
    relative, relative_lift = _relative_lift(control_values, treatment_values, alpha)
    sequential_results = None
    if sequential is not None:
        variance = _mean_variance(treatment_values) + _mean_variance(control_values)
        sequential_results = sequential_result(sequential, alpha, control_values.size + treatment_values.size,
                                               (difference, variance), relative, relative_lift.reason)

    decision_pvalue = float(welch.pvalue) if sequential_results is None else sequential_results.pvalue
    significant = bool(decision_pvalue < alpha)
    winner, reason = decide_winner(significant, difference, direction, srm is not None and srm.flagged)
    return MeanComparison(
        *summaries, status=OK, reason=reason, **settings, test="welch_t", statistic=float(welch.statistic),
        pvalue=float(welch.pvalue), df=float(welch.df), absolute_lift=absolute_lift, relative_lift=relative_lift,
        significant=significant, winner=winner, sequential=sequential_results)


def _clean_values(values: ArrayLike, variant: str, nan_policy: str) -> tuple[np.ndarray, int]:
    """Return the finite values as a new float array and how many non-finite values were dropped."""
    try:
        array = np.array(values, dtype=float)  # A copy, so the caller's array is never changed.
    except (TypeError, ValueError) as error:
        raise ValidationError(f"{variant} values are invalid: {error}. Give a one-dimensional sequence of numbers.",
                              field=variant, value=type(values).__name__) from error
    if array.ndim != 1:
        raise ValidationError(f"{variant} values have shape {array.shape}; give a one-dimensional sequence with "
                              "one value per user.", field=variant, value=list(array.shape))
    finite = np.isfinite(array)
    dropped = int(array.size - finite.sum())
    if dropped and nan_policy == "raise":
        positions = np.flatnonzero(~finite)[:_POSITIONS_SHOWN].tolist()
        raise ValidationError(
            f"{variant} contains {dropped} NaN or infinite values (first at positions {positions}); remove them, "
            "or pass nan_policy='omit' to drop them.", field=variant, value=dropped)
    return array[finite], dropped


def _summary(values: np.ndarray, dropped: int) -> MeanSummary:
    mean = float(values.mean()) if values.size else None
    std = float(values.std(ddof=1)) if values.size >= MIN_VALUES else None
    return MeanSummary(int(values.size), mean, std, dropped)


def _insufficient_reason(control: np.ndarray, treatment: np.ndarray) -> str | None:
    for name, values in (("control", control), ("treatment", treatment)):
        if values.size < MIN_VALUES:
            return (f"insufficient data: the {name} has {values.size} value(s); Welch's test needs at least "
                    f"{MIN_VALUES} per variant")
    if np.ptp(control) == 0 and np.ptp(treatment) == 0:
        return "insufficient data: every value is the same within each variant, so there is no variance to test with"
    return None


def _without_verdict(control: MeanSummary, treatment: MeanSummary, reason: str,
                     settings: dict[str, Any]) -> MeanComparison:
    if control.count < MIN_VALUES or treatment.count < MIN_VALUES:
        warnings.warn(f"No verdict: {reason}.", SmallSampleWarning, stacklevel=3)
    confidence = 1 - settings["alpha"]
    difference = None
    if control.mean is not None and treatment.mean is not None:
        difference = treatment.mean - control.mean
    return MeanComparison(
        control, treatment, status=INSUFFICIENT_DATA, reason=reason, **settings, test=None, statistic=None,
        pvalue=None, df=None, absolute_lift=Lift.undefined("absolute", confidence, reason, difference),
        relative_lift=Lift.undefined("relative", confidence, reason), significant=False, winner=None)


def _relative_lift(control: np.ndarray, treatment: np.ndarray,
                   alpha: float) -> tuple[tuple[float, float] | None, Lift]:
    """Return the relative lift's (estimate, variance), or None when undefined, and its Wald interval."""
    mean_c, mean_t = float(control.mean()), float(treatment.mean())
    if mean_c == 0:
        return None, Lift.undefined("relative", 1 - alpha, "the control's mean is 0, so the relative lift is undefined")
    estimate = mean_t / mean_c - 1
    variance = _mean_variance(treatment) / mean_c**2 + mean_t**2 * _mean_variance(control) / mean_c**4
    half_width = stats.norm.isf(alpha / 2) * math.sqrt(variance)
    return (estimate, variance), Lift("relative", estimate, estimate - half_width, estimate + half_width,
                                      1 - alpha, "wald")


def _mean_variance(values: np.ndarray) -> float:
    """Return the variance of the sample mean, s²/n."""
    return float(values.var(ddof=1) / values.size)
