"""The one-line parameter syntax: ``std.echo output="Hi" delay=1`` and ``fail(msg='x')``.

It appears in ``action:``, ``workflow:``, ad-hoc ``base:``, engine commands in transitions and the
one-line ``retry:``. The first token is a name; each following ``key=value`` is a quoted string, a
whole ``<% %>`` or ``{{ }}`` expression (kept as text, to be evaluated later), a JSON list or map,
or a JSON scalar (``true``, ``false``, ``null``, a number). Unlike Mistral, which silently drops a
value it cannot read, a bad value is an error that names it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"\s*([^\s(=]+)")
_KEY = re.compile(r"\s*([A-Za-z_][-\w]*)=")
_SCALAR = re.compile(r"(true|false|null|-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?=[\s,)]|$)")
_CLOSERS = {"<%": "%>", "{{": "}}", "{%": "%}"}


class InlineSyntaxError(ValueError):
    """A one-line parameter string could not be read; the message names the part at fault."""


@dataclass(frozen=True)
class InlineCall:
    """A name with its inline parameters."""

    name: str
    params: dict[str, Any]


def parse(text: str) -> InlineCall:
    """Split ``name k=v ...`` (or ``name(k=v, ...)``) into a name and parameters.

    Raises:
        InlineSyntaxError: the text has no name, or a parameter cannot be read.
    """
    stripped = text.strip()
    if stripped.startswith(("<%", "{{")):
        # The whole value is an expression (a dynamic action or workflow name).
        return InlineCall(stripped, {})
    match = _NAME.match(stripped)
    if not match:
        raise InlineSyntaxError("no name given")
    name = match.group(1)
    rest = stripped[match.end():]
    if rest.startswith("("):
        if not rest.rstrip().endswith(")"):
            raise InlineSyntaxError(f"'{name}(' is not closed by ')'")
        rest = rest.rstrip()[1:-1]
    return InlineCall(name, _params(rest))


def _params(text: str) -> dict[str, Any]:
    params: dict[str, Any] = {}
    pos = 0
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos >= len(text):
            return params
        match = _KEY.match(text, pos)
        if not match:
            word = text[pos:].split()[0]
            raise InlineSyntaxError(f"'{word}' is not of the form key=value")
        key = match.group(1)
        value, pos = _value(text, match.end(), key)
        if key in params:
            raise InlineSyntaxError(f"parameter '{key}' is given twice")
        params[key] = value


def _value(text: str, pos: int, key: str) -> tuple[Any, int]:
    rest = text[pos:]
    if not rest or rest[0].isspace():
        raise InlineSyntaxError(f"parameter '{key}' has no value")
    head = rest[:2]
    if head in _CLOSERS:
        end = rest.find(_CLOSERS[head])
        if end < 0:
            raise InlineSyntaxError(f"expression in '{key}=' is not closed by '{_CLOSERS[head]}'")
        return rest[: end + 2], pos + end + 2
    if rest[0] in "\"'":
        end = rest.find(rest[0], 1)
        if end < 0:
            raise InlineSyntaxError(f"string in '{key}=' is not closed by {rest[0]}")
        return rest[1:end], pos + end + 1
    if rest[0] in "[{":
        return _json_value(rest, pos, key)
    match = _SCALAR.match(rest)
    if match:
        return json.loads(match.group(1)), pos + match.end()
    word = re.split(r"[\s,]", rest, maxsplit=1)[0]
    raise InlineSyntaxError(
        f"value of '{key}' ({word}) must be quoted, a number, true, false, null, a JSON list or map, "
        "or an expression"
    )


def _json_value(rest: str, pos: int, key: str) -> tuple[Any, int]:
    decoder = json.JSONDecoder()
    try:
        value, end = decoder.raw_decode(rest)
    except json.JSONDecodeError as exc:
        raise InlineSyntaxError(f"value of '{key}' is not valid JSON: {exc.msg}") from None
    return value, pos + end
