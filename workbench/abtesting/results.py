"""Result types and rules shared by the comparisons of proportions and of means.

A comparison has a ``status``: ``"ok"`` when it has a verdict, ``"insufficient_data"`` when a variant has
too few users, and ``"insufficient_events"`` when no variant has an event to tell the rates apart (no
conversion anywhere, or every user converting everywhere). Without a verdict nothing is significant and
there is no winner, and ``reason`` gives the cause.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

OK = "ok"
INSUFFICIENT_DATA = "insufficient_data"
INSUFFICIENT_EVENTS = "insufficient_events"

#: ``fixed``: one look at a planned sample size. ``sequential``: always-valid results at every look.
FIXED = "fixed"
SEQUENTIAL = "sequential"

ABSOLUTE = "absolute"
RELATIVE = "relative"


@dataclass(frozen=True)
class Lift:
    """Effect of the treatment against the control on one scale, with its (1 − alpha) interval.

    Attributes
    ----------
    scale : str
        ``"absolute"``: treatment minus control (rates or means). ``"relative"``: treatment divided by
        control, minus 1.
    estimate : float or None
        Point estimate, or None when the scale is undefined, such as a relative lift over a control at 0.
    lower, upper : float or None
        Interval bounds, or None when there is no interval.
    confidence : float
        Coverage of the interval, 1 − alpha.
    method : str or None
        How the interval was computed: ``"wald"`` (delta method), ``"newcomb"``, ``"log-adjusted"``,
        ``"welch"`` or ``"asymptotic_cs"`` (confidence sequence).
    reason : str or None
        Why the estimate or the interval is None.
    """

    scale: str
    estimate: float | None
    lower: float | None
    upper: float | None
    confidence: float
    method: str | None = None
    reason: str | None = None

    @classmethod
    def undefined(cls, scale: str, confidence: float, reason: str, estimate: float | None = None) -> Lift:
        """Return a lift with no interval, and no estimate unless one is given."""
        return cls(scale, json_number(estimate), None, None, confidence, None, reason)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "scale": self.scale,
            "estimate": json_number(self.estimate),
            "lower": json_number(self.lower),
            "upper": json_number(self.upper),
            "confidence": self.confidence,
            "method": self.method,
            "reason": self.reason,
        }


def json_number(value: Any) -> float | None:
    """Return ``value`` as a Python float, or None when it is None, NaN or infinite."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def decide_winner(significant: bool, effect: float, direction: str, srm_flagged: bool) -> tuple[str | None, str]:
    """Return the winning variant, or None, and the reason for the decision.

    ``effect`` is treatment minus control. With ``direction="decrease"`` a lower value is better, as for an
    error rate. A flagged sample ratio mismatch withholds the winner: the split did not follow the
    weights, so the variants may not be comparable even when the difference is significant.
    """
    if srm_flagged:
        return None, ("sample ratio mismatch: the users per variant do not match the weights, so assignment or "
                      "logging is broken; fix it before reading the result")
    if not significant:
        return None, "the difference is not significant"
    treatment_better = effect > 0 if direction == "increase" else effect < 0
    if treatment_better:
        return "treatment", f"the treatment is significantly better (metric should {direction})"
    return "control", f"the control is significantly better (metric should {direction})"
