"""Jinja2: ``{{ expr }}`` and ``{% statement %}`` strings.

One sandboxed environment per process (``StrictUndefined``, ``trim_blocks``, ``lstrip_blocks``)
with the built-ins as globals and, where a value argument makes sense, as filters. Compiled
expressions and templates are cached by text. The data context is the variable ``_``; the
evaluation scope travels in a render variable whose name no template can spell.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, NamedTuple

from jinja2 import StrictUndefined, Undefined, pass_context
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from levante.exceptions import ExpressionError
from levante.workflows.expressions import functions, limits
from levante.workflows.expressions.runtime import Scope

#: Render variable holding the scope (a space: not an identifier, so unreachable from templates).
_SCOPE_VAR = "levante scope"
#: Lexer tokens that may appear outside a lone ``{{ }}`` (none may).
_OUTER_TOKENS = frozenset(
    {"variable_begin", "block_begin", "comment_begin", "raw_begin", "linestatement_begin"}
)


class _Compiled(NamedTuple):
    #: True for a lone ``{{ }}`` compiled as an expression (typed result).
    native: bool
    #: Called with the render variables.
    run: Callable[[dict[str, Any]], Any]


def _bind(impl: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a built-in for Jinja2: the scope comes from the render context."""

    @pass_context
    def call(context: Context, *args: Any, **kwargs: Any) -> Any:
        scope = context.get(_SCOPE_VAR)
        if not isinstance(scope, Scope):
            raise RuntimeError(f"{impl.__name__.rstrip('_')}() called outside an evaluation")
        with limits.shielded():  # the runtime may be reading the database: never interrupted there
            return impl(scope, *args, **kwargs)

    call.__name__ = impl.__name__
    call.__doc__ = impl.__doc__
    return call


#: String methods whose integer arguments set the size of what they build.
_WIDENING_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _repeated_size(left: Any, right: Any) -> int | None:
    """Bytes ``left * right`` would take when it repeats a sequence, else None."""
    if isinstance(right, (str, bytes, list, tuple)) and isinstance(left, int):
        left, right = right, left
    if not isinstance(left, (str, bytes, list, tuple)) or not isinstance(right, int):
        return None
    return len(left) * max(right, 0) * (1 if isinstance(left, (str, bytes)) else 8)


_DIGITS = re.compile(r"\d+")


def _check_format(fmt: Any) -> None:
    """Refuse a format string (``%``, ``str.format``, the ``format`` filter) whose widths or
    precisions would build a string over the memory limit (any number in it counts)."""
    if isinstance(fmt, str):
        widest = max((int(d) if len(d) < 20 else 10**20 for d in _DIGITS.findall(fmt)), default=0)
        limits.check_size(widest, "string")


