"""Helpers shared by the doubles: readable ids and a per-task attempt counter."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter

from levante.actions.base import ActionContext

_attempts: Counter[tuple[str, str]] = Counter()
_lock = threading.Lock()


def digest(*parts: object, size: int = 6) -> str:
    """A short stable hex digest of ``parts`` (for ids that look generated but never change)."""
    text = "|".join(str(p) for p in parts)
    return hashlib.sha1(text.encode()).hexdigest()[:size]


def attempt(context: ActionContext, what: str) -> int:
    """1 for the first run of ``what`` in a task execution, 2 for its first retry, and so on
    (each task execution counts on its own, so runs never influence each other)."""
    key = (context.task_execution_id or context.action_execution_id or "", what)
    with _lock:
        _attempts[key] += 1
        return _attempts[key]


def slug(text: str) -> str:
    """``Web Tier 01`` -> ``web-tier-01``."""
    return "-".join("".join(c if c.isalnum() else " " for c in str(text).lower()).split())
