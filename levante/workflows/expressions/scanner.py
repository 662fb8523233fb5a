"""Finding expressions in strings: which language, and where the YAQL pieces are."""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

#: One YAQL expression with its delimiters (``<% ... %>``); multi-line allowed.
YAQL_PATTERN = re.compile(r"<%(.*?)%>", re.DOTALL)
#: A Jinja2 ``{{ ... }}`` expression.
JINJA_EXPR_PATTERN = re.compile(r"{{(.*?)}}", re.DOTALL)
#: A Jinja2 ``{% ... %}`` statement.
JINJA_BLOCK_PATTERN = re.compile(r"{%(.*?)%}", re.DOTALL)

YAQL = "yaql"
JINJA = "jinja"
MIXED = "mixed"

#: Strings longer than this are scanned each time rather than kept in the caches.
CACHE_MAX_TEXT = 8192


class YaqlPiece(NamedTuple):
    """One ``<% %>`` occurrence."""

    #: The occurrence with its delimiters, as written.
    text: str
    #: The YAQL source between the delimiters.
    source: str


class YaqlPlan(NamedTuple):
    """How to evaluate a YAQL string."""

    #: The piece when the whole (stripped) string is exactly one expression, else None.
    whole: YaqlPiece | None
    #: Literal text and pieces in order (for interpolation).
    segments: tuple[str | YaqlPiece, ...]


def may_contain(text: str) -> bool:
    """Cheap pre-check: does ``text`` contain an opening delimiter at all?"""
    return "<%" in text or "{{" in text or "{%" in text


def _language(text: str) -> str | None:
    jinja = JINJA_EXPR_PATTERN.search(text) is not None or JINJA_BLOCK_PATTERN.search(text) is not None
    yaql = YAQL_PATTERN.search(text) is not None
    if jinja and yaql:
        return MIXED
    if jinja:
        return JINJA
    return YAQL if yaql else None


_cached_language = functools.lru_cache(maxsize=4096)(_language)


def language(text: str) -> str | None:
    """The expression language of ``text``.

    Returns:
        ``"yaql"``, ``"jinja"``, ``"mixed"`` (both kinds present) or None (no expression).
    """
    if not may_contain(text):
        return None
    if len(text) > CACHE_MAX_TEXT:
        return _language(text)
    return _cached_language(text)


def _yaql_plan(text: str) -> YaqlPlan:
    segments: list[str | YaqlPiece] = []
    position = 0
    for match in YAQL_PATTERN.finditer(text):
        if match.start() > position:
            segments.append(text[position:match.start()])
        segments.append(YaqlPiece(match.group(0), match.group(1)))
        position = match.end()
    if position < len(text):
        segments.append(text[position:])
    pieces = [s for s in segments if isinstance(s, YaqlPiece)]
    whole = None
    if len(pieces) == 1 and all(isinstance(s, YaqlPiece) or not s.strip() for s in segments):
        whole = pieces[0]
    return YaqlPlan(whole, tuple(segments))


_cached_yaql_plan = functools.lru_cache(maxsize=4096)(_yaql_plan)


def yaql_plan(text: str) -> YaqlPlan:
    """Split a YAQL string into literal text and ``<% %>`` pieces (cached by text)."""
    if len(text) > CACHE_MAX_TEXT:
        return _yaql_plan(text)
    return _cached_yaql_plan(text)
