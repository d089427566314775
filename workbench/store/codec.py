"""JSON text for the records that stores keep: models and alerts, with their datetimes.

A datetime becomes ``{"$ts": microseconds since the epoch}``, so a record round-trips through JSON with
microsecond precision and its UTC zone. The SQLite and MongoDB stores keep records in this form, so
both return the same values.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from workbench.timeutil import from_micros, to_micros


def encode_record(record: dict[str, Any]) -> str:
    """Return ``record`` as JSON text, with datetimes encoded."""
    return json.dumps(_encode_value(record))


def decode_record(text: str | bytes) -> dict[str, Any]:
    """Parse JSON text from :func:`encode_record`, turning encoded datetimes back into aware UTC datetimes."""
    return json.loads(text, object_hook=_decode_object)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$ts": to_micros(value)}
    if isinstance(value, dict):
        return {key: _encode_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_value(item) for item in value]
    return value


def _decode_object(value: dict[str, Any]) -> Any:
    if value.keys() == {"$ts"}:
        return from_micros(value["$ts"])
    return value
