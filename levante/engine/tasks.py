"""A task's lifecycle: created, started (through the before-start policies of
:mod:`~levante.engine.policies`), its work scheduled (:mod:`~levante.engine.work`), its results and
timers received, and completed (publish, keep-result, after-complete policies).

A completed task is queued on ``d.completed``; following its transitions is the transitions
part's job, which calls this part and never the other way round.
"""

from __future__ import annotations

from typing import Any

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine import policies, work
from levante.engine.decision import Decision, TaskFailure, attempt, generation
from levante.engine.ending import force_fail
from levante.engine.limits import json_size, result_too_large
from levante.engine.records import AcceptedResult, TaskExecution, accepted_result, new_id
from levante.exceptions import ExpressionError
from levante.states import TASK_COMPLETED, State
from levante.workflows.specs import TaskSpec

# --- creation and start ---------------------------------------------------------------------


def new_task(d: Decision, name: str, in_context: dict[str, Any], in_versions: dict[str, int],
             triggered_by: dict[str, str] | None, state: State = State.IDLE,
             start: bool = True) -> TaskExecution:
    """Create a task execution and (unless ``start`` is False) start it."""
    spec = d.spec.tasks[name]
    task_ex = TaskExecution(
        id=new_id(), name=name, workflow_execution_id=d.ex.id,
        workflow_name=d.ex.workflow_name, state=state,
        type="WORKFLOW" if spec.workflow else "ACTION",
        in_context=in_context, in_versions=in_versions, created_at=d.clock(),
    )
    if triggered_by:
        task_ex.runtime_context["triggered_by"] = [triggered_by]
    d.state.add_task(task_ex)
    d.state.log("task_created", task=name, task_execution_id=task_ex.id)
    if start:
        start_task(d, task_ex)
    return task_ex


def start_task(d: Decision, task_ex: TaskExecution, skip_policies: bool = False) -> None:
    """IDLE/WAITING (or a rerun's ERROR/CANCELLED) -> RUNNING, apply before-start policies, then
    schedule the work."""
    d.set_task_state(task_ex, State.RUNNING)
    task_ex.started_at = task_ex.started_at or d.clock()
    try:
        if not skip_policies and policies.before_start(d, task_ex, d.task_spec(task_ex)):
            return
        _schedule(d, task_ex)
    except TaskFailure as exc:
        force_fail(d, task_ex, str(exc))


def _schedule(d: Decision, task_ex: TaskExecution) -> None:
    """Schedule the work; a with-items task over nothing succeeds at once with ``[]``."""
    if not work.schedule(d, task_ex):
        complete_task(d, task_ex, State.SUCCESS, [])


def _schedule_or_fail(d: Decision, task_ex: TaskExecution) -> None:
    try:
        _schedule(d, task_ex)
    except TaskFailure as exc:
        force_fail(d, task_ex, str(exc))


def rerun_failed_items(d: Decision, task_ex: TaskExecution) -> None:
    """Rerun without reset: only items whose accepted result failed run again; the others keep
    their results."""
    wi = task_ex.runtime_context["with_items"]
    failed = []
    current = attempt(task_ex)
    for action_ex in d.task_actions(task_ex):
        if action_ex.accepted and action_ex.state in (State.ERROR, State.CANCELLED) \
                and action_ex.runtime_context.get("attempt", 0) == current:
            action_ex.accepted = False
            d.state.touch(action_ex)
            failed.append(action_ex.runtime_context.get("index", 0))
    wi.update(queue=sorted(set(failed)), done=wi["done"] - len(set(failed)), errors=0, cancelled=0, running=0)
    d.set_task_state(task_ex, State.RUNNING)
    try:
        work.fill_items(d, task_ex, d.task_spec(task_ex))
    except TaskFailure as exc:
        force_fail(d, task_ex, str(exc))


# --- results --------------------------------------------------------------------------------


def on_action_completed(d: Decision, event: ev.ActionCompleted) -> None:
    """Record an action's result; complete its task (or its item) if the result counts. (An
    async action set PAUSED or RUNNING is the workflow lifecycle's: see
    :func:`levante.engine.lifecycle.on_action_paused_or_resumed`.)"""
    action_ex = d.state.actions.get(event.action_execution_id)
    if action_ex is None or action_ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
        return  # unknown or duplicate delivery: nothing changes
    state = State(event.state)
    result = event.result
    size = json_size(result, d.limits.result_size)
    if size > d.limits.result_size:
        state, result = State.ERROR, result_too_large("the action's result", size, d.limits.result_size)
    if state == State.SUCCESS and action_ex.runtime_context.get("adhoc"):
        try:
            result = work.transform_output(d, action_ex.runtime_context["adhoc"], result)
        except ExpressionError as exc:
            state, result = State.ERROR, str(exc)
    action_ex.state = state
    action_ex.output = {"result": result}
    action_ex.updated_at = d.clock()
    d.state.touch(action_ex)
    task_ex = d.state.task_by_id(action_ex.task_execution_id or "")
    if task_ex is None or task_ex.state != State.RUNNING or \
            action_ex.runtime_context.get("attempt", 0) != attempt(task_ex):
        return  # late result (timed out, cancelled, retried): recorded, not accepted
    action_ex.accepted = True
    _item_or_task_done(d, task_ex, action_ex.runtime_context.get("index", 0), state, result)


