"""Jinja2: ``{{ expr }}`` and ``{% statement %}`` strings.

One sandboxed environment per process (``StrictUndefined``, ``trim_blocks``, ``lstrip_blocks``)
with the built-ins as globals and, where a value argument makes sense, as filters. Compiled
expressions and templates are cached by text. The data context is the variable ``_``; the
evaluation scope travels in a render variable whose name no template can spell.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

from jinja2 import StrictUndefined, Undefined, pass_context
from jinja2.exceptions import UndefinedError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from levante.exceptions import ExpressionError
from levante.workflows.expressions import functions
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
        return impl(scope, *args, **kwargs)

    call.__name__ = impl.__name__
    call.__doc__ = impl.__doc__
    return call


@functools.cache
def environment() -> SandboxedEnvironment:
    """The process-wide sandboxed environment with the built-ins registered."""
    env = SandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
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
        result = compiled.run(variables)
        return _native(result) if compiled.native else result
    except ExpressionError:
        raise
    except Exception as error:  # noqa: BLE001 - every failure becomes an ExpressionError
        raise ExpressionError(text, functions.reason(error), "Jinja") from error
