"""Input checks shared by the A/B statistics. Each raises ValidationError naming the value and the range."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from workbench.errors import ValidationError


def check_probability(value: Any, name: str, meaning: str) -> float:
    """Return ``value`` as a float strictly between 0 and 1, or raise naming it.

    ``meaning`` completes the message, such as ``"a significance level, such as 0.05"``.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1:
        raise ValidationError(f"{name}={value!r} is invalid; give {meaning} strictly between 0 and 1.",
                              field=name, value=value)
    return float(value)


def check_alpha(alpha: Any) -> float:
    return check_probability(alpha, "alpha", "a significance level, such as 0.05,")


def check_choice(value: Any, allowed: Sequence[str], name: str) -> str:
    if value not in allowed:
        raise ValidationError(f"{name}={value!r} is invalid; use one of {', '.join(map(repr, allowed))}.",
                              field=name, value=value)
    return value


def check_count(value: Any, name: str) -> int:
    """Return ``value`` as a non-negative int. Integral floats such as 12.0 are accepted."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
            or value < 0 or not float(value).is_integer():
        raise ValidationError(f"{name}={value!r} is invalid; give a whole number of 0 or more.",
                              field=name, value=value)
    return int(value)


def check_conversions(counts: Any, variant: str) -> tuple[int, int]:
    """Return ``(conversions, users)`` of one variant as ints, or raise naming the variant."""
    if isinstance(counts, str) or not isinstance(counts, Sequence) or len(counts) != 2:
        raise ValidationError(f"{variant}={counts!r} is invalid; give a pair (conversions, users), such as (12, 480).",
                              field=variant, value=repr(counts))
    conversions = check_count(counts[0], f"{variant} conversions")
    users = check_count(counts[1], f"{variant} users")
    if conversions > users:
        raise ValidationError(f"{variant} has {conversions} conversions but only {users} users; conversions count "
                              "users who converted, so they cannot exceed users.", field=variant, value=list(counts))
    return conversions, users


def check_direction(direction: Any) -> str:
    return check_choice(direction, ("increase", "decrease"), "direction")
