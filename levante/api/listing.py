"""List parameters as Mistral takes them: ``marker``, ``limit``, ``sort_keys``, ``sort_dirs``, ``fields``
and filters ``attr=value`` or ``attr=<op>:<value>``; and the ``next`` link of a full page.

A filter's operator is one of :data:`OPERATORS`; ``in`` and ``nin`` take a comma list, ``has``
a text that the attribute must contain (literally: ``%`` and ``_`` are plain characters; and
case-sensitively). A value that starts with a lowercase word and a colon (``like:x``) is taken for
an operator and refused when it is not one: write ``eq:like:x`` to mean the value itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlencode

import falcon

from levante.exceptions import InputError, NotFoundError
from levante.states import State

#: Filter operators (Mistral's).
OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "has")
#: What an operator looks like (so that ``lke:x`` is an error, not the value ``lke:x``).
_OPERATOR_WORD = re.compile(r"[a-z]+")
#: Query parameters every listing takes.
PAGING = ("marker", "limit", "sort_keys", "sort_dirs", "fields")


def as_time(text: str) -> datetime:
    """A filter time: ``YYYY-MM-DD[ HH:MM[:SS[.ffffff]]]`` (UTC unless it has an offset)."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"Not a time: {text!r} (expected YYYY-MM-DD HH:MM:SS).") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def as_bool(text: str) -> bool:
    """A filter boolean."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InputError(f"Not a boolean: {text!r} (expected true or false).")


def as_state(text: str) -> str:
    """A filter state (one of the state names)."""
    try:
        return State(text.upper()).value
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise InputError(f"Unknown state {text!r} (one of {names}).") from None


def as_text(text: str) -> str:
    """A filter string (as given)."""
    return text


#: Integers a query parameter may hold: the databases' 64-bit signed range.
INT_RANGE = (-(2**63), 2**63 - 1)


def as_int(text: str) -> int:
    """A filter integer, within the databases' 64-bit range (a larger one would not fit a query)."""
    try:
        value = int(text)
    except ValueError:
        raise InputError(f"Not an integer: {text[:100]!r}.") from None
    if not INT_RANGE[0] <= value <= INT_RANGE[1]:
        raise InputError(f"Integer out of range: {text[:100]!r} (at most {INT_RANGE[1]}).")
    return value


Converter = Callable[[str], Any]


@dataclass
class ListQuery:
    """A parsed listing request."""

    marker: str | None = None
    limit: int | None = None
    sort_keys: list[str] = field(default_factory=list)
    sort_dirs: list[str] = field(default_factory=list)
    fields: list[str] | None = None
    #: Repository filters: column -> value, list (IN) or ``{"op", "value"}`` (or a list of those).
    filters: dict[str, Any] = field(default_factory=dict)


def _values(req: falcon.Request, name: str) -> list[str]:
    raw = req.params.get(name)
    if raw is None:
        return []
    return list(raw) if isinstance(raw, list) else [raw]


def _operator(name: str, text: str) -> tuple[str, str]:
    op, sep, rest = text.partition(":")
    if sep and op in OPERATORS:
        return op, rest
    if sep and _OPERATOR_WORD.fullmatch(op):
        raise InputError(f"Unknown filter operator '{op}' in {name}={text[:100]} (one of "
                         f"{', '.join(OPERATORS)}; write {name}=eq:{text[:100]} for that value).")
    return "eq", text


def _one_filter(name: str, text: str, convert: Converter) -> dict[str, Any]:
    op, value = _operator(name, text)
    if op in ("in", "nin"):
        values = [convert(v) for v in value.split(",") if v != ""]
        if not values:
            raise InputError(f"Filter {name}={op}: needs a comma-separated list of values.")
        return {"op": op, "value": values}
    if op == "has":
        if convert is not as_text:
            raise InputError(f"Filter {name}=has: applies to text attributes; '{name}' is not one.")
        if value == "":
            raise InputError(f"Filter {name}=has: needs a text to look for.")
        return {"op": op, "value": value}
    if value.lower() in ("null", "none") and op in ("eq", "neq"):
        return {"op": op, "value": None}
    return {"op": op, "value": convert(value)}


def _comma_list(req: falcon.Request, name: str) -> list[str]:
    out: list[str] = []
    for raw in _values(req, name):
        out += [part.strip() for part in raw.split(",") if part.strip()]
    return out


