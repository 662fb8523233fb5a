"""The built-in expression functions, independent of the expression language.

Each function takes the evaluation :class:`~levante.workflows.expressions.runtime.Scope` first;
``yaql_lang`` and ``jinja_lang`` wrap them for their language. :func:`to_plain` turns any result
into JSON-like data (plain dicts and lists).
"""

from __future__ import annotations

import datetime
import json
import uuid as _uuid
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from levante.workflows.expressions.limits import LimitError
from levante.workflows.expressions.runtime import Scope

_SCALARS = (bool, int, float, type(None))
_KEPT = (bytes, bytearray, datetime.date, datetime.time, datetime.timedelta)


def to_plain(value: Any) -> Any:
    """Convert a result to JSON-like data.

    Mappings become dicts, tuples, lists and sets become lists, other iterables (ranges,
    generators, dict views) are drained into lists, ``str`` subclasses become ``str``. Scalars,
    dates and bytes are kept.

    Args:
        value: Any expression result.

    Returns:
        New plain containers (the input is never returned as a container).

    Raises:
        TypeError: The value is a function or some other callable, not data.
    """
    if isinstance(value, str):
        return value if type(value) is str else str(value)
    if isinstance(value, _SCALARS) or isinstance(value, _KEPT):
        return value
    if isinstance(value, Mapping):
        return {_plain_key(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    if isinstance(value, Iterable):
        return [to_plain(v) for v in value]
    if callable(value):
        raise TypeError(f"the result is a callable, not data: {value!r}")
    return value


def _plain_key(key: Any) -> Any:
    if isinstance(key, str) and type(key) is not str:
        return str(key)
    return key


def task(scope: Scope, name: str | None = None) -> Any:
    """``task(name=null)``: a task execution dict, the current task without a name."""
    return scope.runtime.task(name)


def tasks(
    scope: Scope,
    workflow_execution_id: str | None = None,
    recursive: bool = False,
    state: str | None = None,
    flat: bool = False,
) -> Any:
    """``tasks(workflow_execution_id=null, recursive=false, state=null, flat=false)``."""
    return scope.runtime.tasks(workflow_execution_id, bool(recursive), state, bool(flat))


def execution(scope: Scope) -> Any:
    """``execution()``: the current workflow execution dict."""
    return scope.runtime.execution()


def executions(
    scope: Scope,
    id: str | None = None,  # noqa: A002 - the keyword name users write
    root_execution_id: str | None = None,
    state: str | None = None,
    from_time: str | None = None,
    to_time: str | None = None,
) -> Any:
    """``executions(id=null, root_execution_id=null, state=null, from_time=null, to_time=null)``."""
    return scope.runtime.executions(id, root_execution_id, state, from_time, to_time)


def env(scope: Scope) -> Any:
    """``env()``: the environment dict."""
    return scope.runtime.env()


def global_(scope: Scope, var_name: str) -> Any:
    """``global(var_name)``: a global variable, or None."""
    return scope.runtime.global_var(var_name)


def uuid(scope: Scope) -> str:
    """``uuid()``: a new random UUID4 string."""
    return str(_uuid.uuid4())


def json_dump(scope: Scope, data: Any) -> str:
    """``json_dump(data)``: JSON text, indented by 4."""
    return json.dumps(to_plain(data), indent=4, default=str)


def json_parse(scope: Scope, text: str) -> Any:
    """``json_parse(str)``: the value the JSON text denotes."""
    return json.loads(text)


def json_pp(scope: Scope, data: Any = None) -> str:
    """``json_pp(data=null)``: pretty JSON of ``data``, or of the whole data context."""
    return json.dumps(to_plain(scope.data if data is None else data), indent=4, default=str)


def yaml_dump(scope: Scope, data: Any) -> str:
    """``yaml_dump(data)``: block-style YAML text."""
    return yaml.safe_dump(to_plain(data), default_flow_style=False)


def yaml_parse(scope: Scope, text: str) -> Any:
    """``yaml_parse(str)``: the value the YAML text denotes (safe loader)."""
    return yaml.safe_load(text)


#: Every built-in as (expression name, implementation).
BUILTINS: tuple[tuple[str, Any], ...] = (
    ("task", task),
    ("tasks", tasks),
    ("execution", execution),
    ("executions", executions),
    ("env", env),
    ("global", global_),
    ("uuid", uuid),
    ("json_dump", json_dump),
    ("json_parse", json_parse),
    ("json_pp", json_pp),
    ("yaml_dump", yaml_dump),
    ("yaml_parse", yaml_parse),
)

#: The built-ins that also make sense as Jinja2 filters (value as first argument).
FILTERS: frozenset[str] = frozenset(
    {"task", "tasks", "global", "json_dump", "json_parse", "json_pp", "yaml_dump", "yaml_parse"}
)


def reason(error: BaseException) -> str:
    """The message an :class:`~levante.exceptions.ExpressionError` carries for ``error``.

    Errors of the expression languages keep their own message; others are prefixed with their
    type (a bare ``KeyError`` message is just the quoted key).
    """
    text = str(error)
    if isinstance(error, LimitError):
        return text
    module = type(error).__module__ or ""
    if module.startswith(("yaql", "jinja2")):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
