"""Actions: the interface the engine and the executor call, the registry, the ``std.*`` actions.

Typical use::

    from levante.actions import ActionContext, default_registry, run_action

    action = default_registry().create("std.echo", {"output": "hi"})
    result = run_action(action, ActionContext(action_execution_id="..."))

Importing this package registers nothing and imports no action module; the registry reads the
entry points of the group ``levante.actions`` on first use.
"""

from __future__ import annotations

import threading

from levante.actions.base import Action, ActionContext, Result, run_action
from levante.actions.registry import DEFAULT_GROUP, ActionInfo, Registry
from levante.exceptions import ActionError, ActionNotFoundError

__all__ = [
    "DEFAULT_GROUP",
    "Action",
    "ActionContext",
    "ActionError",
    "ActionInfo",
    "ActionNotFoundError",
    "Registry",
    "Result",
    "default_registry",
    "run_action",
]

_default: Registry | None = None
_default_lock = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry of the ``levante.actions`` group (created on first call)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Registry(DEFAULT_GROUP)
        return _default
