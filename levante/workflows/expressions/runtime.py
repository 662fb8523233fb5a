"""What expression functions such as ``task()`` and ``env()`` read at run time.

The engine passes an :class:`ExpressionRuntime` to every evaluation; without one the evaluator
falls back to :class:`DataRuntime`, which answers from reserved keys of the data context. Each
evaluation carries its own :class:`Scope`; the only state beyond it is the conversion cache of
:func:`reused_conversions`, which a caller opens around evaluations over the same data.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol, cast, runtime_checkable

#: Values of data contexts converted for YAQL, by identity (the value is kept with its conversion,
#: so that its id is not reused while the cache lives); None outside :func:`reused_conversions`.
_CONVERTED: ContextVar[dict[int, tuple[Any, Any]] | None] = ContextVar("levante_yaql_converted", default=None)


@contextmanager
def reused_conversions() -> Iterator[None]:
    """Within it, the top-level values of the data contexts YAQL evaluates over are converted once
    for all the evaluations that share them (the same objects), instead of once per evaluation.

    For evaluations over data that is not changed in place while it is open (the engine's
    decisions make new contexts, never change one): one step of the engine, whose evaluations
    all see the same workflow input and context. A with-items task over a list of a million
    items in the workflow input converted the list again for every item it started.
    """
    if _CONVERTED.get() is not None:  # within another: share its cache
        yield
        return
    token = _CONVERTED.set({})
    try:
        yield
    finally:
        _CONVERTED.reset(token)


@runtime_checkable
class ExpressionRuntime(Protocol):
    """The engine's side of the built-in expression functions.

    Every method returns JSON-like data (dicts, lists, strings, numbers, booleans, None).
    """

    def task(self, name: str | None) -> dict[str, Any] | None:
        """The task execution named ``name`` (the current task when ``name`` is None), or None."""
        ...

    def tasks(
        self,
        workflow_execution_id: str | None,
        recursive: bool,
        state: str | None,
        flat: bool,
    ) -> list[dict[str, Any]]:
        """Task executions of a workflow execution (the current one when the id is None)."""
        ...

    def execution(self) -> dict[str, Any]:
        """The current workflow execution."""
        ...

    def executions(
        self,
        id: str | None,  # noqa: A002 - the keyword name users write in expressions
        root_execution_id: str | None,
        state: str | None,
        from_time: str | None,
        to_time: str | None,
    ) -> list[dict[str, Any]]:
        """Workflow executions matching the filters."""
        ...

    def env(self) -> dict[str, Any]:
        """The environment of the (root) execution."""
        ...

    def global_var(self, name: str) -> Any:
        """The global variable ``name`` (vars plus global publishes), or None."""
        ...


class DataRuntime:
    """An :class:`ExpressionRuntime` answering only from the data context.

    Reserved keys read: ``__env``, ``__global``, ``__execution``, ``__task_execution`` and
    ``__tasks`` (a map of task name to task dict).

    Args:
        data: The data context of the evaluation.
    """

    __slots__ = ("_data",)

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data

    def _get_map(self, key: str) -> Mapping[str, Any]:
        value = self._data.get(key)
        return value if isinstance(value, Mapping) else {}

    def task(self, name: str | None) -> dict[str, Any] | None:
        """The current task when ``name`` is None or matches it, else ``__tasks[name]``."""
        current = self._data.get("__task_execution")
        if name is None:
            return current if isinstance(current, Mapping) else None  # type: ignore[return-value]
        if isinstance(current, Mapping) and current.get("name") == name:
            return current  # type: ignore[return-value]
        return self._get_map("__tasks").get(name)

    def tasks(
        self,
        workflow_execution_id: str | None = None,
        recursive: bool = False,
        state: str | None = None,
        flat: bool = False,
    ) -> list[dict[str, Any]]:
        """All ``__tasks`` values, filtered by ``state`` when given."""
        found = list(self._get_map("__tasks").values())
        if state is None:
            return found
        return [cast(dict[str, Any], t) for t in found if isinstance(t, Mapping) and t.get("state") == state]

    def execution(self) -> dict[str, Any]:
        """``__execution`` (``{}`` when absent)."""
        return dict(self._get_map("__execution"))

    def executions(
        self,
        id: str | None = None,  # noqa: A002
        root_execution_id: str | None = None,
        state: str | None = None,
        from_time: str | None = None,
        to_time: str | None = None,
    ) -> list[dict[str, Any]]:
        """Always ``[]``: the data context knows no other executions."""
        return []

    def env(self) -> dict[str, Any]:
        """``__env`` (``{}`` when absent)."""
        return dict(self._get_map("__env"))

    def global_var(self, name: str) -> Any:
        """``__global[name]`` (None when absent)."""
        return self._get_map("__global").get(name)


class Scope:
    """Everything one :func:`evaluate` call shares between the strings it evaluates.

    Args:
        data: The data context (``$`` in YAQL, ``_`` in Jinja2).
        runtime: The runtime the built-in functions call.
    """

    __slots__ = ("data", "runtime", "_yaql_data")

    def __init__(self, data: Mapping[str, Any], runtime: ExpressionRuntime) -> None:
        self.data = data
        self.runtime = runtime
        self._yaql_data: Any = None

    def yaql_data(self, convert: Any) -> Any:
        """The data context converted for YAQL, converted once per scope.

        Args:
            convert: The conversion function (yaql's ``convert_input_data``).
        """
        if self._yaql_data is None:
            cache = _CONVERTED.get()
            if cache is None or not isinstance(self.data, Mapping):
                self._yaql_data = convert(self.data)
            else:
                self._yaql_data = _converted_map(self.data, convert, cache)
        return self._yaql_data


def _converted_map(data: Mapping[str, Any], convert: Any, cache: dict[int, tuple[Any, Any]]) -> Any:
    """``convert(data)`` for a mapping, its container values taken from ``cache`` when converted
    before (as ``convert`` does it: the mapping's type is that of the conversion of an empty one)."""
    pairs = []
    for key, value in data.items():
        if isinstance(value, (list, tuple, dict)):
            known = cache.get(id(value))
            if known is None or known[0] is not value:
                known = cache[id(value)] = (value, convert(value))
            pairs.append((convert(key), known[1]))
        else:
            pairs.append((convert(key), convert(value)))
    return type(convert({}))(pairs)


def make_scope(data: Mapping[str, Any], runtime: ExpressionRuntime | None) -> Scope:
    """Build the :class:`Scope` of one evaluation (a :class:`DataRuntime` when ``runtime`` is None)."""
    if data is None:
        data = {}
    return Scope(data, runtime if runtime is not None else DataRuntime(data))
