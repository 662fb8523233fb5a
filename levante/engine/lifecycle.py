"""The workflow execution's own lifecycle: its start, pause and resume (its own, an async action's
or a sub-workflow's), cancel and forced ends, reruns and skips that re-open it, and settling
(decide joins, then end the execution when nothing is left).

The highest part below the dispatcher (:mod:`~levante.engine.conductor`): it calls the
transitions, the task part and :mod:`~levante.engine.ending`, and nothing calls it.
"""

from __future__ import annotations

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine import tasks, transitions
from levante.engine.commands import AbandonWork, Dispatch
from levante.engine.decision import Decision
from levante.engine.ending import failure_info, finish, force_fail
from levante.engine.records import WorkflowExecution
from levante.exceptions import ConflictError, ExpressionError
from levante.states import TASK_COMPLETED, State
from levante.workflows import expressions
from levante.workflows.specs import thaw

_ENDED = (State.SUCCESS, State.ERROR, State.CANCELLED)
_ACTIVE = frozenset({State.IDLE, State.RUNNING, State.WAITING, State.DELAYED, State.PAUSED})


def start(d: Decision) -> None:
    """Start the execution: evaluate ``env`` and ``vars``, then run the start tasks."""
    ex = d.ex
    ex.params.setdefault("env", {})
    ex.params.setdefault("namespace", "")
    ex.context = {"__execution": {"id": ex.id, "name": ex.workflow_name}, **ex.context}
    d.set_workflow_state(State.RUNNING)
    try:
        env = ctx.env_of(ex)
        if env and ex.params.get("evaluate_env", True) and expressions.has_expressions(env):
            ex.params["env"] = expressions.evaluate(env, {"__env": env}, d.runtime())
        if d.spec.vars:
            ex.context.update(expressions.evaluate(thaw(d.spec.vars), ctx.vars_data(ex), d.runtime()))
    except ExpressionError as exc:
        finish(d, State.ERROR, f"Failed to evaluate workflow vars or env: {exc}")
        return
    transitions.start_tasks(d)


def settle(d: Decision) -> None:
    """After any change: decide waiting joins, then complete the workflow if nothing is left."""
    for _ in range(len(d.state.tasks) + len(d.spec.tasks) + 1):
        if not transitions.decide_joins(d):
            break
    if d.ex.state != State.RUNNING:
        return
    # Only open tasks (held by the state, or still stored so) can be active or unprocessed.
    if d.state.anything_open(lambda t: t.state in _ACTIVE):
        return
    if d.spec.type == "reverse" and transitions.run_reverse(d):
        return
    everything = d.state.all_tasks()  # the end: read once what ended earlier
    cancelled = [t.name for t in everything if t.state == State.CANCELLED]
    failed = [t for t in everything if t.state == State.ERROR
              and (not t.error_handled or d.spec.type == "reverse")]
    if cancelled:
        finish(d, State.CANCELLED, f"Cancelled tasks: {', '.join(cancelled)}")
    elif failed:
        finish(d, State.ERROR, failure_info(d, failed))
    else:
        finish(d, State.SUCCESS)


# --- pause and resume -------------------------------------------------------------------------


def on_pause(d: Decision, event: ev.PauseRequested) -> None:
    """RUNNING -> PAUSED; running sub-workflows are paused too."""
    if d.ex.state == State.PAUSED:
        d.ex.runtime_context.pop("paused_by_children", None)  # now paused on request: stays so
        d.state.touch(d.ex)
        return
    if event.cascade and d.ex.state in _ENDED:
        return  # the parent's pause arrived after this child ended
    d.set_workflow_state(State.PAUSED)
    for child in _children(d, {State.RUNNING, State.IDLE}):
        d.emit(Dispatch(ev.PauseRequested(child, cascade=True)))


def on_resume(d: Decision, event: ev.ResumeRequested) -> None:
    """PAUSED/IDLE -> RUNNING, then carry on with what the pause held back."""
    if d.ex.state not in (State.PAUSED, State.IDLE):
        return
    if event.env:
        d.ex.params["env"] = ctx.deep_merge(ctx.env_of(d.ex), event.env)
    _run_again(d, event.env)


def _run_again(d: Decision, env: dict[str, object] | None = None) -> None:
    """Run again: tell the parent, resume paused children, and carry on."""
    d.ex.runtime_context.pop("paused_by_children", None)
    d.set_workflow_state(State.RUNNING)
    if d.ex.parent_id and d.ex.task_execution_id:
        d.emit(Dispatch(ev.SubworkflowResumed(d.ex.parent_id, d.ex.task_execution_id, d.ex.id)))
    for child in _children(d, {State.PAUSED}):
        d.emit(Dispatch(ev.ResumeRequested(child, env=env)))
    for task_ex in list(d.state.open_tasks()):
        if task_ex.state == State.PAUSED and task_ex.type == "WORKFLOW":
            d.set_task_state(task_ex, State.RUNNING)
    transitions.resume_work(d)


