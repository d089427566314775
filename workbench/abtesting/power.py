"""Power and sample size for comparing two conversion rates, from Cohen's h and the normal approximation.

Both functions use :class:`statsmodels.stats.power.NormalIndPower` with the effect size
:func:`statsmodels.stats.proportion.proportion_effectsize`, Cohen's
:math:`h = 2\\arcsin\\sqrt{p_t} - 2\\arcsin\\sqrt{p_c}`. The arcsine transform makes the variance of a
rate about 1/n whatever the rate, so :math:`n = (1 + 1/k)\\,((z_{1-\\alpha/2} + z_{1-\\beta})/h)^2` control
users are needed for a treatment with k times as many users, plus the small contribution of the other
tail that statsmodels includes. The tests are two-sided and fixed-horizon: a sequential test needs more
users for the same power.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from workbench.abtesting._checks import check_alpha, check_probability
from workbench.errors import ValidationError


@dataclass(frozen=True)
class SampleSize:
    """Users needed to detect a given change of a conversion rate.

    Attributes
    ----------
    baseline_rate, target_rate : float
        Control's expected conversion rate and the treatment's rate to detect.
    minimum_detectable_effect : float
        The change as given: absolute (target − baseline) or relative (target / baseline − 1).
    relative : bool
        Whether ``minimum_detectable_effect`` is relative.
    effect_size : float
        Cohen's h of target against baseline.
    alpha, power : float
        Two-sided significance level and the power to reach.
    ratio : float
        Treatment users per control user.
    control_users, treatment_users : int
        Users needed per variant, rounded up so that the power is at least ``power``.
    users_per_variant : int
        The larger of the two, the users of each variant at ``ratio`` 1.
    total_users : int
        Control and treatment users together.
    exact_control_users : float
        Control users before rounding.
    """

    baseline_rate: float
    target_rate: float
    minimum_detectable_effect: float
    relative: bool
    effect_size: float
    alpha: float
    power: float
    ratio: float
    control_users: int
    treatment_users: int
    exact_control_users: float

    @property
    def users_per_variant(self) -> int:
        return max(self.control_users, self.treatment_users)

    @property
    def total_users(self) -> int:
        return self.control_users + self.treatment_users

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values, with ``users_per_variant`` and ``total_users`` included."""
        return {**asdict(self), "users_per_variant": self.users_per_variant, "total_users": self.total_users}


@dataclass(frozen=True)
class Power:
    """Chance that a two-sided test detects a given change of a conversion rate with given users.

    Attributes
    ----------
    power : float
        Probability of a significant result when the treatment's rate is ``target_rate``.
    baseline_rate, target_rate, minimum_detectable_effect, relative, effect_size, alpha, ratio
        As in :class:`SampleSize`.
    control_users : int
        Users of the control. The treatment has ``ratio`` times as many.
    """

    power: float
    baseline_rate: float
    target_rate: float
    minimum_detectable_effect: float
    relative: bool
    effect_size: float
    alpha: float
    ratio: float
    control_users: int

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return asdict(self)


def sample_size_proportions(baseline_rate: float, minimum_detectable_effect: float, *, alpha: float = 0.05,
                            power: float = 0.8, relative: bool = False, ratio: float = 1.0) -> SampleSize:
    """Return the users per variant needed to detect a change of a conversion rate.

    Parameters
    ----------
    baseline_rate : float
        The control's expected conversion rate, in (0, 1).
    minimum_detectable_effect : float
        Smallest change worth detecting, not 0: absolute (0.01 is one percentage point) or, with
        ``relative=True``, relative (0.1 is 10 % of the baseline). The target rate must stay in (0, 1).
    alpha : float
        Two-sided significance level.
    power : float
        Chance to detect the change when it is real.
    relative : bool
        Whether ``minimum_detectable_effect`` is relative.
    ratio : float
        Treatment users per control user, 1 for an even split.

    Returns
    -------
    SampleSize

    Notes
    -----
    :meth:`NormalIndPower.solve_power` returns a fractional number of control users, which is rounded up
    so that the power is at least the target. Cohen (1988), "Statistical Power Analysis for the
    Behavioral Sciences", Table 6.4.1, lists n = 392 per group for h = 0.20, two-sided alpha 0.05 and
    power 0.80. The formula gives 392.4, which the table shows rounded to the nearest whole number,
    while this function rounds up to 393.

    Examples
    --------
    >>> size = sample_size_proportions(0.10, 0.02)
    >>> size.users_per_variant, round(size.effect_size, 4)
    (3835, 0.064)
    """
    baseline_rate, target_rate, effect = _check_rates(baseline_rate, minimum_detectable_effect, relative)
    alpha = check_alpha(alpha)
    power = check_probability(power, "power", "the chance to detect the effect, such as 0.8,")
    ratio = _check_ratio(ratio)
    effect_size = float(proportion_effectsize(target_rate, baseline_rate))
    exact = float(NormalIndPower().solve_power(effect_size=abs(effect_size), alpha=alpha, power=power, ratio=ratio,
                                                alternative="two-sided"))
    return SampleSize(baseline_rate, target_rate, effect, relative, effect_size, alpha, power, ratio,
                      control_users=math.ceil(exact), treatment_users=math.ceil(exact * ratio),
                      exact_control_users=exact)


