"""The JSON envelope every message travels in, whatever the broker.

An envelope carries ``message_id`` (unique, so consumers can drop duplicates), ``type`` (such as
``"prediction"`` or ``"alert"``), ``created_at`` (UTC, ISO 8601), ``schema_version`` and ``payload``.
Brokers add an optional ``key`` (Kafka's partition key, RabbitMQ's routing key) and string headers
beside it, outside the JSON body.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workbench.errors import ValidationError
from workbench.timeutil import to_utc, utc_now

SCHEMA_VERSION = 1

_REQUIRED = ("message_id", "type", "created_at", "schema_version", "payload")


@dataclass(frozen=True)
class Message:
    """One message: the envelope fields, with the broker-level key and headers.

    Attributes
    ----------
    payload : dict
        The content; JSON-ready values only.
    type : str
        What the payload is, such as ``"prediction"``.
    message_id : str
        Unique id; a random hex id by default.
    created_at : datetime
        UTC creation time.
    schema_version : int
        Version of the payload's schema for its type.
    key : str or None
        Partition or routing key; not part of the JSON body.
    headers : dict
        String headers; not part of the JSON body.
    """

    payload: dict[str, Any]
    type: str = "message"
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created_at: datetime = field(default_factory=utc_now)
    schema_version: int = SCHEMA_VERSION
    key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        """Return the envelope as UTF-8 JSON bytes."""
        body = {
            "message_id": self.message_id,
            "type": self.type,
            "created_at": self.created_at.isoformat(),
            "schema_version": self.schema_version,
            "payload": self.payload,
        }
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, body: bytes | str, *, key: str | None = None,
                  headers: Mapping[str, Any] | None = None) -> Message:
        """Parse an envelope.

        Raises
        ------
        ValidationError
            If the body is not JSON, not an object, or lacks an envelope field; the message names the
            field or the parse error's position.
        """
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValidationError(f"Message body is not valid JSON: {exc}.", field="body",
                                  value=_preview(body)) from exc
        if not isinstance(data, dict):
            raise ValidationError(f"Message body must be a JSON object, got {type(data).__name__}.",
                                  field="body", value=_preview(body))
        missing = [name for name in _REQUIRED if name not in data]
        if missing:
            raise ValidationError(
                f"Message envelope lacks {missing}; an envelope has {list(_REQUIRED)}.",
                field="envelope", value=missing,
            )
        if not isinstance(data["payload"], dict):
            raise ValidationError("Message payload must be a JSON object.", field="payload",
                                  value=type(data["payload"]).__name__)
        return cls(
            payload=data["payload"],
            type=str(data["type"]),
            message_id=str(data["message_id"]),
            created_at=to_utc(data["created_at"], field="created_at"),
            schema_version=int(data["schema_version"]),
            key=key,
            headers={str(name): _header_text(value) for name, value in (headers or {}).items()},
        )


def _header_text(value: Any) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _preview(body: bytes | str, limit: int = 80) -> str:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    return text if len(text) <= limit else text[:limit] + "…"