def on_action_paused_or_resumed(d: Decision, event: ev.ActionCompleted) -> None:
    """An async action set PAUSED pauses its task and the workflow; RUNNING resumes them."""
    action_ex = d.state.actions.get(event.action_execution_id)
    if action_ex is None or action_ex.state in _ENDED:
        return  # unknown or already ended: nothing changes
    state = State(event.state)
    action_ex.state = state
    action_ex.updated_at = d.clock()
    d.state.touch(action_ex)
    task_ex = d.state.task_by_id(action_ex.task_execution_id or "")
    if task_ex is None:
        return
    if state == State.PAUSED and task_ex.state == State.RUNNING:
        d.set_task_state(task_ex, State.PAUSED)
        if d.ex.state == State.RUNNING:
            d.set_workflow_state(State.PAUSED)
    elif state == State.RUNNING and task_ex.state == State.PAUSED:
        d.set_task_state(task_ex, State.RUNNING)
        if d.ex.state == State.PAUSED and not any(t.state == State.PAUSED for t in d.state.open_tasks()):
            d.set_workflow_state(State.RUNNING)
            transitions.resume_work(d)


def on_subworkflow_paused(d: Decision, event: ev.SubworkflowPaused) -> None:
    """A sub-workflow paused: its task and this workflow pause too."""
    task_ex = d.state.task_by_id(event.task_execution_id)
    if task_ex is not None and task_ex.state == State.RUNNING:
        d.set_task_state(task_ex, State.PAUSED)
    if d.ex.state == State.RUNNING:
        # Remember that the children paused us, so that their resume resumes us too.
        d.ex.runtime_context["paused_by_children"] = [event.sub_execution_id]
        d.set_workflow_state(State.PAUSED)
    elif event.sub_execution_id not in d.ex.runtime_context.get("paused_by_children", [event.sub_execution_id]):
        d.ex.runtime_context["paused_by_children"].append(event.sub_execution_id)
    d.state.touch(d.ex)


def on_subworkflow_resumed(d: Decision, event: ev.SubworkflowResumed) -> None:
    """A paused sub-workflow runs again: its task runs again, and this workflow too when only its
    children had paused it."""
    task_ex = d.state.task_by_id(event.task_execution_id)
    if task_ex is not None and task_ex.state == State.PAUSED:
        d.set_task_state(task_ex, State.RUNNING)
    waiting = d.ex.runtime_context.get("paused_by_children")
    if d.ex.state != State.PAUSED or waiting is None:
        return
    if event.sub_execution_id in waiting:
        waiting.remove(event.sub_execution_id)
    d.state.touch(d.ex)
    if not waiting:
        _run_again(d)


def _children(d: Decision, states: set[State]) -> list[str]:
    """Ids of sub-workflow executions in ``states`` under this execution's unfinished tasks."""
    if d.store is None:
        return []
    out = []
    for task_ex in d.state.all_tasks():
        if task_ex.type == "WORKFLOW" and task_ex.state not in (State.SUCCESS, State.ERROR, State.SKIPPED):
            out += [c.id for c in d.store.sub_executions(task_ex.id) if c.state in states]
    return out


# --- cancel and forced ends -------------------------------------------------------------------


def on_cancel(d: Decision, event: ev.CancelRequested) -> None:
    """Cancel: the execution ends CANCELLED, and so does everything still running in it: its
    tasks here, its action executions and its sub-executions at any depth (the service does
    those in bulk, see :class:`AbandonWork`). Unlike Mistral, running work is not left to
    finish: a late result is refused (the callback gets a 409)."""
    if d.ex.state in _ENDED:
        return
    _abandon_work(d, f"workflow execution {d.ex.id} was cancelled", event.message)
    finish(d, State.CANCELLED, event.message)


def on_stop(d: Decision, event: ev.StopRequested) -> None:
    """Force SUCCESS or ERROR (no-op on a completed execution); what still runs is abandoned
    (ends CANCELLED) as on a cancel."""
    if d.ex.state in _ENDED:
        return
    _abandon_work(d, f"workflow execution {d.ex.id} was set to {event.state} by request", event.message)
    finish(d, State(event.state), event.message)


def _abandon_work(d: Decision, reason: str, message: str | None = None) -> None:
    """Every task of this execution that has not ended ends CANCELLED now (a with-items task
    counts its running items as cancelled, so that a rerun without reset runs them again); the
    service then ends the action executions and the sub-executions below (AbandonWork)."""
    command = AbandonWork(d.ex.id, reason, message)
    now = d.clock()
    for task_ex in list(d.state.open_tasks()):
        if task_ex.state in TASK_COMPLETED:
            continue
        wi = task_ex.runtime_context.get("with_items")
        if wi and wi.get("running"):
            wi["done"] += wi["running"]
            wi["cancelled"] = wi.get("cancelled", 0) + wi["running"]
            wi["running"] = 0
        d.set_task_state(task_ex, State.CANCELLED, command.info)
        task_ex.processed = True
        task_ex.finished_at = now
    d.emit(command)


