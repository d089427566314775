"""Two-sample tests used by the drift check, built on :mod:`scipy.stats`.

The Kolmogorov–Smirnov test here takes a reference that was sorted once at training time, so a drift
check sorts only the current window. Its statistic and p-value equal :func:`scipy.stats.ks_2samp`
with ``alternative='two-sided'`` on the same arrays: the exact mode calls scipy, and the asymptotic
mode uses scipy's ``kstwo`` distribution at the rounded effective size, as scipy does (checked
against scipy 1.17 in ``tests/monitoring/test_stattests.py``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import stats

from workbench.errors import ValidationError

#: scipy's ``ks_2samp(method='auto')`` computes exact p-values while both samples have at most this
#: many values, and uses the asymptotic distribution above it.
KS_EXACT_MAX_N = 10_000

KS_METHODS = ("auto", "exact", "asymp")

#: Share that an empty bin is floored at in the population stability index, so the index stays
#: finite. It is a common choice in credit-risk practice and only affects the reported effect size.
PSI_FLOOR = 1e-4


@dataclass(frozen=True)
class StatTestResult:
    """Statistic and p-value of one test.

    Attributes
    ----------
    statistic : float
        Test statistic.
    pvalue : float
        p-value.
    method : str
        ``"exact"`` or ``"asymp"`` for Kolmogorov–Smirnov, ``"chi2"`` or ``"fisher"`` otherwise.
    """

    statistic: float
    pvalue: float
    method: str


def ks_2samp_sorted(reference_sorted: np.ndarray, current: np.ndarray, method: str = "auto",
                    current_is_sorted: bool = False) -> StatTestResult:
    """Two-sided two-sample Kolmogorov–Smirnov test against a pre-sorted reference.

    Parameters
    ----------
    reference_sorted : numpy.ndarray
        Valid reference values in ascending order.
    current : numpy.ndarray
        Valid current values in any order; NaN is not allowed.
    method : {'auto', 'exact', 'asymp'}
        As in :func:`scipy.stats.ks_2samp`: ``'auto'`` is exact while both samples have at most
        10,000 values.
    current_is_sorted : bool
        Whether ``current`` is already in ascending order, which saves sorting it again.

    Returns
    -------
    StatTestResult

    Notes
    -----
    The statistic is :math:`D = \\sup_x |F_r(x) - F_c(x)|` over the pooled values, with the empirical
    distribution functions evaluated by binary search. In asymptotic mode the p-value is
    ``kstwo.sf(D, round(n*m/(n+m)))``, the distribution scipy uses for the same mode.

    References
    ----------
    Hodges, J. L. (1958). The significance probability of the Smirnov two-sample test. Arkiv för
    Matematik 3, 469–486.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> reference, current = np.sort(rng.normal(size=300)), rng.normal(0.5, size=200)
    >>> mine = ks_2samp_sorted(reference, current)
    >>> theirs = stats.ks_2samp(reference, current)
    >>> bool(np.isclose(mine.statistic, theirs.statistic)), bool(np.isclose(mine.pvalue, theirs.pvalue))
    (True, True)
    """
    if method not in KS_METHODS:
        raise ValidationError(f"method={method!r} is invalid; use one of {KS_METHODS}.", field="method", value=method)
    n1, n2 = reference_sorted.size, current.size
    if n1 == 0 or n2 == 0:
        raise ValidationError("Both samples need at least one value for a Kolmogorov–Smirnov test.",
                              field="current" if n2 == 0 else "reference", value=0)

    if method == "exact" or (method == "auto" and max(n1, n2) <= KS_EXACT_MAX_N):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            result = stats.ks_2samp(reference_sorted, current, method="exact")
        # scipy falls back to the asymptotic p-value, with a RuntimeWarning, when the exact one fails.
        fell_back = any(issubclass(item.category, RuntimeWarning) and "asymp" in str(item.message)
                        for item in caught)
        return StatTestResult(float(result.statistic), float(result.pvalue), "asymp" if fell_back else "exact")

    current_sorted = current if current_is_sorted else np.sort(current)
    # The difference of the two distribution functions is evaluated at every pooled value; the
    # supremum is reached at one of them.
    at_reference = _right_ranks(reference_sorted) / n1
    at_reference = at_reference - np.searchsorted(current_sorted, reference_sorted, side="right") / n2
    at_current = (np.searchsorted(reference_sorted, current_sorted, side="right") / n1
                  - _right_ranks(current_sorted) / n2)
    high = max(at_reference.max(), at_current.max())
    low = min(at_reference.min(), at_current.min())
    statistic = float(max(np.clip(-low, 0, 1), high))

    larger, smaller = max(n1, n2), min(n1, n2)
    effective_n = larger * smaller / (larger + smaller)
    pvalue = float(np.clip(stats.kstwo.sf(statistic, np.round(effective_n)), 0, 1))
    return StatTestResult(statistic, pvalue, "asymp")


def chi2_homogeneity(table: np.ndarray) -> StatTestResult:
    """Chi-square test of homogeneity on a 2-by-k table of reference and current category counts.

    Calls :func:`scipy.stats.chi2_contingency` without Yates' continuity correction, which scipy would
    otherwise apply to a 2-by-2 table. Columns with no count in either row must be removed first. A
    table with a single category has no degrees of freedom and gives statistic 0 and p-value 1.
    """
    if table.shape[1] < 2:
        return StatTestResult(0.0, 1.0, "chi2")
    result = stats.chi2_contingency(table, correction=False)
    return StatTestResult(float(result.statistic), float(result.pvalue), "chi2")


def cramers_v(table: np.ndarray) -> float:
    """Cramér's V of a contingency table, via :func:`scipy.stats.contingency.association`."""
    if table.shape[1] < 2:
        return 0.0
    return float(stats.contingency.association(table, method="cramer", correction=False))


