"""YAQL: ``<% expr %>`` strings.

The yaql engine and its root context (standard library plus Levante's built-ins) are built once
per process; parsed expressions are cached by text. Each evaluation runs in a child context that
carries the evaluation's :class:`~levante.workflows.expressions.runtime.Scope`.
"""

from __future__ import annotations

import collections.abc  # noqa: F401 - must be imported before yaql on Python 3.11
import functools
import inspect
import threading
from typing import Any, Callable, NamedTuple

import yaql
from yaql.language import exceptions as yaql_exceptions
from yaql.language import factory, specs, utils, yaqltypes

from levante.exceptions import ExpressionError
from levante.workflows.expressions import functions, limits, yaql_fast, yaql_regex, yaql_tables
from levante.workflows.expressions.runtime import Scope
from levante.workflows.expressions.scanner import YaqlPiece, yaql_plan

#: Engine options (Mistral's ``[yaql]`` defaults; ``yaql.memoryQuota`` is set from
#: :func:`levante.workflows.expressions.limits.current`). Output conversion itself is done by
#: :func:`_finalize`, which keeps sets as sets like ``convertSetsToLists=False`` does.
ENGINE_OPTIONS: dict[str, Any] = {
    "yaql.limitIterators": -1,
    "yaql.memoryQuota": -1,
    "yaql.convertTuplesToLists": True,
    "yaql.convertSetsToLists": False,
    "yaql.iterableDicts": False,
    "yaql.convertOutputData": True,
}

#: Context key of the evaluation scope ('$' is prefixed by yaql; the space keeps it unreachable
#: from expressions).
_SCOPE_KEY = "$levante scope"

#: Whether simple expressions skip the yaql engine (see ``yaql_fast``); tests turn it off to
#: compare both paths.
FAST_PATH = True

_PARSE_LOCK = threading.Lock()
_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None)})


@functools.cache
def _engine() -> Any:
    """The process-wide yaql engine (``=>`` keyword arguments, no delegates)."""
    yaql_factory = factory.YaqlFactory(keyword_operator="=>", allow_delegates=False)
    memory = limits.current().memory
    with yaql_tables.building():  # the parser tables shipped, not computed (0.13-0.25 s)
        return yaql_factory.create(options={**ENGINE_OPTIONS,
                                            "yaql.memoryQuota": memory if memory > 0 else -1})


def _limits_changed(new: limits.ExpressionLimits) -> None:
    """Parsed statements hold their engine (and its memory quota): start afresh if it changed."""
    quota = new.memory if new.memory > 0 else -1
    if _engine.cache_info().currsize and _engine().options.get("yaql.memoryQuota") == quota:
        return
    with _PARSE_LOCK:
        _engine.cache_clear()
        _prepare.cache_clear()


def _scope_of(context: Any) -> Scope:
    return context[_SCOPE_KEY]


