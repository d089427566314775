"""Windows of predictions: the last N predictions or a UTC time range."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from workbench.errors import ValidationError
from workbench.timeutil import to_utc

DEFAULT_LAST = 1000


@dataclass(frozen=True)
class Window:
    """A window of predictions: the ``last`` N, a range ``[start, end)`` in UTC, or the last N within it.

    >>> Window.parse("last:500")
    Window(last=500, start=None, end=None)
    >>> Window.parse("2026-09-07T00:00Z/2026-09-14T00:00Z").describe()
    '2026-09-07T00:00:00+00:00/2026-09-14T00:00:00+00:00'
    """

    last: int | None = DEFAULT_LAST
    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.last is not None and (not isinstance(self.last, int) or self.last < 1):
            raise ValidationError(f"Window size last={self.last!r} is invalid; use a whole number of at least 1.",
                                  field="last", value=self.last)
        if self.start is not None:
            object.__setattr__(self, "start", to_utc(self.start, field="start"))
        if self.end is not None:
            object.__setattr__(self, "end", to_utc(self.end, field="end"))
        if self.start is not None and self.end is not None and self.start >= self.end:
            raise ValidationError(
                f"Window start {self.start.isoformat()} is not before its end {self.end.isoformat()}; "
                "swap them or widen the range.",
                field="start", value=self.start.isoformat(),
            )

    @classmethod
    def between(cls, start: datetime | str, end: datetime | str) -> Window:
        """Return the window of all predictions with ``start <= timestamp < end``."""
        return cls(last=None, start=to_utc(start, field="start"), end=to_utc(end, field="end"))

    @classmethod
    def parse(cls, text: str | Window | None) -> Window:
        """Read ``"last:N"``, ``"N"``, ``"all"`` or an ISO 8601 interval ``"START/END"``.

        Either side of the interval may be empty for an open range, and ``" last:N"`` after the
        interval keeps the last N predictions within it, which is the form :meth:`describe` writes.
        """
        if text is None:
            return cls()
        if isinstance(text, Window):
            return text
        value = str(text).strip()
        if value.lower() == "all":
            return cls(last=None)
        if "/" in value:
            interval, _, size = value.partition(" last:")
            start, _, end = interval.partition("/")
            start, end = start.strip(), end.strip()
            last = _parse_size(size, text) if size else None
            if start or end:
                return cls(last=last, start=start or None, end=end or None)
        else:
            return cls(last=_parse_size(_strip_last_prefix(value), text))
        raise _invalid(text)

    def describe(self) -> str:
        """Return the window in the form :meth:`parse` reads."""
        if self.start is not None or self.end is not None:
            start = self.start.isoformat() if self.start else ""
            end = self.end.isoformat() if self.end else ""
            text = f"{start}/{end}"
            return f"{text} last:{self.last}" if self.last else text
        return f"last:{self.last}" if self.last else "all"

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready values."""
        return {
            "last": self.last,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }


def _parse_size(number: str, text: str) -> int:
    number = number.strip()
    if not number.isdigit():
        raise _invalid(text)
    return int(number)


def _invalid(text: str) -> ValidationError:
    return ValidationError(
        f"Window {text!r} is invalid; use last:N (such as last:500), all, or START/END in ISO 8601 "
        "UTC (such as 2026-09-07T00:00Z/2026-09-14T00:00Z).",
        field="window", value=text,
    )


def _strip_last_prefix(value: str) -> str:
    """Remove a leading ``last:`` in any letter case."""
    return value[len("last:"):] if value.lower().startswith("last:") else value
