"""Bounds the engine enforces on what one workflow may ask of it.

Each bound fails only the task that crosses it, with a message naming the bound and the setting
that raises it (``LEVANTE_*`` variables and ``levante server`` flags, see ``levante.config``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

#: Mistral's ``execution_field_size_limit_kb`` default (1024 KiB).
DEFAULT_RESULT_SIZE = 1024 * 1024
#: Deepest nesting of arrays and objects in an action's result: storing it encodes JSON with one
#: level of Python's recursion per level, and Python's stack holds about 1,000 frames in all. A
#: deeper result fails its action (it could never be stored, and the event would fail for good).
MAX_RESULT_DEPTH = 500


@dataclass(frozen=True)
class EngineLimits:
    """Bounds of the engine's decisions; 0 or less turns one off."""

    #: How deep sub-workflows may nest (the root execution is depth 0).
    subworkflow_depth: int = 100
    #: Most items one with-items task may run.
    with_items: int = 1_000_000
    #: Most items of one with-items task running at once when its ``concurrency`` is not lower:
    #: the others start as those end, so that a task over a million items stores and sends a
    #: window of them, not a million action executions in one step.
    with_items_window: int = 10_000
    #: Largest action result, task publish or workflow output stored, in bytes of JSON.
    result_size: int = DEFAULT_RESULT_SIZE


def json_size(value: Any, limit: int) -> int:
    """The size of ``value`` as stored JSON when it may exceed ``limit``, else 0 (not measured).

    Small scalars and short strings are not serialised: a string of n characters takes at most
    6n + 2 bytes of JSON.
    """
    if limit <= 0 or value is None or isinstance(value, (bool, int, float)):
        return 0
    if isinstance(value, str) and 6 * len(value) + 2 <= limit:
        return 0
    try:
        return len(json.dumps(value, default=str))
    except (TypeError, ValueError, RecursionError):
        return 0  # not JSON: the database layer reports it


def nests_deeper(value: Any, limit: int = MAX_RESULT_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than ``limit`` in ``value`` (walked with a stack of
    its own, not by recursion; a top-level array or object is level 1)."""
    stack = [(value, 1)] if isinstance(value, (dict, list, tuple)) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        members = item.values() if isinstance(item, dict) else item
        stack.extend((m, depth + 1) for m in members if isinstance(m, (dict, list, tuple)))
    return False


def result_too_large(what: str, size: int, limit: int) -> str:
    """The message of a value over the stored-size bound."""
    return (f"{what} of {size:,} bytes exceeds the limit of {limit:,} bytes on a stored result "
            "(raise it with LEVANTE_MAX_RESULT_SIZE or --max-result-size)")
