"""Reading request bodies and parameters: bounded reads, JSON objects, Mistral's JSON-typed fields."""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

import falcon

from levante.exceptions import InputError

#: Deepest nesting of arrays and objects a JSON request value may have (as definitions: see
#: ``levante.workflows.yamlsource.MAX_DEPTH``). Python's JSON parser, the engine and the views
#: recurse once or more per level, and Python's stack allows about 1,000 frames: a deeper value
#: is refused with 400 rather than stored and then impossible to render.
MAX_JSON_DEPTH = 200


#: A JSON string (in valid JSON every string ends, so a match never runs on past its end).
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
#: Keeps only brackets, as +1 (opening) and -1 (closing) once read as signed bytes.
_BRACKET_SIGNS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(valid_json: bytes) -> int:
    """How deep arrays and objects nest in a text that parsed as JSON (brackets inside strings
    do not count). Linear, and mostly in C: the strings go, the brackets become +1 and -1, and
    the deepest running sum is the depth."""
    signs = _JSON_STRING.sub(b"", valid_json).translate(_BRACKET_SIGNS, _NOT_BRACKETS)
    return max(accumulate(array("b", signs)), default=0)


def loads(data: str | bytes, what: str) -> Any:
    """Parse JSON from a request, refusing values nested deeper than :data:`MAX_JSON_DEPTH`.

    Python's parser guards its own recursion (RecursionError, well before the C stack is at
    risk); a text parsed whole is then measured, when it has brackets enough to be too deep.

    Raises:
        ValueError: not JSON. InputError: nested too deep (``what`` names the value).
    """
    try:
        value = json.loads(data)
    except RecursionError:
        raise _too_deep(what) from None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth(raw) > MAX_JSON_DEPTH:
        raise _too_deep(what)
    return value


def _too_deep(what: str) -> InputError:
    return InputError(f"{what} nests arrays and objects deeper than the limit of {MAX_JSON_DEPTH} levels.")


def raw_body(req: falcon.Request, limit: int) -> bytes:
    """The request body, at most ``limit`` bytes (413 beyond).

    A body without a length (``Transfer-Encoding: chunked``, as Node.js clients send) is read to
    its end when the server has decoded it and says so (``wsgi.input_terminated``: levante's own
    server and gunicorn do); falcon's ``bounded_stream`` would take it for empty. A client that
    stops sending gets 408.
    """
    if req.content_length is not None and req.content_length > limit:
        raise too_large(limit)
    stream = req.stream if req.content_length is None and req.env.get("wsgi.input_terminated") else req.bounded_stream
    try:
        data = stream.read(limit + 1)
    except TimeoutError:
        raise falcon.HTTPError(falcon.HTTP_408, title="Request Timeout",
                               description="The client stopped sending the request body.") from None
    if len(data) > limit:
        raise too_large(limit)
    return data


def too_large(limit: int) -> falcon.HTTPContentTooLarge:
    """The 413 error for a body over ``limit`` bytes."""
    return falcon.HTTPContentTooLarge(description=f"The request body is larger than {limit} bytes.")


def text_body(req: falcon.Request, limit: int) -> str:
    """A text body (a YAML definition), decoded as UTF-8."""
    data = raw_body(req, limit)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"The request body is not UTF-8 text: {exc}") from None
    if not text.strip():
        raise InputError("The request body is empty: a definition (YAML text) is expected.")
    return text


def json_body(req: falcon.Request, limit: int, optional: bool = False) -> dict[str, Any]:
    """A JSON object body (``optional``: an empty body is ``{}``)."""
    data = raw_body(req, limit)
    if not data.strip():
        if optional:
            return {}
        raise InputError("The request body is empty: a JSON object is expected.")
    try:
        body = loads(data, "The request body")
    except ValueError as exc:
        raise InputError(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InputError(f"The request body must be a JSON object, not {type_name(body)}.")
    return body


def type_name(value: Any) -> str:
    """JSON's name of a value's type."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def json_object(value: Any, name: str) -> dict[str, Any] | None:
    """A JSON-typed request field: an object, or a JSON string holding one (None stays None)."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = loads(value, f"'{name}'")
        except ValueError:
            raise InputError(f"'{name}' must be a JSON object or a string holding one; "
                             f"the string is not JSON: {value[:200]!r}") from None
    if not isinstance(value, dict):
        raise InputError(f"'{name}' must be a JSON object, not {type_name(value)}.")
    return value


def json_value(value: Any) -> Any:
    """Any JSON value; a string is parsed when it holds JSON, and kept as it is otherwise."""
    if isinstance(value, str):
        try:
            return loads(value, "A JSON string of the request")
        except ValueError:
            return value
    return value


def text_field(body: dict[str, Any], name: str, free_text: bool = False) -> str | None:
    """An optional string field of a body.

    Unless it is ``free_text`` (a description), it names or identifies something (a workflow, an
    environment, a state...), and a NUL character in it is refused: such a name could not be
    stored on PostgreSQL, nor shown or typed anywhere. Free text keeps it (stored escaped there).
    """
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise InputError(f"'{name}' must be a string, not {type_name(value)}.")
    if value is not None and not free_text:
        no_nul(value, f"'{name}'")
    return value


def no_nul(value: str, what: str) -> None:
    """400 when ``value`` holds a NUL character (``what`` says where it was)."""
    if "\x00" in value:
        raise InputError(f"NUL character not allowed in {what}: {value[:200]!r}.")


def bool_param(req: falcon.Request, name: str, default: bool = False) -> bool:
    """A boolean query parameter (``true``/``false``, ``1``/``0``, ``yes``/``no``)."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    lowered = raw.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise InputError(f"Query parameter '{name}' must be true or false, not {raw!r}.")


def check_keys(body: dict[str, Any], allowed: set[str], what: str) -> None:
    """400 when ``body`` holds keys outside ``allowed``."""
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InputError(f"Unknown attribute(s) for {what}: {', '.join(unknown)} "
                         f"(allowed: {', '.join(sorted(allowed))}).")
