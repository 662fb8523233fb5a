"""NUL characters on PostgreSQL: stored escaped, read back as they were.

SQLite stores any string. PostgreSQL refuses the character U+0000 in a TEXT or VARCHAR value
("text fields cannot contain NUL bytes") and the escape ``\\u0000`` in any string of a JSONB value
("unsupported Unicode escape sequence"), keys included. Data produced at run time (an HTTP answer,
``json_parse('"a\\u0000b"')``, a callback's output, an error message quoting such data) would then
make a transaction fail on PostgreSQL that commits on SQLite.

On PostgreSQL only, every string written to a JSON or text column is therefore escaped reversibly,
and only when it needs it: the escape character :data:`ESC` (U+10FFFD, the last private-use code
point, which text practically never holds) stands for itself when doubled, and ``ESC + "0"`` stands
for NUL. Reads undo it. A value without NUL and without ESC is stored exactly as before, so data
written before this module existed reads back unchanged.

Cost on the common path: JSON is serialized once as before and the text is searched for
``\\u0000`` and ESC (two substring searches, no walk of the value); a JSON text read is searched for
ESC. Only a value that holds one of them is walked and serialized again. Text columns check each
bound string for NUL and ESC, and each read string for ESC. SQLite gets none of it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from levante.db import jsoncodec

#: The escape character (a private-use code point; doubled it stands for itself).
ESC = "\U0010fffd"
_ESC_BYTES = ESC.encode("utf-8")
_ESC_FIRST_BYTE = _ESC_BYTES[:1]
#: What NUL becomes.
_ESCAPED_NUL = ESC + "0"
#: How json.dumps writes NUL (ensure_ascii or not: control characters are always escaped).
_JSON_NUL = "\\u0000"
_UNESCAPE = re.compile(ESC + "(.)", re.DOTALL)
_DECODER = json.JSONDecoder()


def needs_escape(text: str) -> bool:
    """Whether ``text`` holds NUL or the escape character."""
    return "\x00" in text or ESC in text


def escape_text(text: str) -> str:
    """``text`` with ESC doubled and NUL as ``ESC 0`` (no NUL left)."""
    return text.replace(ESC, ESC + ESC).replace("\x00", _ESCAPED_NUL)


def _unescape_one(match: re.Match[str]) -> str:
    char = match.group(1)
    if char == "0":
        return "\x00"
    if char == ESC:
        return ESC
    return match.group(0)  # not written by escape_text: kept as it is


def unescape_text(text: str) -> str:
    """The inverse of :func:`escape_text` (a lone ESC or ESC before another character is kept)."""
    return _UNESCAPE.sub(_unescape_one, text) if ESC in text else text


def escape_value(value: Any) -> Any:
    """A JSON-ready value with every string (keys too) passed through :func:`escape_text`."""
    if isinstance(value, str):
        return escape_text(value) if needs_escape(value) else value
    if isinstance(value, dict):
        return {escape_value(k) if isinstance(k, str) else k: escape_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [escape_value(v) for v in value]
    return value


def unescape_value(value: Any) -> Any:
    """The inverse of :func:`escape_value` on a parsed JSON value."""
    if isinstance(value, str):
        return unescape_text(value)
    if isinstance(value, dict):
        return {unescape_text(k): unescape_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unescape_value(v) for v in value]
    return value


def json_needs_escape(text: str) -> bool:
    """Whether a JSON text (as ``json.dumps`` writes it, ``ensure_ascii`` or not) may hold a NUL or
    the escape character (a false positive only costs the walk of :func:`escape_value`)."""
    return _JSON_NUL in text or ESC in text


def pg_json_loads(data: bytes | str) -> Any:
    """The JSON deserializer of a PostgreSQL engine (psycopg gives it the bytes of the value)."""
    value = jsoncodec.fast_loads(data)
    if value is jsoncodec.UNREAD:
        # PostgreSQL sends JSON as UTF-8 text: decoded as such, not sniffed as json.loads does.
        value = _DECODER.decode(data.decode("utf-8", "surrogatepass") if isinstance(data, bytes) else data)
    if isinstance(data, bytes):
        # The escape's first byte (F4, which starts only code points from U+100000 on) is found
        # by memchr, four times faster than the four-byte sequence.
        escaped = _ESC_FIRST_BYTE in data and _ESC_BYTES in data
    else:
        escaped = ESC in data
    return unescape_value(value) if escaped else value


class _NulSafe(TypeDecorator[str]):
    """Stores NUL on PostgreSQL, escaped (see the module docstring); a plain column elsewhere."""

    cache_ok = True

    # bind_processor/result_processor are replaced (not process_bind_param) so that other backends
    # get no per-value call at all.
    def bind_processor(self, dialect: Dialect) -> Any:
        inner = self.impl_instance.bind_processor(dialect)
        if dialect.name != "postgresql":
            return inner

        def process(value: Any) -> Any:
            if isinstance(value, str) and ("\x00" in value or ESC in value):
                value = escape_text(value)
            return inner(value) if inner is not None else value

        return process

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        inner = self.impl_instance.result_processor(dialect, coltype)
        if dialect.name != "postgresql":
            return inner

        def process(value: Any) -> Any:
            if inner is not None:
                value = inner(value)
            if isinstance(value, str) and ESC in value:
                value = unescape_text(value)
            return value

        return process


class NulSafeString(_NulSafe):
    """``VARCHAR(n)`` that keeps NUL on PostgreSQL."""

    impl = String
    cache_ok = True  # read from the class itself, not inherited


class NulSafeText(_NulSafe):
    """``TEXT`` that keeps NUL on PostgreSQL."""

    impl = Text
    cache_ok = True