def missing_share_test(reference_missing: int, reference_count: int,
                       current_missing: int, current_count: int) -> StatTestResult | None:
    """One-sided Fisher exact test that the current window has a larger missing share than the reference.

    Returns None when no value is missing in either sample, since there is nothing to test. A fall in
    the missing share is not tested: it is shown in the shares but does not alert.
    """
    if reference_missing == 0 and current_missing == 0:
        return None
    table = np.array([[current_missing, current_count - current_missing],
                      [reference_missing, reference_count - reference_missing]])
    result = stats.fisher_exact(table, alternative="greater")
    odds_ratio = float(result.statistic)
    return StatTestResult(odds_ratio if math.isfinite(odds_ratio) else math.inf, float(result.pvalue), "fisher")


def population_stability_index(bin_edges: np.ndarray, reference_shares: np.ndarray,
                               current_sorted: np.ndarray) -> float:
    """Population stability index of the current values over the reference's equal-frequency bins.

    :math:`\\mathrm{PSI} = \\sum_i (c_i - r_i) \\ln(c_i / r_i)` with shares floored at
    :data:`PSI_FLOOR`. Values below 0.1 are commonly read as a small shift and above 0.25 as a large one.
    """
    positions = np.searchsorted(current_sorted, bin_edges, side="right")
    counts = np.diff(np.concatenate(([0], positions, [current_sorted.size])))
    current_shares = np.maximum(counts / current_sorted.size, PSI_FLOOR)
    reference_shares = np.maximum(reference_shares, PSI_FLOOR)
    return float(np.sum((current_shares - reference_shares) * np.log(current_shares / reference_shares)))


def _right_ranks(values_sorted: np.ndarray) -> np.ndarray:
    """Return, for each value of a sorted array, how many values are <= it (searchsorted side='right')."""
    run_ends = np.flatnonzero(np.diff(values_sorted)) + 1
    run_ends = np.append(run_ends, values_sorted.size)
    return np.repeat(run_ends, np.diff(run_ends, prepend=0))
