"""One API operation as data (:class:`Call`: the request to send and how to read its answer) and
the readers of answers: JSON-typed fields (``input``, ``output``, ``params``, ``published``,
``result``, ``variables``...) are decoded from the JSON strings Mistral's API sends; lists are
returned as lists (the ``next`` link is dropped). :mod:`.calls` describes every operation with them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

#: The JSON-typed fields of each resource (sent as JSON strings by the API).
JSON_FIELDS: dict[str, tuple[str, ...]] = {
    "executions": ("input", "output", "params", "published_global"),
    "tasks": ("published", "published_global", "runtime_context", "result", "env"),
    "action_executions": ("input", "output", "params"),
    "workflows": ("interface",),
    "cron_triggers": ("workflow_input", "workflow_params"),
    "environments": ("variables",),
    "workbooks": (),
    "actions": (),
    "events": (),
    "api_keys": (),
}
T = TypeVar("T")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")


def looks_like_uuid(text: str) -> bool:
    """Whether ``text`` is a UUID (Mistral's client sends those as ``workflow_id``)."""
    return bool(_UUID.match(text))


def decode_item(kind: str, item: Any) -> Any:
    """``item`` with its JSON-typed fields decoded (left as they are when they are not JSON)."""
    if not isinstance(item, dict):
        return item
    out = dict(item)
    for key in JSON_FIELDS.get(kind, ()):
        value = out.get(key)
        if isinstance(value, str):
            try:
                out[key] = json.loads(value)
            except ValueError:
                pass
    return out


def read_one(kind: str) -> Callable[[Any], dict[str, Any]]:
    """Reads one item of ``kind``."""
    return lambda body: decode_item(kind, body)


def read_many(kind: str, key: str | None = None) -> Callable[[Any], list[dict[str, Any]]]:
    """Reads the list of ``kind`` items under ``key`` (default: ``kind``)."""
    return lambda body: [decode_item(kind, i) for i in (body or {}).get(key or kind, [])]


def read_nothing(body: Any) -> None:
    """Reads no answer (a 204)."""
    return None


def read_as_is(body: Any) -> Any:
    """Reads the answer as it is."""
    return body


def query(**params: Any) -> dict[str, Any]:
    """Query parameters without the ``None`` ones; booleans as ``true``/``false``; lists joined."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        out[key] = value
    return out


@dataclass
class Call(Generic[T]):
    """One request, and the reading of its answer into a ``T`` (what the client method returns)."""

    method: str
    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    read: Callable[[Any], T] = read_as_is


def listing(kind: str, path: str | None = None, *, limit: int | None = None, marker: str | None = None,
          sort_keys: str | None = None, sort_dirs: str | None = None, fields: list[str] | None = None,
          **filters: Any) -> Call[list[dict[str, Any]]]:
    params = query(limit=limit, marker=marker, sort_keys=sort_keys, sort_dirs=sort_dirs,
                    fields=fields, **filters)
    return Call("GET", path or f"/{kind}", params, read=read_many(kind))