def _bind(impl: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a built-in for yaql: inject the scope, convert the result to yaql's input form.

    The wrapper advertises ``(context, <impl's parameters after scope>)`` so that yaql maps
    positional and ``=>`` keyword arguments by the documented parameter names.
    """

    def call(context: Any, *args: Any, **kwargs: Any) -> Any:
        with limits.shielded():  # the runtime may be reading the database: never interrupted there
            result = impl(_scope_of(context), *args, **kwargs)
        return utils.convert_input_data(result)

    params = list(inspect.signature(impl).parameters.values())[1:]
    context_param = inspect.Parameter("context", inspect.Parameter.POSITIONAL_OR_KEYWORD)
    call.__signature__ = inspect.Signature([context_param, *params])  # type: ignore[attr-defined]
    call.__name__ = impl.__name__
    call.__doc__ = impl.__doc__
    return call


@functools.cache
def _root_context() -> Any:
    """The process-wide root context: yaql's standard library plus the built-ins."""
    # yaql's regex functions use ``re``, which cannot be stopped: ours (same names) take a timeout.
    context = yaql.create_context(delegates=False, regex=False).create_child_context()
    context.register_function(_finalize)
    context.register_function(_pow)
    for function in yaql_regex.FUNCTIONS:
        context.register_function(function)
    for name, impl in functions.BUILTINS:
        definition = specs.get_function_definition(_bind(impl), name=name, convention=None)
        context.register_function(definition)
    return context


@specs.parameter("a", yaqltypes.Number())
@specs.parameter("b", yaqltypes.Number())
@specs.parameter("c", yaqltypes.Number(nullable=True))
@specs.name("pow")
def _pow(a: Any, b: Any, c: Any = None) -> Any:
    """``pow(a, b, c => null)`` as yaql's, refusing an integer power too large to build."""
    if c is None and isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        limits.check_size(b * a.bit_length() / 8, "number")
    return pow(a, b, c)


class _Prepared(NamedTuple):
    #: The parsed yaql statement.
    statement: Any
    #: Its fast-path compilation, or None when outside the fast subset.
    fast: yaql_fast.Thunk | None


@functools.lru_cache(maxsize=4096)
def _prepare(source: str) -> _Prepared:
    # The ply lexer and parser keep state: one parse at a time.
    with _PARSE_LOCK:
        statement = _engine()(source)
    return _Prepared(statement, yaql_fast.compile_statement(statement))


def _output(obj: Any) -> Any:
    """yaql's output conversion, except that dict views keep their order.

    Maps become dicts, tuples and lists become lists, sets stay sets, other iterables are
    drained into lists (as ``convert_output_data`` does with Mistral's options); the views
    ``keys()``, ``values()`` and ``items()`` return become ordered lists instead of sets.
    """
    kind = type(obj)
    if kind in _PLAIN_SCALARS:
        return obj
    if isinstance(obj, collections.abc.Mapping):
        return {_output(key): _output(value) for key, value in obj.items()}
    if isinstance(obj, (collections.abc.KeysView, collections.abc.ValuesView, collections.abc.ItemsView)):
        return [_output(item) for item in obj]
    if isinstance(obj, collections.abc.Set):
        return {_output(item) for item in obj}
    if isinstance(obj, (tuple, list)) or utils.is_iterable(obj):
        return [_output(item) for item in obj]
    return obj


@specs.name("#finalize")
def _finalize(obj: Any) -> Any:
    """Convert every statement result (replaces the standard finalizer, see :func:`_output`)."""
    return _output(obj)


def _as_output(raw: Any) -> Any:
    """A fast-path result in the form the engine would return it."""
    if type(raw) in _PLAIN_SCALARS:
        return raw
    return _output(utils.convert_input_data(raw))


def syntax_error(source: str) -> str | None:
    """The reason ``source`` (without delimiters) does not parse, or None when it does."""
    try:
        _prepare(source)
    except Exception as error:  # noqa: BLE001 - any parser failure is a syntax error
        return functions.reason(error)
    return None


def _error(piece: YaqlPiece, reason: str, scope: Scope) -> ExpressionError:
    """Mistral's error for one piece: named as written between its delimiters, with the data."""
    return ExpressionError(piece.source.strip(), reason, "YAQL", scope.data)


def _run(piece: YaqlPiece, scope: Scope) -> Any:
    """Evaluate one piece; the result is in yaql's output form (plain containers, sets kept)."""
    try:
        prepared = _prepare(piece.source)
        if FAST_PATH and prepared.fast is not None:
            try:
                return _as_output(prepared.fast(scope))
            except Exception:  # noqa: BLE001, S110 - Fallback or any doubt: ask yaql itself
                pass
        context = _root_context().create_child_context()
        context[_SCOPE_KEY] = scope
        context["$"] = scope.yaql_data(utils.convert_input_data)
        return limits.guarded(lambda: prepared.statement.evaluate(context=context), piece.text, "YAQL")
    except ExpressionError as error:  # a limit: named and placed like any other failure
        raise _error(piece, error.reason, scope) from error.__cause__
    except Exception as error:  # noqa: BLE001 - every failure becomes an ExpressionError
        raise _error(piece, _reason(error), scope) from error


def _reason(error: Exception) -> str:
    """The message of a failure, naming the limit when one was hit."""
    if isinstance(error, TimeoutError):  # a regular expression ran out of time
        return limits.timeout_message(limits.current().timeout)
    if isinstance(error, (yaql_exceptions.MemoryQuotaExceededException, MemoryError)):
        return limits.memory_message(None)
    if isinstance(error, yaql_exceptions.CollectionTooLargeException):
        return limits.memory_message(None, "collection")
    return functions.reason(error)


limits.on_change(_limits_changed)


def evaluate_text(text: str, scope: Scope) -> Any:
    """Evaluate a string holding YAQL expressions.

    A string that is exactly one expression (surrounding whitespace allowed) gives the typed
    result; otherwise each occurrence is replaced by Python's ``str()`` of its result. Equal
    occurrences are evaluated once.

    Args:
        text: The string.
        scope: The evaluation scope.

    Returns:
        The typed, JSON-like result, or the interpolated string.

    Raises:
        ExpressionError: A piece fails to parse or to evaluate.
    """
    plan = yaql_plan(text)
    if plan.whole is not None:
        result = _run(plan.whole, scope)
        try:
            return functions.to_plain(result)
        except Exception as error:  # noqa: BLE001
            raise _error(plan.whole, functions.reason(error), scope) from error
    rendered: dict[str, str] = {}
    parts: list[str] = []
    for segment in plan.segments:
        if isinstance(segment, str):
            parts.append(segment)
            continue
        if segment.text not in rendered:
            result = _run(segment, scope)
            try:
                rendered[segment.text] = str(result)
            except Exception as error:  # noqa: BLE001
                raise _error(segment, functions.reason(error), scope) from error
        parts.append(rendered[segment.text])
    return "".join(parts)
