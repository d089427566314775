"""Sequential testing: asymptotic confidence sequences and the always-valid p-values derived from them.

A fixed-horizon test is valid at one look. Checking it at every look and stopping at the first
significant result raises the false positive rate far above alpha. A confidence sequence covers the
true effect at every sample size at once with probability at least 1 − alpha (asymptotically), so an
experiment may be checked as often as wanted and stopped at any look.

The construction is the Gaussian-mixture asymptotic confidence sequence of Waudby-Smith, Arbour, Sinha,
Kennedy and Ramdas, "Time-uniform central limit theory and asymptotic confidence sequences", Annals of
Statistics, 2024 (arXiv:2103.06476). It is applied to the difference of two means as GrowthBook's
stats engine does, in ``SequentialTwoSidedTTest`` of the ``gbstats`` package. The tests in
``tests/abtesting/test_sequential.py`` check the numbers against gbstats 0.8.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import lambertw

from workbench.abtesting._checks import check_alpha, check_choice
from workbench.abtesting.results import Lift, json_number
from workbench.errors import ValidationError

SEQUENTIAL_METHODS = ("asymptotic_cs",)
#: Users per variant at which the confidence sequence is narrowest. GrowthBook's default of 5,000 counts
#: both variants together, so it corresponds to 2,500 here.
DEFAULT_TUNING = 5_000
#: A comparison has two variants, so the sequence is narrowest when both together have this many times
#: ``tuning`` users.
VARIANTS_PER_COMPARISON = 2


@dataclass(frozen=True)
class SequentialSettings:
    """Settings of a sequential test.

    Attributes
    ----------
    method : str
        ``"asymptotic_cs"``, the only method: the asymptotic confidence sequence of Waudby-Smith et al.
    tuning : int
        Users per variant at which the sequence is narrowest. Elsewhere it is wider than the best
        possible there, more so before ``tuning`` than after it: with an even split, 1.26 times at a
        tenth of ``tuning`` users and 1.07 times at ten times as many (alpha 0.05). Set it to the
        expected users per variant at the end of the experiment.
    """

    method: str = "asymptotic_cs"
    tuning: int = DEFAULT_TUNING

    def __post_init__(self) -> None:
        check_choice(self.method, SEQUENTIAL_METHODS, "method")
        if isinstance(self.tuning, bool) or not isinstance(self.tuning, int) or self.tuning < 1:
            raise ValidationError(f"tuning={self.tuning!r} is invalid; give a positive whole number of users per "
                                  "variant, such as 5000.", field="tuning", value=self.tuning)

    def rho_squared(self, alpha: float) -> float:
        """Return the mixing parameter ρ² that makes the sequence narrowest at ``tuning`` users per variant."""
        return optimal_rho_squared(VARIANTS_PER_COMPARISON * self.tuning, alpha)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "tuning": self.tuning}


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid results of one comparison at the current look.

    Attributes
    ----------
    method : str
        ``"asymptotic_cs"``.
    tuning : int
        Users per variant at which the sequence is narrowest.
    alpha : float
        Level of the sequence, which ρ² was chosen for.
    rho_squared : float
        Mixing parameter ρ² of the normal mixture.
    total_users : int
        Users of both variants at this look.
    pvalue : float
        Always-valid p-value for no difference: the smallest alpha at which the sequence with this ρ²
        excludes 0.
    absolute_lift, relative_lift : Lift
        Confidence sequences for the difference and for the relative lift at this look.
    """

    method: str
    tuning: int
    alpha: float
    rho_squared: float
    total_users: int
    pvalue: float
    absolute_lift: Lift
    relative_lift: Lift

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "method": self.method,
            "tuning": self.tuning,
            "alpha": self.alpha,
            "rho_squared": self.rho_squared,
            "total_users": self.total_users,
            "pvalue": json_number(self.pvalue),
            "absolute_lift": self.absolute_lift.to_dict(),
            "relative_lift": self.relative_lift.to_dict(),
        }


def check_sequential_settings(sequential: Any) -> None:
    """Raise ValidationError unless ``sequential`` is None or a :class:`SequentialSettings`."""
    if sequential is not None and not isinstance(sequential, SequentialSettings):
        raise ValidationError(f"sequential={sequential!r} is invalid; give SequentialSettings(...), or None for a "
                              "fixed-horizon test.", field="sequential", value=repr(sequential))


def optimal_rho_squared(total_users: float, alpha: float) -> float:
    """Return the ρ² that minimises the half-width of the confidence sequence at ``total_users``.

    Notes
    -----
    With :math:`r = N\\rho^2`, the half-width at :math:`N` users is proportional to
    :math:`\\sqrt{(1 + r)/r \\cdot (\\ln(1 + r) - 2\\ln\\alpha)}`. Setting its derivative in :math:`r` to
    zero gives :math:`r = \\ln(1 + r) - 2\\ln\\alpha`, whose root above 0 is
    :math:`r = -W_{-1}(-\\alpha^2/e) - 1` with the lower branch of the Lambert W function
    (:func:`scipy.special.lambertw` with ``k=-1``). At alpha 0.05 this is r = 8.212. GrowthBook uses the
    approximation :math:`-2\\ln\\alpha + \\ln(1 - 2\\ln\\alpha)` = 7.936 instead. Near its minimum the
    width hardly depends on r, so both give half-widths within 0.1 % of each other there.

    Examples
    --------
    >>> round(optimal_rho_squared(10_000, 0.05) * 10_000, 3)
    8.212
    """
    alpha = check_alpha(alpha)
    if not total_users > 0:
        raise ValidationError(f"total_users={total_users!r} is invalid; give a positive number of users.",
                              field="total_users", value=total_users)
    ratio = -lambertw(-alpha**2 / math.e, k=-1).real - 1
    return float(ratio / total_users)


