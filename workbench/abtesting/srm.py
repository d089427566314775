"""Sample ratio mismatch: whether the users per variant match the weights they were assigned with.

A mismatch means that assignment or logging is broken, for example when one variant crashes before it
logs its users or a bot filter removes users from one variant only. The users who remain may then differ
between variants for reasons other than the treatment, so no comparison is trusted until it is fixed.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

from workbench.abtesting._checks import check_count, check_probability
from workbench.errors import SmallSampleWarning, ValidationError

#: Default p-value below which a mismatch is flagged. It is stricter than a usual alpha because the
#: check runs at every look of every experiment, and a false alarm stops a healthy experiment.
DEFAULT_THRESHOLD = 0.001

#: Expected count per variant below which the chi-square approximation is poor (Cochran's rule).
MIN_EXPECTED_COUNT = 5


@dataclass(frozen=True)
class SampleRatioCheck:
    """Chi-square goodness-of-fit test of the users per variant against the weights.

    Attributes
    ----------
    counts : tuple of int
        Users observed per variant.
    weights : tuple of float
        Weights normalised to sum to 1.
    expected : tuple of float
        Users expected per variant, the total split by the weights.
    statistic, pvalue : float or None
        Chi-square statistic and p-value, or None when there are no users yet.
    threshold : float
        The p-value below which a mismatch is flagged.
    flagged : bool
        Whether ``pvalue < threshold``.
    reason : str or None
        Why there is no test, or why the test is unreliable.
    """

    counts: tuple[int, ...]
    weights: tuple[float, ...]
    expected: tuple[float, ...]
    statistic: float | None
    pvalue: float | None
    threshold: float
    flagged: bool
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "counts": list(self.counts),
            "weights": list(self.weights),
            "expected": list(self.expected),
            "statistic": self.statistic,
            "pvalue": self.pvalue,
            "threshold": self.threshold,
            "flagged": self.flagged,
            "reason": self.reason,
        }


def sample_ratio_mismatch(counts: Sequence[int], weights: Sequence[float], *,
                          threshold: float = DEFAULT_THRESHOLD) -> SampleRatioCheck:
    """Test whether the users per variant match the assignment weights.

    Parameters
    ----------
    counts : sequence of int
        Users per variant, control first.
    weights : sequence of float
        Assignment weight per variant, in the same order. Any positive scale works because they are normalised.
    threshold : float
        A mismatch is flagged when the p-value is below it.

    Returns
    -------
    SampleRatioCheck
        With no users at all the check is not flagged, and its reason is "no users yet".

    Warns
    -----
    SmallSampleWarning
        When a variant expects fewer than 5 users, where the chi-square approximation is poor.

    Notes
    -----
    Pearson's chi-square goodness-of-fit test with k − 1 degrees of freedom, computed by
    :func:`scipy.stats.chisquare` with the expected counts total × weight.

    Examples
    --------
    >>> check = sample_ratio_mismatch([5200, 4800], [0.5, 0.5])
    >>> check.flagged, round(check.pvalue, 7)
    (True, 6.33e-05)
    """
    observed, normalised = _check_inputs(counts, weights)
    threshold = check_probability(threshold, "threshold", "the p-value below which a mismatch is flagged")
    total = sum(observed)
    expected = tuple(total * weight for weight in normalised)
    if total == 0:
        return SampleRatioCheck(observed, normalised, expected, None, None, threshold, False, "no users yet")

    reason = None
    if min(expected) < MIN_EXPECTED_COUNT:
        reason = (f"a variant expects fewer than {MIN_EXPECTED_COUNT} users, so the chi-square approximation is "
                  "poor and the p-value is approximate")
        warnings.warn(f"Sample ratio check: {reason}.", SmallSampleWarning, stacklevel=2)
    result = stats.chisquare(np.asarray(observed, dtype=float), np.asarray(expected, dtype=float))
    pvalue = float(result.pvalue)
    return SampleRatioCheck(observed, normalised, expected, float(result.statistic), pvalue, threshold,
                            pvalue < threshold, reason)


def _check_inputs(counts: Sequence[int], weights: Sequence[float]) -> tuple[tuple[int, ...], tuple[float, ...]]:
    if isinstance(counts, str) or not isinstance(counts, Sequence) or len(counts) < 2:
        raise ValidationError(f"counts={counts!r} is invalid; give the users of at least two variants, such as "
                              "[5200, 4800].", field="counts", value=repr(counts))
    if isinstance(weights, str) or not isinstance(weights, Sequence) or len(weights) != len(counts):
        raise ValidationError(f"weights={weights!r} is invalid; give one weight per variant ({len(counts)} "
                              "variants), such as [0.5, 0.5].", field="weights", value=repr(weights))
    observed = tuple(check_count(count, "counts") for count in counts)
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) \
                or weight <= 0:
            raise ValidationError(f"weight {weight!r} is invalid; every weight must be a positive number, such as "
                                  "0.5. A variant with weight 0 gets no users and does not belong in the check.",
                                  field="weights", value=list(weights))
    total_weight = math.fsum(weights)
    return observed, tuple(float(weight) / total_weight for weight in weights)