def power_proportions(baseline_rate: float, minimum_detectable_effect: float, users_per_variant: int, *,
                      alpha: float = 0.05, relative: bool = False, ratio: float = 1.0) -> Power:
    """Return the power to detect a change of a conversion rate with a given number of users.

    Parameters
    ----------
    baseline_rate, minimum_detectable_effect, alpha, relative, ratio
        As in :func:`sample_size_proportions`.
    users_per_variant : int
        Users of the control. The treatment has ``ratio`` times as many.

    Returns
    -------
    Power

    Notes
    -----
    :meth:`NormalIndPower.power` with Cohen's h, two-sided.

    Examples
    --------
    >>> round(power_proportions(0.10, 0.02, 3835).power, 3)
    0.8
    """
    baseline_rate, target_rate, effect = _check_rates(baseline_rate, minimum_detectable_effect, relative)
    alpha = check_alpha(alpha)
    ratio = _check_ratio(ratio)
    if isinstance(users_per_variant, bool) or not isinstance(users_per_variant, int) or users_per_variant < 1:
        raise ValidationError(f"users_per_variant={users_per_variant!r} is invalid; give a whole number of users of "
                              "1 or more.", field="users_per_variant", value=users_per_variant)
    effect_size = float(proportion_effectsize(target_rate, baseline_rate))
    value = float(NormalIndPower().power(effect_size=abs(effect_size), nobs1=users_per_variant, alpha=alpha,
                                         ratio=ratio, alternative="two-sided"))
    return Power(value, baseline_rate, target_rate, effect, relative, effect_size, alpha, ratio, users_per_variant)


def _check_rates(baseline_rate: Any, effect: Any, relative: Any) -> tuple[float, float, float]:
    """Return the baseline rate, the target rate and the effect, or raise naming the value out of range."""
    baseline_rate = check_probability(baseline_rate, "baseline_rate", "a conversion rate, such as 0.1,")
    if not isinstance(relative, bool):
        raise ValidationError(f"relative={relative!r} is invalid; give True or False.", field="relative",
                              value=relative)
    if isinstance(effect, bool) or not isinstance(effect, int | float) or not math.isfinite(effect) or effect == 0:
        raise ValidationError(f"minimum_detectable_effect={effect!r} is invalid; give a non-zero change, such as "
                              "0.01 (absolute) or 0.1 with relative=True.", field="minimum_detectable_effect",
                              value=effect)
    target_rate = baseline_rate * (1 + effect) if relative else baseline_rate + effect
    if not 0 < target_rate < 1:
        kind = "relative" if relative else "absolute"
        raise ValidationError(
            f"minimum_detectable_effect={effect!r} ({kind}) moves the baseline rate {baseline_rate!r} to "
            f"{target_rate!r}; the target rate must be strictly between 0 and 1, so choose a smaller effect.",
            field="minimum_detectable_effect", value=effect)
    return baseline_rate, float(target_rate), float(effect)


def _check_ratio(ratio: Any) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio) or ratio <= 0:
        raise ValidationError(f"ratio={ratio!r} is invalid; give the treatment users per control user, a positive "
                              "number such as 1 for an even split.", field="ratio", value=ratio)
    return float(ratio)
