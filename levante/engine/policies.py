"""Task policies: what holds a task back before it starts (pause-before, timeout, wait-before)
and after its work completed (wait-after, fail-on, retry), and how any policy value (those and
concurrency, safe-rerun, keep-result) is evaluated and type-checked, with the retry delay
(Levante's backoff). The delays set the task's state and emit the
:class:`~levante.engine.commands.Schedule` whose timer carries on later; what a fired timer does
is the task part's (:func:`levante.engine.tasks.on_timer`). Calls no other part of the conductor.
"""

from __future__ import annotations

import random
from typing import Any, Mapping

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine.commands import Schedule
from levante.engine.decision import Decision, TaskFailure, attempt, generation
from levante.engine.records import TaskExecution
from levante.exceptions import ExpressionError
from levante.states import State
from levante.workflows import expressions
from levante.workflows.expressions import ExpressionRuntime
from levante.workflows.specs import TaskSpec

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


def value(d: Decision, task_ex: TaskExecution, name: str, raw: Any, kind: str) -> Any:
    """A policy's value for ``task_ex``, evaluated and type-checked.

    Raises:
        TaskFailure: the expression failed or the value has the wrong type.
    """
    # Only an expression (a string) reads the data: a plain value (a with-items task's
    # safe-rerun, once per item) does not build it.
    data = ctx.task_data(d.ex, task_ex) if isinstance(raw, str) else {}
    try:
        return value_of(name, raw, kind, data, d.runtime(task_ex))
    except (PolicyError, ExpressionError) as exc:
        raise TaskFailure(str(exc)) from None


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



def before_start(d: Decision, task_ex: TaskExecution, spec: TaskSpec) -> bool:
    """pause-before, timeout, wait-before. True when the task must wait.

    Raises:
        TaskFailure: a policy value failed to evaluate.
    """
    policies = spec.policies
    rc = task_ex.runtime_context
    pause = policies.pause_before
    if pause is not None and value(d, task_ex, "pause-before", pause, "bool"):
        d.set_task_state(task_ex, State.IDLE, "Set by 'pause-before' policy")
        if d.ex.state == State.RUNNING:
            d.set_workflow_state(State.PAUSED)
        return True
    if policies.timeout is not None:
        timeout = value(d, task_ex, "timeout", policies.timeout, "number")
        if timeout > 0:
            rc["timeout"] = timeout
            d.emit(Schedule(timeout, ev.TimerFired(d.ex.id, task_ex.id, "timeout", generation(task_ex))))
    if policies.wait_before is not None and not rc.get("wait_before_policy", {}).get("skip"):
        delay = value(d, task_ex, "wait-before", policies.wait_before, "number")
        if delay > 0:
            rc["wait_before_policy"] = {"skip": True}
            d.set_task_state(task_ex, State.DELAYED, f"Delayed by 'wait-before' policy [delay={delay}]")
            d.emit(Schedule(delay, ev.TimerFired(d.ex.id, task_ex.id, "wait_before", attempt(task_ex))))
            return True
    return False


def after_complete(d: Decision, task_ex: TaskExecution, spec: TaskSpec) -> bool:
    """wait-after, fail-on, retry. True when the task goes on waiting instead of completing.

    Raises:
        TaskFailure: a policy value or a retry condition failed to evaluate.
    """
    policies = spec.policies
    rc = task_ex.runtime_context
    if task_ex.state == State.CANCELLED:
        return False
    if policies.wait_after is not None and not rc.get("wait_after_policy", {}).get("skip"):
        delay = value(d, task_ex, "wait-after", policies.wait_after, "number")
        if delay > 0:
            rc["wait_after_policy"] = {"skip": True, "state": str(task_ex.state), "info": task_ex.state_info}
            d.set_task_state(task_ex, State.DELAYED, f"Delayed by 'wait-after' policy [delay={delay}]")
            d.emit(Schedule(delay, ev.TimerFired(d.ex.id, task_ex.id, "wait_after", attempt(task_ex))))
            return True
    if policies.fail_on is not None and task_ex.state == State.SUCCESS:
        if value(d, task_ex, "fail-on", policies.fail_on, "bool"):
            d.set_task_state(task_ex, State.ERROR, "Failed by 'fail-on' policy")
    if policies.retry is not None and not rc.get("timed_out"):
        return _retry(d, task_ex, spec)
    return False


def _retry(d: Decision, task_ex: TaskExecution, spec: TaskSpec) -> bool:
    retry = spec.policies.retry
    assert retry is not None
    rc = task_ex.runtime_context
    rc.setdefault("retry_task_policy", {})  # Mistral shows {} until the first retry
    retry_no = rc["retry_task_policy"].get("retry_no", 0)
    count = value(d, task_ex, "retry count", retry.count, "int")
    data = ctx.transition_data(d.ex, task_ex)
    runtime = d.runtime(task_ex)
    try:
        cont = None if retry.continue_on is None else bool(expressions.evaluate(retry.continue_on, data, runtime))
        brk = None if retry.break_on is None else bool(expressions.evaluate(retry.break_on, data, runtime))
    except ExpressionError as exc:
        raise TaskFailure(str(exc)) from None
    if retry_no >= count or (task_ex.state == State.SUCCESS and cont is None) or cont is False \
            or (task_ex.state == State.ERROR and brk):
        return False
    delay = retry_delay(
        retry_no,
        value(d, task_ex, "retry delay", retry.delay, "number"),
        value(d, task_ex, "retry backoff", retry.backoff, "number"),
        None if retry.max_delay is None
        else value(d, task_ex, "retry max-delay", retry.max_delay, "number"),
        bool(value(d, task_ex, "retry jitter", retry.jitter, "bool")),
        d.rng,
    )
    d.unaccept_results(task_ex)
    rc["retry_task_policy"] = {"retry_no": retry_no + 1}
    rc["attempt"] = attempt(task_ex) + 1
    waiting = State.WAITING if spec.join is not None else State.DELAYED
    d.set_task_state(task_ex, waiting, f"Delayed by 'retry' policy [delay={delay}]")
    d.emit(Schedule(delay, ev.TimerFired(d.ex.id, task_ex.id, "retry", attempt(task_ex))))
    return True