def parse(req: falcon.Request, filters: dict[str, Converter], fields: tuple[str, ...],
          extra: tuple[str, ...] = (), default_sort: str = "created_at") -> ListQuery:
    """Parse a listing request.

    Args:
        filters: query parameters usable as filters (each a column of the table) -> value converter.
        fields: the resource's field names (``fields=`` is checked against them).
        extra: other query parameters the listing takes (``include_output``, ``namespace``...).

    Raises:
        InputError: an unknown parameter or field, or a bad value.
    """
    unknown = sorted(set(req.params) - set(filters) - set(PAGING) - set(extra) - {"nulls"})
    if unknown:
        raise InputError(f"Unknown query parameter(s): {', '.join(unknown)}.")
    query = ListQuery(marker=req.get_param("marker") or None)
    limit = req.get_param("limit")
    if limit not in (None, ""):
        query.limit = as_int(limit)
        if query.limit <= 0:
            raise InputError(f"Limit must be positive, not {query.limit}.")
    _parse_sort(req, query, default_sort)
    wanted = _comma_list(req, "fields")
    if wanted:
        missing = [f for f in wanted if f not in fields]
        if missing:
            raise InputError(f"Some fields do not exist [{', '.join(missing)}].")
        query.fields = wanted
    for name, convert in filters.items():
        conditions = [_one_filter(name, text, convert) for text in _values(req, name)]
        if conditions:
            query.filters[name] = conditions[0] if len(conditions) == 1 else conditions
    for name in _comma_list(req, "nulls"):
        if name not in filters:
            raise InputError(f"'nulls' names an unknown attribute: {name}.")
        query.filters[name] = {"op": "eq", "value": None}
    return query


def _parse_sort(req: falcon.Request, query: ListQuery, default_sort: str) -> None:
    query.sort_keys = _comma_list(req, "sort_keys") or [default_sort]
    query.sort_dirs = [d.lower() for d in _comma_list(req, "sort_dirs")] or ["asc"]
    for direction in query.sort_dirs:
        if direction not in ("asc", "desc"):
            raise InputError(f"Unknown sort direction {direction!r} (asc or desc).")
    if len(query.sort_dirs) < len(query.sort_keys):  # Mistral pads with asc
        query.sort_dirs += ["asc"] * (len(query.sort_keys) - len(query.sort_dirs))


def page(req: falcon.Request, collection: str, items: list[dict[str, Any]], query: ListQuery,
         last_id: str | None) -> dict[str, Any]:
    """``{collection: items}``, plus ``next`` (the URL of the following page) when the page is full."""
    body: dict[str, Any] = {collection: items}
    if query.limit is not None and last_id is not None and len(items) >= query.limit:
        params = [(k, v) for k, v in _flat_params(req) if k not in ("marker", "limit")]
        params += [("limit", str(query.limit)), ("marker", last_id)]
        body["next"] = f"{req.prefix}{req.path}?{urlencode(params)}"
    return body


def _flat_params(req: falcon.Request) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, value in req.params.items():
        for item in value if isinstance(value, list) else [value]:
            out.append((key, item))
    return out


# --- listings built in memory (system actions beside stored ones) ---------------------------


def _holds(actual: Any, cond: dict[str, Any]) -> bool:
    op, value = cond["op"], cond["value"]
    if op == "has":
        return isinstance(actual, str) and value in actual
    if op in ("in", "nin"):
        return (actual in value) == (op == "in")
    if op in ("eq", "neq"):
        return (actual == value) == (op == "eq")
    if actual is None or value is None:
        return False
    try:
        return {"gt": actual > value, "gte": actual >= value,
                "lt": actual < value, "lte": actual <= value}[op]
    except TypeError:
        return False


def _matches(raw: dict[str, Any], filters: dict[str, Any]) -> bool:
    for name, cond in filters.items():
        for one in cond if isinstance(cond, list) else [cond]:
            if not _holds(raw.get(name), one):
                return False
    return True


def _sort_key(raw: dict[str, Any], key: str) -> tuple[int, Any]:
    value = raw.get(key)
    return (0, "") if value is None else (1, value)


def in_memory(rows: list[dict[str, Any]], query: ListQuery) -> list[dict[str, Any]]:
    """Filter, sort and page ``rows`` (each holding the raw, comparable values incl. ``id``)."""
    unknown = [k for k in query.sort_keys if rows and k not in rows[0]]
    if unknown:
        raise InputError(f"Unknown sort key(s): {', '.join(unknown)}.")
    found = [r for r in rows if _matches(r, query.filters)]
    found.sort(key=lambda r: str(r.get("id")))
    for key, direction in reversed(list(zip(query.sort_keys, query.sort_dirs, strict=False))):
        found.sort(key=functools.partial(_sort_key, key=key), reverse=direction == "desc")
    if query.marker is not None:
        ids = [r.get("id") for r in found]
        if query.marker not in ids:
            raise NotFoundError("Marker", query.marker)
        found = found[ids.index(query.marker) + 1:]
    return found if query.limit is None else found[: query.limit]
