"""The one-line parameter syntax: ``std.echo output="Hi" delay=1`` and ``fail(msg='x')``.

It appears in ``action:``, ``workflow:``, ad-hoc ``base:``, engine commands in transitions and the
one-line ``retry:``. The first token is a name (or a whole expression giving one); each following
``key=value`` is read as Mistral reads it:

- ``"..."`` or ``'...'``: the text between the quotes;
- a whole ``<% %>`` or ``{{ }}`` expression: kept as text, evaluated later;
- ``[...]``: everything up to the last ``]`` of the line, as a JSON list (as text when that is not
  valid JSON);
- ``true``, ``false``, ``null`` or unsigned digits: JSON (only the leading digits of ``0.5``).

Mistral silently drops every other pair (``method=POST``, ``maintenance=False``, ``x=-1``, a JSON
map). So does Levante, so that a definition behaves as it does there, but each such pair, and each
value read other than as written, gives a note that the validator reports as a warning.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

_NAME = re.compile(r"[^\s(=]+")
_KEY = re.compile(r"([A-Za-z_][-\w]*)=")
_SCALAR = re.compile(r"true|false|null|\d+")
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")
_OPENERS = {"<%": "%>", "{{": "}}"}
#: What ends a bare value: whitespace, or the comma between ``f(a=1, b=2)`` parameters.
_WORD = re.compile(r"[^\s,]*")


class InlineSyntaxError(ValueError):
    """A one-line call has no name; the message says so."""


@dataclass(frozen=True)
class InlineNote:
    """Something ignored, or read other than as written."""

    #: Offset in the parsed text of the pair (or word) concerned.
    at: int
    #: One sentence naming it.
    message: str


@dataclass(frozen=True)
class InlineCall:
    """A name with its inline parameters."""

    name: str
    params: dict[str, Any]
    #: What was ignored or read other than as written (for warnings).
    notes: tuple[InlineNote, ...] = field(default=())


class _Ignored:
    """Marks a pair that Mistral does not read."""


_IGNORED = _Ignored()


def parse(text: str) -> InlineCall:
    """Split ``name k=v ...`` (or ``name(k=v, ...)``) into a name and parameters.

    Raises:
        InlineSyntaxError: the text has no name.
    """
    if is_bare(text):  # the usual case
        return InlineCall(text, {})
    return _parse(text)


def is_bare(text: str) -> bool:
    """Whether ``text`` is a name alone (``std.noop``, ``task2``): :func:`parse` reads it as that
    name without parameters or notes."""
    return _NAME.fullmatch(text) is not None and not text.startswith(("<%", "{{"))


def _parse(text: str) -> InlineCall:
    stripped = text.strip()
    name, rest = _name(stripped)
    base = len(text) - len(text.lstrip()) + len(name)
    notes: list[InlineNote] = []
    if rest.startswith("("):
        if rest.rstrip().endswith(")"):
            rest = rest.rstrip()[1:-1]
        else:
            notes.append(InlineNote(base, f"'{name}(' is not closed by ')'"))
            rest = rest[1:]
        base += 1
    params = _params(rest, base, notes)
    return InlineCall(name, params, tuple(notes))


def _name(text: str) -> tuple[str, str]:
    for opener, closer in _OPENERS.items():
        if text.startswith(opener):
            # A dynamic action or workflow name: the whole first expression.
            end = text.find(closer)
            if end < 0:
                return text, ""
            return text[: end + 2], text[end + 2:]
    match = _NAME.match(text)
    if not match:
        raise InlineSyntaxError("no name given")
    return match.group(0), text[match.end():]


def _params(text: str, base: int, notes: list[InlineNote]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    pos = 0
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        if pos >= len(text):
            return params
        match = _KEY.match(text, pos)
        if not match:
            word = _word(text, pos)
            notes.append(InlineNote(base + pos, f"'{word}' ignored: it is not of the form key=value"))
            pos += len(word)
            continue
        key, start = match.group(1), pos
        value, pos, note = _value(text, match.end(), key)
        if note:
            notes.append(InlineNote(base + start, note))
        if value is _IGNORED:
            continue
        if key in params:
            notes.append(InlineNote(base + start, f"parameter '{key}' is given twice: the last value is used"))
        params[key] = value


def _word(text: str, pos: int) -> str:
    word = _WORD.match(text, pos)
    return word.group(0) if word and word.group(0) else text[pos]


def _value(text: str, pos: int, key: str) -> tuple[Any, int, str | None]:
    """Read the value at ``pos``: (value or _IGNORED, position after it, note or None)."""
    rest = text[pos:]
    if not rest or rest[0].isspace() or rest[0] == ",":
        return _IGNORED, pos, f"parameter '{key}' ignored: it has no value (write the value right after '=')"
    head = rest[:2]
    if head in _OPENERS:
        end = rest.find(_OPENERS[head])
        if end >= 0:
            return rest[: end + 2], pos + end + 2, None
        return _unclosed(text, pos, key, _OPENERS[head])
    if head == "{%":
        end = rest.split("\n", 1)[0].rfind("%}")
        shown = rest[: end + 2] if end >= 0 else _word(text, pos)
        return _IGNORED, pos + len(shown), (
            f"parameter '{key}' ignored: its value {shown} is a Jinja statement, which an inline "
            f"parameter cannot hold (set {key} under input:)")
    if rest[0] in "\"'":
        end = rest.find(rest[0], 1)
        if end >= 0:
            return rest[1:end], pos + end + 1, None
        return _unclosed(text, pos, key, rest[0])
    if rest[0] == "[":
        return _list(text, pos, key)
    if rest[0] == "{":
        return _map(text, pos, key)
    return _scalar(text, pos, key)


def _unclosed(text: str, pos: int, key: str, closer: str) -> tuple[Any, int, str]:
    # Only the first word is skipped: Mistral still reads the pairs that follow.
    shown = text[pos:].split("\n", 1)[0].rstrip()
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return _IGNORED, pos + len(_word(text, pos)), (
        f"parameter '{key}' ignored: its value {shown} is not closed by {closer}")


def _list(text: str, pos: int, key: str) -> tuple[Any, int, str | None]:
    # Mistral takes everything up to the last ']' of the line, then reads it as JSON, or keeps the text.
    rest = text[pos:]
    line = rest.split("\n", 1)[0]
    last = line.rfind("]")
    if last < 0:
        return _unclosed(text, pos, key, "]")
    candidate = line[: last + 1]
    try:
        return json.loads(candidate), pos + last + 1, None
    except ValueError:
        pass
    try:
        _value, length = json.JSONDecoder().raw_decode(rest)
    except ValueError:
        reason = "it is not a JSON list"
    else:
        reason = (f"Mistral reads everything up to the last ']' of the line, not the list "
                  f"{rest[:length]} alone (set {key} under input:)")
    return candidate, pos + last + 1, f"parameter '{key}' read as the text {candidate!r}: {reason}"


def _map(text: str, pos: int, key: str) -> tuple[Any, int, str]:
    try:
        _value, length = json.JSONDecoder().raw_decode(text[pos:])
    except ValueError:
        length = len(_word(text, pos))
    shown = text[pos:pos + length]
    return _IGNORED, pos + length, (f"parameter '{key}' ignored: its value {shown} is a JSON map, which an "
                                    f"inline parameter cannot hold (set {key} under input:)")


def _scalar(text: str, pos: int, key: str) -> tuple[Any, int, str | None]:
    word = _word(text, pos)
    match = _SCALAR.match(word)
    if match and match.end() == len(word):
        return json.loads(word), pos + len(word), None
    if match:
        token = match.group(0)
        return json.loads(token), pos + len(word), (
            f"parameter '{key}' read as {token}: only the leading {token} of {word} is read "
            f"(write {key}={_suggestion(word)})")
    return _IGNORED, pos + len(word), f"parameter '{key}' ignored: {_why(key, word)}"


def _suggestion(word: str) -> str:
    if _NUMBER.fullmatch(word):
        return f"<% {word} %>"
    if word.lower() in ("true", "false", "null") or word == "None":
        return "null" if word == "None" else word.lower()
    quote = "'" if '"' in word else '"'
    return f"{quote}{word}{quote}"


def _why(key: str, word: str) -> str:
    fix = f"(write {key}={_suggestion(word)})"
    if word.lower() in ("true", "false", "null") or word == "None":
        return f"its value {word} is not read: only lowercase true, false and null are {fix}"
    if _NUMBER.fullmatch(word):
        return f"its value {word} is not read: only unsigned whole numbers are {fix}"
    return f"its value {word} is not quoted {fix}"
