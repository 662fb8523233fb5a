"""How a workflow execution ends: its terminal state, its output (or error output), and the word
to its parent. The lowest part of the conductor: it calls no other part.
"""

from __future__ import annotations

from typing import Any

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine.commands import Completed, Dispatch
from levante.engine.decision import MAX_STATE_INFO, Decision
from levante.engine.limits import json_size, result_too_large
from levante.engine.records import TaskExecution
from levante.exceptions import ExpressionError
from levante.states import State
from levante.workflows import expressions
from levante.workflows.specs import thaw


def finish(d: Decision, state: State, info: str | None = None) -> None:
    """Move the execution to a terminal state, with its output; tell the parent."""
    ex = d.ex
    if ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
        return
    if info and len(info) > MAX_STATE_INFO:
        # The error output repeats the state_info; each parent of a failed sub-workflow repeats
        # its child's: kept whole, they would grow with the depth of the tree.
        info = info[:MAX_STATE_INFO]
    too_large = False
    if state == State.SUCCESS:
        final = final_context(d)
        try:
            output = expressions.evaluate(thaw(d.spec.output), ctx.workflow_data(ex, final),
                                          d.runtime()) if d.spec.output is not None else None
        except ExpressionError as exc:
            state = State.ERROR
            info = f"Failed to check and complete [wf_ex_id={ex.id}, wf_name={ex.workflow_name}]: {exc}"
        else:
            output = output if output else final
            size = json_size(output, d.limits.result_size)
            if size > d.limits.result_size:
                state = State.ERROR
                info = result_too_large("the workflow's output", size, d.limits.result_size)
                too_large = True  # the output is not merged with the context that was too large
            else:
                ex.output = output
    if too_large:
        ex.output = {"result": info}
    elif state == State.ERROR:
        ex.output = _error_output(d, info)
        info = ex.output.pop("__state_info", info)
    elif state == State.CANCELLED:
        ex.output = {"result": info}
    d.set_workflow_state(state, info)
    ex.finished_at = d.clock()
    d.emit(Completed(ex.id, str(state)))
    if ex.task_execution_id and ex.parent_id:
        d.emit(Dispatch(ev.SubworkflowCompleted(
            ex.parent_id, ex.task_execution_id, ex.id, str(state), thaw(ex.output), ex.state_info)))


def force_fail(d: Decision, task_ex: TaskExecution, message: str) -> None:
    """A structural error (bad expression, missing action): the task and the workflow fail at
    once; ``on-error`` is not processed."""
    d.set_task_state(task_ex, State.ERROR, message)
    task_ex.processed = True
    task_ex.finished_at = d.clock()
    if d.ex.state in (State.RUNNING, State.PAUSED):
        finish(d, State.ERROR, message)


def failure_info(d: Decision, failed: list[TaskExecution]) -> str:
    """Mistral's ``state_info`` for a failed workflow: the failed tasks by name, each with every
    failed action execution (retries included) and failed sub-workflow."""
    failed = sorted(failed, key=lambda t: t.name)
    text = f"Failure caused by error in tasks: {', '.join(t.name for t in failed)}\n"
    for task_ex in failed:
        text += f"\n  {task_ex.name} [task_ex_id={task_ex.id}] -> {task_ex.state_info}\n"
        if task_ex.type == "WORKFLOW":
            subs = d.store.sub_executions(task_ex.id) if d.store else []
            for idx, sub in enumerate(s for s in subs if s.state == State.ERROR):
                text += f"    [wf_ex_id={sub.id}, idx={idx}]: {sub.output.get('result')}\n"
            continue
        for idx, action_ex in enumerate(a for a in d.task_actions(task_ex) if a.state == State.ERROR):
            text += f"    [action_ex_id={action_ex.id}, idx={idx}]: {action_ex.output.get('result')}\n"
    return text


def final_context(d: Decision) -> dict[str, Any]:
    """Direct: merge of the outbound contexts of completed tasks that led nowhere. Reverse: the
    target task's outbound context."""
    if d.spec.type == "reverse":
        target = d.state.latest(d.ex.params.get("task_name", ""))
        return ctx.outbound(target) if target else {}
    ends = [t for t in d.state.all_tasks() if t.state in (State.SUCCESS, State.ERROR, State.SKIPPED)
            and not t.has_next_tasks]
    merged, _ = ctx.merge_contexts([(ctx.outbound(t), ctx.outbound_versions(t)) for t in ends])
    return merged


def _error_output(d: Decision, info: str | None) -> dict[str, Any]:
    """``{"result": state_info}`` merged with ``output-on-error`` (or the final context)."""
    base: dict[str, Any] = {"result": info}
    final = final_context(d)
    if d.spec.output_on_error is None:
        return ctx.deep_merge(base, final)
    try:
        extra = expressions.evaluate(thaw(d.spec.output_on_error), ctx.workflow_data(d.ex, final), d.runtime())
    except ExpressionError as exc:
        message = f"Failed to evaluate expression in output-on-error! (output-on-error: {exc}) {info}"
        return {"result": message, "__state_info": message}
    return ctx.deep_merge(base, extra) if isinstance(extra, dict) else base