def on_subworkflow_completed(d: Decision, event: ev.SubworkflowCompleted) -> None:
    """A sub-workflow ended: its output is the task (or item) result."""
    task_ex = d.state.task_by_id(event.task_execution_id)
    if task_ex is None or task_ex.state not in (State.RUNNING, State.PAUSED):
        return
    if task_ex.state == State.PAUSED:
        d.set_task_state(task_ex, State.RUNNING)
    runs = task_ex.runtime_context.setdefault("subworkflows", {})
    if event.sub_execution_id in runs:
        return  # duplicate
    runs[event.sub_execution_id] = str(event.state)
    output = event.output if isinstance(event.output, dict) else {"result": event.output}
    index = int(output.pop("__index", 0)) if "__index" in output else _sub_index(d, event)
    _item_or_task_done(d, task_ex, index, State(event.state), output)


def _sub_index(d: Decision, event: ev.SubworkflowCompleted) -> int:
    if d.store is None:
        return 0
    for sub in d.store.sub_executions(event.task_execution_id):
        if sub.id == event.sub_execution_id:
            return int(sub.params.get("index", 0))
    return 0


def _item_or_task_done(d: Decision, task_ex: TaskExecution, index: int, state: State, result: Any) -> None:
    spec = d.task_spec(task_ex)
    if not spec.with_items:
        complete_task(d, task_ex, state, result, _failure_info(state, result, task_ex.type))
        return
    wi = task_ex.runtime_context["with_items"]
    wi["running"] -= 1
    wi["done"] += 1
    wi["errors"] += state == State.ERROR
    wi["cancelled"] += state == State.CANCELLED
    d.state.touch(task_ex)
    if wi["done"] < wi["count"]:
        try:
            work.fill_items(d, task_ex, spec)
        except TaskFailure as exc:
            force_fail(d, task_ex, str(exc))
        return
    results = item_results(d, task_ex)
    if wi["cancelled"]:
        complete_task(d, task_ex, State.CANCELLED, results, "One or more actions was cancelled.")
    elif wi["errors"]:
        complete_task(d, task_ex, State.ERROR, results, "One or more actions had failed.")
    else:
        complete_task(d, task_ex, State.SUCCESS, results)


def item_results(d: Decision, task_ex: TaskExecution) -> list[Any]:
    """The accepted results of a with-items task, in item order."""
    by_index: dict[int, Any] = {}
    if task_ex.type == "WORKFLOW":
        runs = task_ex.runtime_context.get("subworkflows", {})
        for sub in (d.store.sub_executions(task_ex.id) if d.store else []):
            if sub.id in runs:
                by_index[int(sub.params.get("index", 0))] = sub.output
    else:
        current = attempt(task_ex)
        for found in _accepted_results(d, task_ex):
            if found.attempt == current:
                by_index[found.item_index] = found.result
    return [by_index[i] for i in sorted(by_index)]


def _accepted_results(d: Decision, task_ex: TaskExecution) -> list[AcceptedResult]:
    """The task's accepted action results in creation order: the stored ones (read without the
    rest of their records), those this decision changed in their place, and those it accepted
    that were not accepted as stored, after them (by creation)."""
    changed = {a.id: a for a in d.state.actions.values() if a.task_execution_id == task_ex.id}
    found: list[AcceptedResult] = []
    for stored in (d.store.accepted_results(task_ex.id) if d.store else []):
        action_ex = changed.pop(stored.id, None)
        if action_ex is None:
            found.append(stored)
        elif action_ex.accepted:
            found.append(accepted_result(action_ex))
    rest = sorted((a for a in changed.values() if a.accepted), key=lambda a: a.created_at)
    return found + [accepted_result(a) for a in rest]


# --- timers ---------------------------------------------------------------------------------


