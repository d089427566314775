"""UTC timestamps: parsing, checking and conversion to integer microseconds."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from workbench.errors import ValidationError

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def to_utc(value: datetime | str | pd.Timestamp, *, field: str = "timestamp") -> datetime:
    """Convert ``value`` to an aware UTC datetime.

    Strings are read as ISO 8601. A naive datetime or a string without an offset is rejected, because
    guessing its zone would silently move it in time.

    Raises
    ------
    ValidationError
        If the value cannot be read or has no time zone.
    """
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(
                f"{field}={value!r} is not an ISO 8601 timestamp; use a form such as 2026-01-31T08:00:00Z.",
                field=field, value=value,
            ) from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise ValidationError(
            f"{field} must be a datetime or an ISO 8601 string, got {type(value).__name__}.",
            field=field, value=value,
        )
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{field}={value.isoformat()!r} has no time zone; give a UTC offset, such as {value.isoformat()}Z.",
            field=field, value=value,
        )
    return value.astimezone(UTC)


def to_micros(value: datetime) -> int:
    """Return microseconds since the Unix epoch of an aware datetime."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Return the aware UTC datetime of ``micros`` microseconds since the Unix epoch."""
    return pd.Timestamp(micros, unit="us", tz="UTC").to_pydatetime()