class _BoundedEnvironment(SandboxedEnvironment):
    """The sandbox, refusing operations that would build a value over the memory limit in one step
    (``'a' * 10**9``, ``10 ** 10**9``, ``'a'.center(10**9)``). ``range`` is already bounded by the
    sandbox (100,000 items)."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            size = _repeated_size(left, right)
            if size is not None:
                limits.check_size(size, "string" if isinstance(left, str) or isinstance(right, str) else "list")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
            limits.check_size(right * left.bit_length() / 8, "number")
        elif operator == "%":
            _check_format(left)
        return super().call_binop(context, operator, left, right)

    def wrap_str_format(self, value: Any) -> Any:
        """Jinja2 >= 3.1.5 wraps ``str.format`` when it is looked up (older ones in :meth:`call`)."""
        if getattr(value, "__name__", "") in ("format", "format_map") and \
                isinstance(getattr(value, "__self__", None), str):
            _check_format(value.__self__)
        return super().wrap_str_format(value)  # type: ignore[misc]

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in ("format", "format_map"):
                _check_format(owner)
            elif name in _WIDENING_METHODS:
                width = max((a for a in args if isinstance(a, int)), default=0)
                limits.check_size(width * (len(owner) if name == "expandtabs" else 1), "string")
            elif name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
                limits.check_size(len(owner) + (owner.count(args[0]) if args[0] else len(owner) + 1)
                                  * len(args[1]), "string")
        return super().call(__context, __obj, *args, **kwargs)


def _widening_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    """A filter such as ``center`` or ``indent`` refusing a width over the memory limit."""

    def bounded(value: Any, width: Any = 80, *args: Any, **kwargs: Any) -> Any:
        if isinstance(width, int):
            lines = str(value).count("\n") + 1
            limits.check_size(width * lines, "string")
        elif isinstance(width, str):
            limits.check_size(len(width) * (str(value).count("\n") + 1), "string")
        return original(value, width, *args, **kwargs)

    bounded.__name__ = getattr(original, "__name__", "filter")
    return bounded


def _format_filter(original: Callable[..., Any]) -> Callable[..., Any]:
    """The ``format`` filter, refusing widths over the memory limit."""

    def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format(value)
        return original(value, *args, **kwargs)

    bounded.__name__ = getattr(original, "__name__", "format")
    return bounded


@functools.cache
def environment() -> SandboxedEnvironment:
    """The process-wide sandboxed environment with the built-ins registered."""
    env = _BoundedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    for name in ("center", "indent"):
        env.filters[name] = _widening_filter(env.filters[name])
    env.filters["format"] = _format_filter(env.filters["format"])
    for name, impl in functions.BUILTINS:
        bound = _bind(impl)
        env.globals[name] = bound
        if name in functions.FILTERS:
            env.filters[name] = bound
    return env


def _lone_expression(env: SandboxedEnvironment, text: str) -> str | None:
    """The source inside ``{{ }}`` when the stripped ``text`` is exactly one, else None."""
    stripped = text.strip()
    if not (stripped.startswith("{{") and stripped.endswith("}}")):
        return None
    tokens = list(env.lex(stripped))
    if not tokens or tokens[0][1] != "variable_begin" or tokens[-1][1] != "variable_end":
        return None
    if sum(1 for token in tokens if token[1] in _OUTER_TOKENS) != 1:
        return None
    return stripped[len(tokens[0][2]):len(stripped) - len(tokens[-1][2])]


@functools.lru_cache(maxsize=4096)
def _compile(text: str) -> _Compiled:
    env = environment()
    source = _lone_expression(env, text)
    if source is not None:
        return _Compiled(True, env.compile_expression(source, undefined_to_none=False))
    return _Compiled(False, env.from_string(text).render)


def syntax_error(text: str) -> str | None:
    """The reason ``text`` does not compile as Jinja2, or None when it does."""
    try:
        _compile(text)
    except Exception as error:  # noqa: BLE001 - any compiler failure is a syntax error
        return functions.reason(error)
    return None


def _native(result: Any) -> Any:
    if isinstance(result, Undefined):
        str(result)  # StrictUndefined raises the precise error here
        raise UndefinedError("the expression is undefined")
    return functions.to_plain(result)


def evaluate_text(text: str, scope: Scope) -> Any:
    """Evaluate a Jinja2 string.

    A string that is exactly one ``{{ }}`` (surrounding whitespace allowed) gives the typed
    result; anything else is rendered as a template and gives a string.

    Args:
        text: The string.
        scope: The evaluation scope.

    Returns:
        The typed, JSON-like result, or the rendered string.

    Raises:
        ExpressionError: The text fails to compile or to evaluate.
    """
    variables = {"_": scope.data, _SCOPE_VAR: scope}
    try:
        compiled = _compile(text)
        result = limits.guarded(lambda: compiled.run(variables), text, "Jinja")
        return _native(result) if compiled.native else result
    except ExpressionError as error:  # a limit: named and placed like any other failure
        raise ExpressionError(text, error.reason, "Jinja", scope.data) from error.__cause__
    except Exception as error:  # noqa: BLE001 - every failure becomes an ExpressionError
        # Mistral names a Jinja expression by the whole string, delimiters included.
        raise ExpressionError(text, functions.reason(error), "Jinja", scope.data) from error
