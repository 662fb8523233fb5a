"""Policy values: evaluation, type checks, and the retry delay (with Levante's backoff)."""

from __future__ import annotations

import random
from typing import Any, Mapping

from levante.workflows import expressions
from levante.workflows.expressions import ExpressionRuntime

_CLASS_NAMES = {
    "pause-before": "PauseBeforePolicy", "wait-before": "WaitBeforePolicy", "wait-after": "WaitAfterPolicy",
    "fail-on": "FailOnPolicy", "timeout": "TimeoutPolicy", "concurrency": "ConcurrencyPolicy",
    "retry count": "RetryPolicy", "retry delay": "RetryPolicy", "retry backoff": "RetryPolicy",
    "retry max-delay": "RetryPolicy", "retry jitter": "RetryPolicy", "keep-result": "KeepResult",
    "safe-rerun": "SafeRerun",
}


class PolicyError(Exception):
    """A policy value has the wrong type or range once evaluated."""


def value_of(name: str, raw: Any, kind: str, data: Mapping[str, Any], runtime: ExpressionRuntime) -> Any:
    """Evaluate a policy value and check it is of ``kind`` (``bool``, ``int`` or ``number`` >= 0).

    Raises:
        PolicyError: wrong type or a negative number ("Invalid data type in WaitBeforePolicy: ...").
        ExpressionError: the expression failed.
    """
    value = expressions.evaluate(raw, data, runtime) if isinstance(raw, str) else raw
    where = _CLASS_NAMES.get(name, name)
    if kind == "bool":
        if not isinstance(value, bool):
            raise PolicyError(f"Invalid data type in {where}: {name} must be a boolean, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyError(f"Invalid data type in {where}: {name} must be a number, got {value!r}")
    if kind == "int" and value != int(value):
        raise PolicyError(f"Invalid data type in {where}: {name} must be a whole number, got {value!r}")
    if value < 0:
        raise PolicyError(f"Invalid value in {where}: {name} must be >= 0, got {value!r}")
    return int(value) if kind == "int" else value


def retry_delay(retry_no: int, delay: float, backoff: float, max_delay: float | None, jitter: bool,
                rng: random.Random) -> float:
    """Delay before retry number ``retry_no + 1``: ``delay * backoff ** retry_no``, capped at
    ``max_delay``, and with ``jitter`` drawn uniformly between half and all of it."""
    value = float(delay) * (float(backoff) ** retry_no if backoff else 1.0)
    if max_delay is not None:
        value = min(value, float(max_delay))
    if jitter:
        value = rng.uniform(value / 2, value)
    return value if value != int(value) else int(value)
