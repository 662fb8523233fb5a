"""Walking values: detect, validate and evaluate the expressions inside them.

Only strings are expressions; dicts are walked through their values (keys are never evaluated),
lists and tuples through their items. A string holding Jinja2 delimiters is Jinja2 (Mistral tries
the ``jinja`` evaluator before ``yaql``), else one holding ``<% %>`` is YAQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from levante.exceptions import ExpressionError
from levante.workflows.expressions import jinja_lang, limits, scanner, yaql_lang
from levante.workflows.expressions.runtime import ExpressionRuntime, Scope, make_scope


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string under ``value`` with its path suffix ('' for ``value`` itself)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")


def has_expressions(value: Any) -> bool:
    """Whether any string under ``value`` (dict values, list items) holds an expression.

    Args:
        value: Any JSON-like value.

    Returns:
        True when a string contains ``<% %>``, ``{{ }}`` or ``{% %}``.
    """
    try:
        return any(scanner.language(text) is not None for _path, text in _strings(value))
    except RecursionError:
        return True


def _check_string(text: str) -> list[str]:
    """The problems of one string, as messages."""
    kind = scanner.language(text)
    if kind is None:
        return []
    if kind == scanner.MIXED:
        return [f"mixes YAQL and Jinja2 expressions: '{text}'"]
    if kind == scanner.JINJA:
        reason = jinja_lang.syntax_error(text)
        return [] if reason is None else [f"invalid Jinja2 expression '{text}': {reason}"]
    messages = []
    seen: set[str] = set()
    for segment in scanner.yaql_plan(text).segments:
        if isinstance(segment, str) or segment.text in seen:
            continue
        seen.add(segment.text)
        reason = yaql_lang.syntax_error(segment.source)
        if reason is not None:
            messages.append(f"invalid YAQL expression '{segment.text}': {reason}")
    return messages


def validate(value: Any) -> list[tuple[str, str]]:
    """Compile every expression under ``value`` without evaluating anything.

    Args:
        value: Any JSON-like value (dict values and list items are walked, keys are not).

    Returns:
        ``(path_suffix, message)`` pairs: the suffix is '' for ``value`` itself, else like
        ``.key``, ``[3]`` or ``.a.b[0]``; the message names the expression and the reason.
        Empty when everything compiles. Never raises.
    """
    problems: list[tuple[str, str]] = []
    try:
        for path, text in _strings(value):
            problems.extend((path, message) for message in _check_string(text))
    except RecursionError:
        problems.append(("", "the value is nested too deeply to be checked"))
    except Exception as error:  # noqa: BLE001 - validate never raises
        problems.append(("", f"the value cannot be checked: {type(error).__name__}: {error}"))
    return problems


def _evaluate(value: Any, scope: Scope) -> Any:
    if isinstance(value, str):
        return _evaluate_text(value, scope)
    if isinstance(value, Mapping):
        return {key: _evaluate(item, scope) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_evaluate(item, scope) for item in value]
    return value


def _evaluate_text(text: str, scope: Scope) -> Any:
    kind = scanner.language(text)
    if kind is None:
        return text
    if kind == scanner.YAQL:
        return yaql_lang.evaluate_text(text, scope)
    if kind == scanner.MIXED:
        # validate() rejects these at definition time; one built at run time fails the same way.
        raise ExpressionError(text, "mixes YAQL and Jinja2 expressions in one string")
    return jinja_lang.evaluate_text(text, scope)


def evaluate(
    value: Any,
    data: Mapping[str, Any],
    runtime: ExpressionRuntime | None = None,
) -> Any:
    """Evaluate every expression under ``value``.

    Args:
        value: Any JSON-like value. Strings are evaluated; dicts (values only) and lists or
            tuples are walked and rebuilt as new dicts and lists; other scalars are returned as is.
        data: The data context (``$`` in YAQL, ``_`` in Jinja2). An empty context is still used.
        runtime: What ``task()``, ``env()``... read; None answers from ``data`` alone
            (:class:`~levante.workflows.expressions.runtime.DataRuntime`).

    Returns:
        A new JSON-like value.

    Raises:
        ExpressionError: An expression fails to compile or to evaluate.
    """
    scope = make_scope(data, runtime)
    outermost = limits.begin()
    try:
        return _evaluate(value, scope)
    except RecursionError as error:
        raise ExpressionError(_preview(value), "the value is nested too deeply") from error
    except limits.ExpressionTimeout:  # landed outside a guarded piece (the last moment of one)
        raise ExpressionError(_preview(value), limits.timeout_message(limits.current().timeout)) from None
    finally:
        if outermost:
            limits.end()


def evaluate_string(
    text: str,
    data: Mapping[str, Any],
    runtime: ExpressionRuntime | None = None,
) -> Any:
    """Evaluate one string (see :func:`evaluate`).

    Args:
        text: The string; one without expressions is returned unchanged.
        data: The data context.
        runtime: The runtime, or None for a data-only one.

    Returns:
        The typed result of a lone expression, else a string.

    Raises:
        ExpressionError: An expression fails to compile or to evaluate.
    """
    if not isinstance(text, str):
        raise ExpressionError(_preview(text), "not a string")
    outermost = limits.begin()
    try:
        return _evaluate_text(text, make_scope(data, runtime))
    except limits.ExpressionTimeout:  # landed outside a guarded piece (the last moment of one)
        raise ExpressionError(_preview(text), limits.timeout_message(limits.current().timeout)) from None
    finally:
        if outermost:
            limits.end()


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
