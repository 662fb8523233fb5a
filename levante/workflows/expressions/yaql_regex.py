"""YAQL's regular-expression functions, run with a time limit.

yaql's own ``regex()``, ``matches``, ``=~``, ``search``... use Python's ``re``, whose backtracking
cannot be interrupted: ``regex('(a+)+$').matches('aaaa...b')`` would hold the engine for minutes.
These have the same names, signatures and results, but compile with the ``regex`` module and pass
each match the time left to the evaluation (:func:`levante.workflows.expressions.limits.time_left`);
a match that runs out raises ``TimeoutError``, which the YAQL module reports as the time limit.
"""

from __future__ import annotations

import collections.abc  # noqa: F401 - must be imported before yaql on Python 3.11
from typing import Any

import regex as _re
from yaql.language import specs, yaqltypes

from levante.workflows.expressions import limits

PATTERN_TYPE = type(_re.compile("."))


def _timeout() -> float | None:
    left = limits.time_left()
    return None if left is None else max(left, 0.001)


def _search(pattern: Any, string: str) -> Any:
    if not isinstance(pattern, PATTERN_TYPE):
        pattern = _re.compile(pattern, _re.VERSION0)
    return pattern.search(string, timeout=_timeout())


@specs.parameter("pattern", yaqltypes.String())
def regex(pattern: str, ignore_case: bool = False, multi_line: bool = False, dot_all: bool = False) -> Any:
    """``regex(pattern, ignoreCase => false, multiLine => false, dotAll => false)``."""
    flags = _re.UNICODE | _re.VERSION0
    if ignore_case:
        flags |= _re.IGNORECASE
    if multi_line:
        flags |= _re.MULTILINE
    if dot_all:
        flags |= _re.DOTALL
    return _re.compile(pattern, flags)


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.method
def matches(regexp: Any, string: str) -> bool:
    """``regexp.matches(string)``."""
    return _search(regexp, string) is not None


@specs.parameter("string", yaqltypes.String())
@specs.parameter("regexp", yaqltypes.String())
@specs.method
@specs.name("matches")
def matches_string(string: str, regexp: str) -> bool:
    """``string.matches(regexp)``."""
    return _search(regexp, string) is not None


def _match_operator(name: str, pattern_type: Any, negated: bool) -> Any:
    """``string =~ pattern`` (``!~`` when ``negated``), ``pattern`` of ``pattern_type``: a compiled
    ``regex(...)`` or a string."""

    @specs.parameter("pattern", pattern_type)
    @specs.parameter("string", yaqltypes.String())
    @specs.name(name)
    def operator(string: str, pattern: Any) -> bool:
        return (_search(pattern, string) is not None) != negated

    return operator


matches_operator_regex = _match_operator("#operator_=~", PATTERN_TYPE, negated=False)
matches_operator_string = _match_operator("#operator_=~", yaqltypes.String(), negated=False)
not_matches_operator_regex = _match_operator("#operator_!~", PATTERN_TYPE, negated=True)
not_matches_operator_string = _match_operator("#operator_!~", yaqltypes.String(), negated=True)


def _publish(context: Any, match: Any) -> None:
    """``$1`` is the whole match, ``$2``... the groups, ``$name`` the named groups."""
    context["$1"] = {"value": match.group(), "start": match.start(0), "end": match.end(0)}
    for number in range(1, len(match.groups()) + 1):
        context[f"${number + 1}"] = {"value": match.group(number), "start": match.start(number),
                                     "end": match.end(number)}
    for name in match.groupdict():
        context[f"${name}"] = {"value": match.group(name), "start": match.start(name), "end": match.end(name)}


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("selector", yaqltypes.Lambda(with_context=True))
@specs.method
def search(context: Any, regexp: Any, string: str, selector: Any = None) -> Any:
    """``regexp.search(string, selector => null)``: the first match (or the selector of it)."""
    found = regexp.search(string, timeout=_timeout())
    if found is None:
        return None
    if selector is None:
        return found.group()
    child = context.create_child_context()
    _publish(child, found)
    return selector(child)


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("selector", yaqltypes.Lambda(with_context=True))
@specs.method
@specs.name("searchAll")
def search_all(context: Any, regexp: Any, string: str, selector: Any = None) -> Any:
    """``regexp.searchAll(string, selector => null)``: every match (or the selector of each)."""
    out = []
    for found in regexp.finditer(string, timeout=_timeout()):
        if selector is None:
            out.append(found.group())
        else:
            child = context.create_child_context()
            _publish(child, found)
            out.append(selector(child))
    return out


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("max_split", int)
@specs.method
def split(regexp: Any, string: str, max_split: int = 0) -> list[str]:
    """``regexp.split(string, maxSplit => 0)``."""
    return regexp.split(string, max_split, timeout=_timeout())


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("max_split", int)
@specs.method
@specs.name("split")
def split_string(string: str, regexp: Any, max_split: int = 0) -> list[str]:
    """``string.split(regexp, maxSplit => 0)``."""
    return regexp.split(string, max_split, timeout=_timeout())


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("repl", yaqltypes.String())
@specs.parameter("count", int)
@specs.method
def replace(regexp: Any, string: str, repl: str, count: int = 0) -> str:
    """``regexp.replace(string, repl, count => 0)``."""
    return regexp.sub(repl, string, count, timeout=_timeout())


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("repl", yaqltypes.String())
@specs.parameter("count", int)
@specs.method
@specs.name("replace")
def replace_string(string: str, regexp: Any, repl: str, count: int = 0) -> str:
    """``string.replace(regexp, repl, count => 0)``."""
    return regexp.sub(repl, string, count, timeout=_timeout())


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("repl", yaqltypes.Lambda(with_context=True))
@specs.parameter("count", int)
@specs.method
@specs.name("replaceBy")
def replace_by(context: Any, regexp: Any, string: str, repl: Any, count: int = 0) -> str:
    """``regexp.replaceBy(string, repl, count => 0)``: ``repl`` sees the match as ``$1``..."""
    def substitute(found: Any) -> str:
        child = context.create_child_context()
        _publish(child, found)
        return repl(child)
    return regexp.sub(substitute, string, count, timeout=_timeout())


@specs.parameter("regexp", PATTERN_TYPE)
@specs.parameter("string", yaqltypes.String())
@specs.parameter("repl", yaqltypes.Lambda(with_context=True))
@specs.parameter("count", int)
@specs.method
@specs.name("replaceBy")
def replace_by_string(context: Any, string: str, regexp: Any, repl: Any, count: int = 0) -> str:
    """``string.replaceBy(regexp, repl, count => 0)``."""
    return replace_by(context, regexp, string, repl, count)


@specs.parameter("string", yaqltypes.String())
@specs.name("escapeRegex")
def escape_regex(string: str) -> str:
    """``escapeRegex(string)``."""
    return _re.escape(string)


@specs.name("isRegex")
def is_regex(value: Any) -> bool:
    """``isRegex(value)``."""
    return isinstance(value, PATTERN_TYPE)


FUNCTIONS = (regex, matches, matches_string, matches_operator_regex, matches_operator_string,
             not_matches_operator_regex, not_matches_operator_string, search, search_all, split,
             split_string, replace, replace_string, replace_by, replace_by_string, escape_regex, is_regex)