def on_timer(d: Decision, event: ev.TimerFired) -> None:
    """A delayed call came due."""
    task_ex = d.state.task_by_id(event.task_execution_id)
    if task_ex is None or task_ex.state in TASK_COMPLETED:
        return  # an ended task (e.g. cancelled with its workflow) needs no timer
    if event.purpose == "timeout":
        # One timeout covers every retry of a run: it is stale only after a rerun.
        if event.attempt == generation(task_ex) and task_ex.state in (State.RUNNING, State.DELAYED, State.WAITING):
            task_ex.runtime_context["timed_out"] = True
            task_ex.runtime_context["wait_after_policy"] = {"skip": True}
            timeout = task_ex.runtime_context.get("timeout")
            complete_task(d, task_ex, State.ERROR, None, f"Task timed out [timeout(s)={timeout}].")
        return
    if event.attempt != attempt(task_ex):
        return  # stale timer (the task was retried or rerun since)
    if d.ex.state != State.RUNNING:
        task_ex.runtime_context["resume_timer"] = event.purpose
        d.state.touch(task_ex)
        return
    continue_after_timer(d, task_ex, event.purpose)


def continue_after_timer(d: Decision, task_ex: TaskExecution, purpose: str) -> None:
    """Carry on after wait-before, wait-after or a retry delay."""
    if purpose == "wait_after" and task_ex.state == State.DELAYED:
        saved = task_ex.runtime_context.get("wait_after_policy", {})
        d.set_task_state(task_ex, State(saved.get("state", "SUCCESS")), saved.get("info"))
        try:
            if policies.after_complete(d, task_ex, d.task_spec(task_ex)):
                return
        except TaskFailure as exc:
            force_fail(d, task_ex, f"Failed to complete task [error={exc}]")
            return
        d.completed.append(task_ex)
    elif purpose == "wait_before" and task_ex.state == State.DELAYED:
        d.set_task_state(task_ex, State.RUNNING)
        _schedule_or_fail(d, task_ex)
    elif purpose == "retry" and task_ex.state in (State.DELAYED, State.WAITING):
        task_ex.finished_at = None
        task_ex.runtime_context.pop("wait_after_policy", None)
        d.set_task_state(task_ex, State.RUNNING)
        _schedule_or_fail(d, task_ex)


# --- completion -----------------------------------------------------------------------------


def complete_task(d: Decision, task_ex: TaskExecution, state: State, result: Any, info: str | None = None) -> None:
    """Publish, keep-result, after-complete policies; then the task is queued for its transitions
    (unless a policy holds it back or a failure here fails the workflow)."""
    spec = d.task_spec(task_ex)
    d.set_task_state(task_ex, state, info)
    task_ex.result = result
    task_ex.finished_at = d.clock()
    try:
        publish(d, task_ex, spec)
        keep = spec.keep_result
        if keep is not True and not policies.value(d, task_ex, "keep-result", keep, "bool"):
            task_ex.result = None
        if policies.after_complete(d, task_ex, spec):
            return
    except (TaskFailure, ExpressionError) as exc:
        force_fail(d, task_ex, f"Failed to handle action completion [error={exc}, "
                               f"wf={d.ex.workflow_name}, task={task_ex.name}]")
        return
    d.completed.append(task_ex)


def publish(d: Decision, task_ex: TaskExecution, spec: TaskSpec) -> None:
    """Evaluate the publish spec of the task's state; branch values into the task, global values
    into the workflow context.

    Raises:
        ExpressionError: an expression failed. TaskFailure: a published value is too large.
    """
    if task_ex.state == State.SUCCESS:
        specs = [spec.publish, _clause_publish(spec.on_complete), _clause_publish(spec.on_success)]
    elif task_ex.state == State.ERROR:
        specs = [spec.publish_on_error, _clause_publish(spec.on_complete), _clause_publish(spec.on_error)]
    elif task_ex.state == State.SKIPPED:
        specs = [spec.publish_on_skip, _clause_publish(spec.on_complete), _clause_publish(spec.on_skip)]
    else:
        return
    merged = ctx.merge_publish(*specs)
    if not merged:
        task_ex.published = {}
        return
    data = ctx.publish_data(d.ex, task_ex)
    branch, glob = ctx.evaluate_publish(merged, data, d.runtime(task_ex))
    limit = d.limits.result_size
    size = max(json_size(branch, limit), json_size(glob, limit))
    if size > limit:
        raise TaskFailure(result_too_large("the published value", size, limit))
    task_ex.published = branch
    if glob:
        d.ex.context = ctx.deep_merge(d.ex.context, glob)
        d.state.touch(d.ex)


def _failure_info(state: State, result: Any, kind: str) -> str | None:
    """A failed task's state_info: the error (a sub-workflow's own ``result``), None if empty."""
    if state == State.SUCCESS:
        return None
    if kind == "WORKFLOW" and isinstance(result, dict):
        result = result.get("result")
    return None if result is None else str(result)


def _clause_publish(clause: Any) -> Any:
    return clause.publish if clause is not None else None