def confidence_sequence_half_width(variance: ArrayLike, total_users: ArrayLike, alpha: float,
                                   rho_squared: float) -> np.ndarray:
    """Return the half-width of the asymptotic confidence sequence for an estimate.

    Parameters
    ----------
    variance : array_like
        Variance of the estimate at this look, such as
        :math:`p_t(1 - p_t)/n_t + p_c(1 - p_c)/n_c` for a difference of rates. Must be positive.
    total_users : array_like
        Users of both variants, :math:`N = n_t + n_c`.
    alpha : float
        Level of the sequence.
    rho_squared : float
        Mixing parameter, from :func:`optimal_rho_squared`.

    Returns
    -------
    numpy.ndarray
        Half-widths, broadcast over the inputs.

    Notes
    -----
    The Gaussian-mixture boundary of Waudby-Smith et al. (2024) for a mean of :math:`N` observations
    with variance :math:`\\sigma^2` is
    :math:`\\sigma \\sqrt{2(N\\rho^2 + 1) / (N^2\\rho^2) \\cdot \\ln(\\sqrt{N\\rho^2 + 1}/\\alpha)}`.
    For a difference of two means, :math:`\\sigma^2 = N \\cdot` ``variance``, the variance of one
    observation of the pooled stream. With :math:`r = N\\rho^2` that is
    :math:`\\sqrt{v (1 + r)/r \\cdot (\\ln(1 + r) - 2\\ln\\alpha)}`, which is what is computed.
    """
    ratio = np.asarray(total_users, dtype=float) * rho_squared
    return np.sqrt(np.asarray(variance, dtype=float) * (1 + ratio) / ratio * (np.log1p(ratio) - 2 * math.log(alpha)))


def always_valid_pvalue(estimate: ArrayLike, variance: ArrayLike, total_users: ArrayLike,
                        rho_squared: float) -> np.ndarray:
    """Return the always-valid p-value for an estimate of 0, at fixed ρ².

    Notes
    -----
    The p-value is the smallest alpha at which the sequence of
    :func:`confidence_sequence_half_width` excludes 0. The half-width falls as alpha grows, so that
    alpha solves half-width = \\|estimate\\| and has the closed form
    :math:`\\sqrt{1 + r}\\, \\exp(-\\hat\\theta^2 r / (2 v (1 + r)))`, capped at 1. It is the inverse of
    the mixture martingale, the same quantity as GrowthBook's sequential p-value. Ville's inequality
    bounds the chance that it ever falls below alpha under no difference by alpha, asymptotically, so a
    caller may stop at the first look with ``pvalue < alpha``. The running minimum over looks is valid as
    well.
    """
    ratio = np.asarray(total_users, dtype=float) * rho_squared
    z_squared = np.asarray(estimate, dtype=float) ** 2 / np.asarray(variance, dtype=float)
    return np.minimum(1.0, np.sqrt(1 + ratio) * np.exp(-z_squared * ratio / (2 * (1 + ratio))))


def sequential_result(settings: SequentialSettings, alpha: float, total_users: int,
                      absolute: tuple[float, float], relative: tuple[float, float] | None,
                      relative_reason: str | None = None) -> SequentialResult:
    """Build the sequential result from the estimates and variances of the absolute and relative lift.

    ``absolute`` and ``relative`` are ``(estimate, variance)`` pairs. ``relative`` is None when the
    relative lift is undefined, and ``relative_reason`` gives the cause.
    """
    rho_squared = settings.rho_squared(alpha)
    confidence = 1 - alpha
    absolute_lift = _sequence_lift("absolute", *absolute, total_users, alpha, rho_squared)
    if relative is None:
        relative_lift = Lift.undefined("relative", confidence, relative_reason or "relative lift is undefined")
    else:
        # NOTE: the relative sequence applies the same boundary to the delta-method linearisation of
        # the ratio, as GrowthBook does. Its remainder is of order 1/N, smaller than the boundary's
        # order sqrt(log N / N), so the coverage is valid asymptotically, but early looks can be off.
        relative_lift = _sequence_lift("relative", *relative, total_users, alpha, rho_squared)
    pvalue = float(always_valid_pvalue(absolute[0], absolute[1], total_users, rho_squared))
    return SequentialResult(settings.method, settings.tuning, alpha, rho_squared, total_users, pvalue,
                            absolute_lift, relative_lift)


def _sequence_lift(scale: str, estimate: float, variance: float, total_users: int, alpha: float,
                   rho_squared: float) -> Lift:
    half_width = float(confidence_sequence_half_width(variance, total_users, alpha, rho_squared))
    return Lift(scale, float(estimate), estimate - half_width, estimate + half_width, 1 - alpha, "asymptotic_cs")
