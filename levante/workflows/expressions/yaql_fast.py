"""A fast path for the simplest YAQL expressions.

A yaql function call costs tens of microseconds (overload resolution), so even ``$.a + 1`` takes
over 100 us through the engine. Most workflow expressions are of this kind: ``$`` paths, literals,
arithmetic, comparisons and boolean logic, and ``task()`` / ``task(name)`` followed by a path (as in
``publish: {x: <% task().result.x %>}``). For those, the parsed yaql tree is compiled once into
Python closures that compute the same result directly.

The fast path is purely an optimisation and never decides an outcome it is unsure of: any node
outside the subset makes the whole expression ineligible, and at run time any operand type
outside the proven-equivalent cases (or any exception) raises :class:`Fallback`, after which the
caller evaluates the expression with yaql itself (which then gives the result or the error).
"""

from __future__ import annotations

import collections.abc  # noqa: F401 - must be imported before yaql on Python 3.11
import operator
from collections.abc import Mapping
from typing import Any, Callable

from yaql.language import expressions as nodes

#: A compiled node: the evaluation scope (``levante.workflows.expressions.runtime.Scope``: its
#: ``data`` is ``$``, its ``runtime`` answers ``task()``) in, value out (may raise Fallback).
Thunk = Callable[[Any], Any]

_SCALAR_CONSTANTS = (str, int, float, bool, type(None))
_EQUATABLE = (str, int, float, bool, type(None))


class Fallback(Exception):
    """The fast path cannot vouch for the result: evaluate with yaql."""


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _arithmetic(op: Callable[[Any, Any], Any], strings: bool) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if _number(left) and _number(right):
            return op(left, right)
        if strings and type(left) is str and type(right) is str:
            return op(left, right)
        raise Fallback

    return apply


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if (_number(left) and _number(right)) or (type(left) is str and type(right) is str):
            return op(left, right)
        raise Fallback

    return apply


def _equality(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        if isinstance(left, _EQUATABLE) and isinstance(right, _EQUATABLE):
            return op(left, right)
        raise Fallback

    return apply


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "#operator_+": _arithmetic(operator.add, strings=True),
    "#operator_-": _arithmetic(operator.sub, strings=False),
    "#operator_*": _arithmetic(operator.mul, strings=False),
    "#operator_<": _ordering(operator.lt),
    "#operator_<=": _ordering(operator.le),
    "#operator_>": _ordering(operator.gt),
    "#operator_>=": _ordering(operator.ge),
    "*equal": _equality(operator.eq),
    "*not_equal": _equality(operator.ne),
}


def _index(container: Any, key: Any) -> Any:
    if isinstance(container, Mapping):
        if type(key) is str and key in container:
            return container[key]
    elif isinstance(container, (list, tuple)):
        if type(key) is int and -len(container) <= key < len(container):
            return container[key]
    raise Fallback


def _attribute(key: str) -> Callable[[Any], Any]:
    def get(container: Any) -> Any:
        if isinstance(container, Mapping) and key in container:
            return container[key]
        raise Fallback  # a missing key is an error in yaql: let yaql raise it

    return get


def _compile_binary(node: Any) -> Thunk | None:
    left_node, right_node = node.args
    if node.name == "#operator_.":
        if type(right_node) is not nodes.KeywordConstant:
            return None
        owner = _compile(left_node)
        if owner is None:
            return None
        get = _attribute(right_node.value)
        return lambda scope: get(owner(scope))
    left, right = _compile(left_node), _compile(right_node)
    if left is None or right is None:
        return None
    if node.name == "#operator_and":
        return lambda scope: left(scope) and right(scope)
    if node.name == "#operator_or":
        return lambda scope: left(scope) or right(scope)
    apply = _BINARY.get(node.name)
    if apply is None:
        return None
    return lambda scope: apply(left(scope), right(scope))


def _compile_unary(node: Any) -> Thunk | None:
    operand = _compile(node.args[0])
    if operand is None:
        return None
    if node.name == "#unary_operator_not":
        return lambda scope: not operand(scope)
    if node.name == "#unary_operator_-":

        def negate(scope: Any) -> Any:
            value = operand(scope)
            if _number(value):
                return -value
            raise Fallback

        return negate
    return None


def _compile(node: Any) -> Thunk | None:
    kind = type(node)
    if kind is nodes.Constant or kind is nodes.KeywordConstant:
        value = node.value  # a bare identifier outside ``x.name`` is a string
        return (lambda scope: value) if isinstance(value, _SCALAR_CONSTANTS) else None
    if kind is nodes.Wrap:
        return _compile(node.expr)
    if kind is nodes.GetContextValue:
        name = node.args[0]
        if type(name) is nodes.Constant and name.value == "$":
            return lambda scope: scope.data
        return None
    if kind is nodes.Function:
        return _compile_function(node)
    if kind is nodes.BinaryOperator and len(node.args) == 2:
        return _compile_binary(node)
    if kind is nodes.UnaryOperator and len(node.args) == 1:
        return _compile_unary(node)
    if kind is nodes.IndexExpression and len(node.args) == 2:
        return _compile_index(node)
    return None


def _compile_function(node: Any) -> Thunk | None:
    """``task()`` and ``task(name)`` with a literal name: the runtime's task dict."""
    if node.name != "task" or len(node.args) > 1:
        return None
    if not node.args:
        return lambda scope: scope.runtime.task(None)
    arg = node.args[0]
    if type(arg) not in (nodes.Constant, nodes.KeywordConstant) or type(arg.value) is not str:
        return None
    name = arg.value
    return lambda scope: scope.runtime.task(name)


def _compile_index(node: Any) -> Thunk | None:
    container, key = _compile(node.args[0]), _compile(node.args[1])
    if container is None or key is None:
        return None
    return lambda scope: _index(container(scope), key(scope))


def compile_statement(statement: Any) -> Thunk | None:
    """Compile a parsed yaql statement, or None when it is outside the fast subset.

    Args:
        statement: What the yaql engine returns for an expression.

    Returns:
        A function of the evaluation scope (its raw, unconverted data context and its runtime)
        that returns the raw result or raises :class:`Fallback`.
    """
    try:
        return _compile(statement.expression)
    except Exception:  # noqa: BLE001 - an unexpected tree shape just means "not eligible"
        return None
