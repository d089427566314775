"""Several treatments against one control, with Holm's correction for multiple testing.

Each treatment is compared with the control on its own. Testing k treatments at level alpha each would
give a false positive with probability up to k × alpha, so the p-values are adjusted with Holm's
step-down method. It controls the family-wise error rate at alpha under any dependence between the
tests, and it rejects everything that Bonferroni's method rejects.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import ArrayLike
from statsmodels.stats.multitest import multipletests

from workbench.abtesting._checks import check_alpha, check_choice, check_direction
from workbench.abtesting.bayes import DEFAULT_PRIOR
from workbench.abtesting.means import MeanComparison, compare_means
from workbench.abtesting.proportions import ProportionComparison, compare_proportions
from workbench.abtesting.results import FIXED, OK, SEQUENTIAL, decide_winner
from workbench.abtesting.sequential import SequentialSettings
from workbench.abtesting.srm import SampleRatioCheck, sample_ratio_mismatch
from workbench.errors import ValidationError

METRIC_KINDS = ("binary", "continuous")


@dataclass(frozen=True)
class TreatmentResult:
    """One treatment against the control, after Holm's correction.

    Attributes
    ----------
    name : str
        The treatment's name.
    comparison : ProportionComparison or MeanComparison
        The uncorrected comparison with the control. Its own ``significant`` and ``winner`` ignore the
        other treatments.
    adjusted_pvalue : float or None
        Holm-adjusted p-value, or None when the comparison has no verdict.
    significant : bool
        Whether the adjusted p-value is below alpha.
    winner : str or None
        ``"treatment"`` or ``"control"`` when significant after correction.
    reason : str
        Why the decision is what it is.
    """

    name: str
    comparison: ProportionComparison | MeanComparison
    adjusted_pvalue: float | None
    significant: bool
    winner: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "adjusted_pvalue": self.adjusted_pvalue, "significant": self.significant,
                "winner": self.winner, "reason": self.reason, "comparison": self.comparison.to_dict()}


@dataclass(frozen=True)
class VariantsComparison:
    """Every treatment against the control, with Holm-adjusted p-values.

    Attributes
    ----------
    metric : str
        ``"binary"`` or ``"continuous"``.
    alpha : float
        Family-wise significance level.
    mode : str
        ``"fixed"`` or ``"sequential"``.
    treatments : tuple of TreatmentResult
        One result per treatment, in the order given.
    srm : SampleRatioCheck or None
        Sample ratio check over all variants, when weights were given. A mismatch withholds every winner.
    """

    metric: str
    alpha: float
    mode: str
    treatments: tuple[TreatmentResult, ...]
    srm: SampleRatioCheck | None = None

    def __getitem__(self, name: str) -> TreatmentResult:
        for result in self.treatments:
            if result.name == name:
                return result
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {"metric": self.metric, "alpha": self.alpha, "mode": self.mode, "correction": "holm",
                "treatments": [result.to_dict() for result in self.treatments],
                "srm": None if self.srm is None else self.srm.to_dict()}


def holm(p_values: Sequence[float]) -> list[float]:
    """Return Holm-adjusted p-values, in the order given.

    Notes
    -----
    :func:`statsmodels.stats.multitest.multipletests` with ``method="holm"``: the i-th smallest of m
    p-values is multiplied by m − i + 1, made non-decreasing in that order and capped at 1. Holm, S.
    (1979), "A simple sequentially rejective multiple test procedure", Scandinavian Journal of
    Statistics 6(2), 65–70.

    Examples
    --------
    >>> [round(value, 4) for value in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    if isinstance(p_values, str) or not isinstance(p_values, Sequence):
        raise ValidationError(f"p_values={p_values!r} is invalid; give a sequence of p-values.", field="p_values",
                              value=repr(p_values))
    for value in p_values:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or not 0 <= value <= 1:
            raise ValidationError(f"p-value {value!r} is invalid; every p-value must be a number from 0 to 1.",
                                  field="p_values", value=list(p_values))
    if len(p_values) < 2:
        # One test needs no adjustment (its factor is m - i + 1 = 1). statsmodels 0.15 runs a garbage
        # collection on every call, which costs tens of milliseconds, so the common case skips it.
        return [float(value) for value in p_values]
    return [float(value) for value in multipletests(list(p_values), method="holm")[1]]


def compare_variants(control: tuple[int, int] | ArrayLike, treatments: Mapping[str, tuple[int, int] | ArrayLike], *,
                     metric: str = "binary", alpha: float = 0.05, sequential: SequentialSettings | None = None,
                     weights: Sequence[float] | None = None, direction: str = "increase", correction: str = "none",
                     prior: tuple[float, float] = DEFAULT_PRIOR, nan_policy: str = "raise") -> VariantsComparison:
    """Compare every treatment with the control and correct the p-values with Holm's method.

    Parameters
    ----------
    control : tuple of int or array_like
        ``(conversions, users)`` for a binary metric, or one value per user for a continuous metric.
    treatments : mapping of str to tuple of int or array_like
        The same for each treatment, by name.
    metric : {'binary', 'continuous'}
        Compare with :func:`compare_proportions` or :func:`compare_means`.
    alpha, sequential, direction
        As in those functions, with alpha as the family-wise level.
    weights : sequence of float or None
        Assignment weights, control first, then the treatments in order. When given, one sample ratio
        check runs over all variants.
    correction, prior
        Binary metrics only, as in :func:`compare_proportions`.
    nan_policy
        Continuous metrics only, as in :func:`compare_means`.

    Returns
    -------
    VariantsComparison

    Notes
    -----
    The p-value of each comparison is its sequential p-value in sequential mode and its headline p-value
    otherwise. A treatment without a verdict enters the family with p-value 1, so the family always has
    one member per treatment and the correction never gets weaker because a variant lacks data.

    Examples
    --------
    >>> result = compare_variants((100, 1000), {"b": (150, 1000), "c": (104, 1000)})
    >>> result["b"].significant, result["c"].significant
    (True, False)
    """
    check_choice(metric, METRIC_KINDS, "metric")
    alpha = check_alpha(alpha)
    direction = check_direction(direction)
    if not isinstance(treatments, Mapping) or not treatments:
        raise ValidationError("treatments is invalid; give a mapping from each treatment's name to its data, with at "
                              "least one treatment.", field="treatments", value=repr(treatments))

    comparisons = {name: _compare(metric, control, data, alpha, sequential, direction, correction, prior, nan_policy)
                   for name, data in treatments.items()}
    srm = None if weights is None else sample_ratio_mismatch(_users(metric, comparisons), weights)
    pvalues = [_decision_pvalue(comparison) for comparison in comparisons.values()]
    adjusted = holm([1.0 if value is None else value for value in pvalues])

    results = []
    for (name, comparison), raw, value in zip(comparisons.items(), pvalues, adjusted, strict=True):
        if raw is None:
            results.append(TreatmentResult(name, comparison, None, False, None, comparison.reason))
            continue
        significant = value < alpha
        winner, reason = decide_winner(significant, comparison.absolute_lift.estimate, direction,
                                       srm is not None and srm.flagged)
        results.append(TreatmentResult(name, comparison, value, significant, winner, reason))
    mode = FIXED if sequential is None else SEQUENTIAL
    return VariantsComparison(metric, alpha, mode, tuple(results), srm)


def _compare(metric: str, control: Any, treatment: Any, alpha: float, sequential: SequentialSettings | None,
             direction: str, correction: str, prior: tuple[float, float],
             nan_policy: str) -> ProportionComparison | MeanComparison:
    if metric == "binary":
        return compare_proportions(control, treatment, alpha=alpha, correction=correction, sequential=sequential,
                                   prior=prior, direction=direction)
    return compare_means(control, treatment, alpha=alpha, sequential=sequential, nan_policy=nan_policy,
                         direction=direction)


def _decision_pvalue(comparison: ProportionComparison | MeanComparison) -> float | None:
    if comparison.status != OK:
        return None
    return comparison.pvalue if comparison.sequential is None else comparison.sequential.pvalue


def _users(metric: str, comparisons: Mapping[str, ProportionComparison | MeanComparison]) -> list[int]:
    """Return the users of the control and of each treatment, in order, counting users whose value was dropped."""
    summaries = [next(iter(comparisons.values())).control]
    summaries += [comparison.treatment for comparison in comparisons.values()]
    if metric == "binary":
        return [summary.users for summary in summaries]
    return [summary.count + summary.dropped for summary in summaries]
