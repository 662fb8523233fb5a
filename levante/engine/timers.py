"""Delays and policies: what holds a task back before it starts (pause-before, timeout, wait-before)
and after its work completed (wait-after, fail-on, retry). Each sets the task's state and emits
the :class:`~levante.engine.commands.Schedule` whose timer carries on later; what a fired timer does
is the task part's (:func:`levante.engine.tasks.on_timer`). Calls no other part of the conductor.

(The module keeps its old name until the final rename: it holds policies more than timers.)
"""

from __future__ import annotations

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine.commands import Schedule
from levante.engine.decision import Decision, TaskFailure, attempt, generation
from levante.engine.model import TaskExecution
from levante.engine.policies import retry_delay
from levante.exceptions import ExpressionError
from levante.states import State
from levante.workflows import expressions
from levante.workflows.specs import TaskSpec


def before_start(d: Decision, task_ex: TaskExecution, spec: TaskSpec) -> bool:
    """pause-before, timeout, wait-before. True when the task must wait.

    Raises:
        TaskFailure: a policy value failed to evaluate.
    """
    policies = spec.policies
    rc = task_ex.runtime_context
    pause = policies.pause_before
    if pause is not None and d.policy_value(task_ex, "pause-before", pause, "bool"):
        d.set_task_state(task_ex, State.IDLE, "Set by 'pause-before' policy")
        if d.ex.state == State.RUNNING:
            d.set_workflow_state(State.PAUSED)
        return True
    if policies.timeout is not None:
        timeout = d.policy_value(task_ex, "timeout", policies.timeout, "number")
        if timeout > 0:
            rc["timeout"] = timeout
            d.emit(Schedule(timeout, ev.TimerFired(d.ex.id, task_ex.id, "timeout", generation(task_ex))))
    if policies.wait_before is not None and not rc.get("wait_before_policy", {}).get("skip"):
        delay = d.policy_value(task_ex, "wait-before", policies.wait_before, "number")
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
        delay = d.policy_value(task_ex, "wait-after", policies.wait_after, "number")
        if delay > 0:
            rc["wait_after_policy"] = {"skip": True, "state": str(task_ex.state), "info": task_ex.state_info}
            d.set_task_state(task_ex, State.DELAYED, f"Delayed by 'wait-after' policy [delay={delay}]")
            d.emit(Schedule(delay, ev.TimerFired(d.ex.id, task_ex.id, "wait_after", attempt(task_ex))))
            return True
    if policies.fail_on is not None and task_ex.state == State.SUCCESS:
        if d.policy_value(task_ex, "fail-on", policies.fail_on, "bool"):
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
    count = d.policy_value(task_ex, "retry count", retry.count, "int")
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
        d.policy_value(task_ex, "retry delay", retry.delay, "number"),
        d.policy_value(task_ex, "retry backoff", retry.backoff, "number"),
        None if retry.max_delay is None
        else d.policy_value(task_ex, "retry max-delay", retry.max_delay, "number"),
        bool(d.policy_value(task_ex, "retry jitter", retry.jitter, "bool")),
        d.rng,
    )
    d.unaccept_results(task_ex)
    rc["retry_task_policy"] = {"retry_no": retry_no + 1}
    rc["attempt"] = attempt(task_ex) + 1
    waiting = State.WAITING if spec.join is not None else State.DELAYED
    d.set_task_state(task_ex, waiting, f"Delayed by 'retry' policy [delay={delay}]")
    d.emit(Schedule(delay, ev.TimerFired(d.ex.id, task_ex.id, "retry", attempt(task_ex))))
    return True
