"""The versioned JSON envelope every message travels in.

::

    {"v": 1, "id": "<uuid>", "type": "run_action" | "event" | "cancel", "sent_at": "<ISO 8601 UTC>", "payload": {...}}

``payload`` is ``RunAction.to_dict()`` for ``run_action``, ``Event.to_dict()`` for ``event``, and
``{"action_execution_ids": [...]}`` for ``cancel`` (a broadcast to every executor).
A reader of version 1 ignores keys it does not know (a later minor addition must not break it) but
refuses any other version: the shape of ``payload`` may have changed.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from levante.exceptions import TransportError

__all__ = ["CANCEL", "EVENT", "RUN_ACTION", "TYPES", "VERSION", "DecodeError", "Envelope", "decode", "encode"]

#: The envelope version this code writes and reads.
VERSION = 1
#: Type of a RunAction sent to an executor.
RUN_ACTION = "run_action"
#: Type of an event sent to the engine.
EVENT = "event"
#: Type of a broadcast naming cancelled action executions.
CANCEL = "cancel"
#: Every envelope type.
TYPES = frozenset({RUN_ACTION, EVENT, CANCEL})


class DecodeError(TransportError):
    """A message body is not a valid envelope. Such a message can never succeed: it is dropped."""

    def __init__(self, reason: str, body: Any) -> None:
        super().__init__(f"Malformed message envelope: {reason}", recoverable=False)
        self.reason = reason
        #: The raw body as received (bytes, str or the already-decoded JSON value).
        self.body = body


@dataclass(frozen=True)
class Envelope:
    """A decoded envelope."""

    #: Unique id of this message (a uuid4 string), for logs and de-duplication.
    id: str
    #: ``run_action`` or ``event``.
    type: str
    #: When the sender built the envelope (ISO 8601, UTC).
    sent_at: str
    #: The command or event, as a JSON object.
    payload: dict[str, Any]
    #: Envelope version.
    v: int = VERSION

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form (what :func:`encode` returns)."""
        return {"v": self.v, "id": self.id, "type": self.type, "sent_at": self.sent_at,
                "payload": self.payload}


def encode(type: str, payload: Mapping[str, Any]) -> dict[str, Any]:  # noqa: A002 - the envelope's field name
    """Wrap a payload in a new envelope.

    Args:
        type: ``run_action`` or ``event``.
        payload: a JSON object (``RunAction.to_dict()`` or ``Event.to_dict()``).

    Raises:
        ValueError: unknown type, or a payload that is not a mapping.
    """
    if type not in TYPES:
        raise ValueError(f'Unknown envelope type "{type}": expected one of {sorted(TYPES)}.')
    if not isinstance(payload, Mapping):
        raise ValueError(f"An envelope payload must be a JSON object, not {payload.__class__.__name__}.")
    return {
        "v": VERSION,
        "id": str(uuid.uuid4()),
        "type": type,
        "sent_at": datetime.now(timezone.utc).isoformat(),
        "payload": dict(payload),
    }


def decode(body: bytes | str | Mapping[str, Any]) -> Envelope:
    """Check and unwrap an envelope.

    Args:
        body: the raw JSON text (bytes or str) or the JSON object kombu already decoded.

    Raises:
        DecodeError: not JSON, not an object, wrong version, or a missing or ill-typed field.
    """
    data = _load(body)
    version = data.get("v")
    if "v" not in data:
        raise DecodeError('missing field "v"', body)
    if type(version) is not int or version != VERSION:  # bool is an int: compare the exact type
        raise DecodeError(f"unsupported version {version!r} (this reader knows {VERSION})", body)
    for name in ("id", "type", "sent_at", "payload"):
        if name not in data:
            raise DecodeError(f'missing field "{name}"', body)
    if not isinstance(data["id"], str) or not data["id"]:
        raise DecodeError(f'"id" must be a non-empty string, not {data["id"]!r}', body)
    if data["type"] not in TYPES:
        raise DecodeError(f'unknown type {data["type"]!r}: expected one of {sorted(TYPES)}', body)
    if not isinstance(data["sent_at"], str) or not _is_timestamp(data["sent_at"]):
        raise DecodeError(f'"sent_at" must be an ISO 8601 timestamp, not {data["sent_at"]!r}', body)
    if not isinstance(data["payload"], dict):
        raise DecodeError(f'"payload" must be a JSON object, not {type(data["payload"]).__name__}', body)
    return Envelope(id=data["id"], type=data["type"], sent_at=data["sent_at"], payload=data["payload"],
                    v=version)


def _load(body: bytes | str | Mapping[str, Any]) -> Mapping[str, Any]:
    value: Any = body
    if isinstance(body, (bytes, bytearray, memoryview)):
        try:
            value = bytes(body).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DecodeError(f"not UTF-8 text ({exc.reason})", body) from exc
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise DecodeError(f"not JSON ({exc})", body) from exc
    if not isinstance(value, Mapping):
        raise DecodeError(f"not a JSON object but {type(value).__name__}", body)
    return value


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