def refuse_request(ex: WorkflowExecution, event: ev.Event) -> None:
    """A cancel or a pause asked of an execution that has already ended is refused (409) with a
    message naming its state (Mistral silently ignores the cancel; a user who cancels a finished
    execution should learn that nothing was cancelled).

    Raises:
        ConflictError: ``event`` is a cancel or a (requested, not cascaded) pause and ``ex`` ended.
    """
    if ex.state not in _ENDED:
        return
    if isinstance(event, ev.CancelRequested):
        verb = "cancelled"
    elif isinstance(event, ev.PauseRequested) and not event.cascade:
        verb = "paused"
    else:
        return
    raise ConflictError(f"Workflow execution {ex.id} cannot be {verb}: it has already ended "
                        f"in state {ex.state}.")


# --- re-opening: reruns and skips -------------------------------------------------------------


def _reopen(d: Decision) -> None:
    """An ended execution runs again (a rerun inside it); its parent is told to reopen too."""
    d.set_workflow_state(State.RUNNING)
    d.ex.output = {}
    d.ex.finished_at = None
    if d.ex.parent_id and d.ex.task_execution_id:
        d.emit(Dispatch(ev.SubworkflowReopened(d.ex.parent_id, d.ex.task_execution_id, d.ex.id)))


def on_subworkflow_reopened(d: Decision, event: ev.SubworkflowReopened) -> None:
    """A failed sub-workflow was rerun: its task (and this workflow) run again."""
    task_ex = d.state.task_by_id(event.task_execution_id)
    if task_ex is None or task_ex.state not in (State.ERROR, State.CANCELLED):
        return
    task_ex.runtime_context.get("subworkflows", {}).pop(event.sub_execution_id, None)
    wi = task_ex.runtime_context.get("with_items")
    if wi:
        wi["done"] -= 1
        wi["running"] += 1
        wi["errors"] = max(0, wi["errors"] - 1)
    task_ex.processed = False
    task_ex.finished_at = None
    task_ex.next_tasks, task_ex.has_next_tasks, task_ex.error_handled = [], False, False
    d.set_task_state(task_ex, State.RUNNING)
    if d.ex.state in (State.ERROR, State.CANCELLED):
        _reopen(d)


def on_rerun(d: Decision, event: ev.RerunRequested) -> None:
    """Run a failed (or cancelled) task again, in the same task execution."""
    task_ex = d.state.task_by_id(event.task_execution_id)
    if task_ex is None or task_ex.state not in (State.ERROR, State.CANCELLED):
        return
    if d.ex.state == State.PAUSED:
        return
    if event.env:
        d.ex.params["env"] = ctx.deep_merge(ctx.env_of(d.ex), event.env)
    if d.ex.state in (State.ERROR, State.CANCELLED):
        _reopen(d)
    task_ex.processed = False
    task_ex.finished_at = None
    task_ex.next_tasks, task_ex.has_next_tasks, task_ex.error_handled = [], False, False
    for join_ex in d.state.all_tasks():
        if join_ex.unique_key and join_ex.state == State.ERROR:
            d.set_task_state(join_ex, State.WAITING, "Task is waiting.")
            join_ex.processed = False
    d.state.log("task_rerun", task=task_ex.name, task_execution_id=task_ex.id, reset=event.reset)
    rc = task_ex.runtime_context
    if not event.reset and rc.get("with_items") and task_ex.type == "ACTION":
        rc.pop("retry_task_policy", None)
        tasks.rerun_failed_items(d, task_ex)
        return
    d.unaccept_results(task_ex)
    task_ex.runtime_context = {"attempt": int(rc.get("attempt", 0)) + 1,
                               "rerun_no": int(rc.get("rerun_no", 0)) + 1}
    tasks.start_task(d, task_ex)
    transitions.follow(d)


def on_skip(d: Decision, event: ev.SkipRequested) -> None:
    """ERROR -> SKIPPED, publish-on-skip, then on-skip (or on-success)."""
    task_ex = d.state.task_by_id(event.task_execution_id)
    if task_ex is None or task_ex.state != State.ERROR:
        return
    if d.ex.state in (State.ERROR, State.CANCELLED):
        _reopen(d)
    d.set_task_state(task_ex, State.SKIPPED, "Task was skipped.")
    task_ex.processed = False
    try:
        tasks.publish(d, task_ex, d.task_spec(task_ex))
    except ExpressionError as exc:
        force_fail(d, task_ex, str(exc))
        return
    transitions.process_transitions(d, task_ex)
