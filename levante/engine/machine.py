"""The engine's decisions for one workflow execution: spec + state + event in, changes + commands out.

:class:`Conductor` is pure: no database, broker or HTTP. The service loads an
:class:`~levante.engine.state.ExecutionState` under the execution's lock, calls :meth:`Conductor.start`
or :meth:`Conductor.handle`, writes back ``state.changed`` and carries out the returned commands in
the same transaction. Task-level logic lives in :mod:`levante.engine.tasks`, transitions and joins in
:mod:`levante.engine.transitions`; this module holds the workflow level: start, lifecycle requests,
completion and output.
"""

from __future__ import annotations

from typing import Any

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine.base import MAX_STATE_INFO
from levante.engine.commands import AbandonWork, Command, Completed, Dispatch
from levante.engine.limits import json_size, result_too_large
from levante.engine.model import TaskExecution, WorkflowExecution
from levante.engine.tasks import TaskLogic
from levante.engine.transitions import TransitionLogic
from levante.exceptions import ConflictError, ExpressionError
from levante.states import TASK_COMPLETED, State
from levante.workflows import expressions
from levante.workflows.specs import thaw

_ACTIVE = frozenset({State.IDLE, State.RUNNING, State.WAITING, State.DELAYED, State.PAUSED})


class Conductor(TaskLogic, TransitionLogic):
    """Applies one event (or the start) to one workflow execution.

    Construct with ``Conductor(state, catalog, store=None, clock=utcnow, rng=None, limits=None)``.
    """

    # --- entry points ---------------------------------------------------------------------

    def start(self) -> list[Command]:
        """Start the execution: evaluate ``vars`` and run the start tasks."""
        ex = self.ex
        ex.params.setdefault("env", {})
        ex.params.setdefault("namespace", "")
        ex.context = {"__execution": {"id": ex.id, "name": ex.workflow_name}, **ex.context}
        self.set_workflow_state(State.RUNNING)
        try:
            env = ctx.env_of(ex)
            if env and ex.params.get("evaluate_env", True) and expressions.has_expressions(env):
                ex.params["env"] = expressions.evaluate(env, {"__env": env}, self.runtime())
            if self.spec.vars:
                ex.context.update(expressions.evaluate(thaw(self.spec.vars), ctx.vars_data(ex), self.runtime()))
        except ExpressionError as exc:
            self.finish(State.ERROR, f"Failed to evaluate workflow vars or env: {exc}")
            return self.commands
        if self.spec.type == "reverse":
            self.run_reverse()
        else:
            for name in self.spec.start_tasks():
                self.new_task(name, {}, {}, None)
        self.settle()
        return self.commands

    def handle(self, event: ev.Event) -> list[Command]:
        """Apply one event; unknown or stale events change nothing."""
        handler = {
            ev.ActionCompleted: self.on_action_completed,
            ev.SubworkflowCompleted: self.on_subworkflow_completed,
            ev.SubworkflowPaused: self.on_subworkflow_paused,
            ev.SubworkflowResumed: self.on_subworkflow_resumed,
            ev.SubworkflowReopened: self.on_subworkflow_reopened,
            ev.TimerFired: self.on_timer,
            ev.PauseRequested: self.on_pause,
            ev.ResumeRequested: self.on_resume,
            ev.CancelRequested: self.on_cancel,
            ev.StopRequested: self.on_stop,
            ev.RerunRequested: self.on_rerun,
            ev.SkipRequested: self.on_skip,
        }.get(type(event))
        if handler is None:
            raise ValueError(f"no handler for event {event!r}")
        handler(event)  # type: ignore[operator]
        if self.ex.state == State.RUNNING:
            self.settle()
        return self.commands

    # --- lifecycle requests ---------------------------------------------------------------

    def on_pause(self, event: ev.PauseRequested) -> None:
        """RUNNING -> PAUSED; running sub-workflows are paused too."""
        if self.ex.state == State.PAUSED:
            self.ex.runtime_context.pop("paused_by_children", None)  # now paused on request: stays so
            self.state.touch(self.ex)
            return
        if event.cascade and self.ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
            return  # the parent's pause arrived after this child ended
        self.set_workflow_state(State.PAUSED)
        for child in self.running_children():
            self.emit(Dispatch(ev.PauseRequested(child, cascade=True)))

    def on_resume(self, event: ev.ResumeRequested) -> None:
        """PAUSED/IDLE -> RUNNING, then carry on with what the pause held back."""
        if self.ex.state not in (State.PAUSED, State.IDLE):
            return
        if event.env:
            self.ex.params["env"] = ctx.deep_merge(ctx.env_of(self.ex), event.env)
        self.run_again(event.env)

    def run_again(self, env: dict[str, Any] | None = None) -> None:
        """Run again: tell the parent, resume paused children, and carry on."""
        self.ex.runtime_context.pop("paused_by_children", None)
        self.set_workflow_state(State.RUNNING)
        if self.ex.parent_id and self.ex.task_execution_id:
            self.emit(Dispatch(ev.SubworkflowResumed(self.ex.parent_id, self.ex.task_execution_id, self.ex.id)))
        for child in self.paused_children():
            self.emit(Dispatch(ev.ResumeRequested(child, env=env)))
        for task_ex in self.state.tasks:
            if task_ex.state == State.PAUSED and task_ex.type == "WORKFLOW":
                self.set_task_state(task_ex, State.RUNNING)
        self.resume_work()

    def on_cancel(self, event: ev.CancelRequested) -> None:
        """Cancel: the execution ends CANCELLED, and so does everything still running in it: its
        tasks here, its action executions and its sub-executions at any depth (the service does
        those in bulk, see :class:`AbandonWork`). Unlike Mistral, running work is not left to
        finish: a late result is refused (the callback gets a 409)."""
        if self.ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
            return
        self.abandon_work(f"workflow execution {self.ex.id} was cancelled", event.message)
        self.finish(State.CANCELLED, event.message)

    def on_stop(self, event: ev.StopRequested) -> None:
        """Force SUCCESS or ERROR (no-op on a completed execution); what still runs is abandoned
        (ends CANCELLED) as on a cancel."""
        if self.ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
            return
        self.abandon_work(f"workflow execution {self.ex.id} was set to {event.state} by request", event.message)
        self.finish(State(event.state), event.message)

    def abandon_work(self, reason: str, message: str | None = None) -> None:
        """Every task of this execution that has not ended ends CANCELLED now (a with-items task
        counts its running items as cancelled, so that a rerun without reset runs them again);
        the service then ends the action executions and the sub-executions below (AbandonWork)."""
        command = AbandonWork(self.ex.id, reason, message)
        now = self.clock()
        for task_ex in self.state.tasks:
            if task_ex.state in TASK_COMPLETED:
                continue
            wi = task_ex.runtime_context.get("with_items")
            if wi and wi.get("running"):
                wi["done"] += wi["running"]
                wi["cancelled"] = wi.get("cancelled", 0) + wi["running"]
                wi["running"] = 0
            self.set_task_state(task_ex, State.CANCELLED, command.info)
            task_ex.processed = True
            task_ex.finished_at = now
        self.emit(command)

    # --- completion -------------------------------------------------------------------------

    def settle(self) -> None:
        """After any change: decide waiting joins, then complete the workflow if nothing is left."""
        for _ in range(len(self.state.tasks) + 1):
            if not self.decide_joins():
                break
        if self.ex.state != State.RUNNING:
            return
        if any(t.state in _ACTIVE for t in self.state.tasks):
            return
        if any(not t.processed for t in self.state.tasks):
            return
        if self.spec.type == "reverse" and self.run_reverse():
            return
        cancelled = [t.name for t in self.state.tasks if t.state == State.CANCELLED]
        failed = [t for t in self.state.tasks if t.state == State.ERROR
                  and (not t.error_handled or self.spec.type == "reverse")]
        if cancelled:
            self.finish(State.CANCELLED, f"Cancelled tasks: {', '.join(cancelled)}")
        elif failed:
            self.finish(State.ERROR, self.failure_info(failed))
        else:
            self.finish(State.SUCCESS)

    def failure_info(self, failed: list[TaskExecution]) -> str:
        """Mistral's ``state_info`` for a failed workflow: the failed tasks by name, each with
        every failed action execution (retries included) and failed sub-workflow."""
        failed = sorted(failed, key=lambda t: t.name)
        text = f"Failure caused by error in tasks: {', '.join(t.name for t in failed)}\n"
        for task_ex in failed:
            text += f"\n  {task_ex.name} [task_ex_id={task_ex.id}] -> {task_ex.state_info}\n"
            if task_ex.type == "WORKFLOW":
                subs = self.store.sub_executions(task_ex.id) if self.store else []
                for idx, sub in enumerate(s for s in subs if s.state == State.ERROR):
                    text += f"    [wf_ex_id={sub.id}, idx={idx}]: {sub.output.get('result')}\n"
                continue
            for idx, action_ex in enumerate(a for a in self.task_actions(task_ex) if a.state == State.ERROR):
                text += f"    [action_ex_id={action_ex.id}, idx={idx}]: {action_ex.output.get('result')}\n"
        return text

    def final_context(self) -> dict[str, Any]:
        """Direct: merge of the outbound contexts of completed tasks that led nowhere. Reverse:
        the target task's outbound context."""
        if self.spec.type == "reverse":
            target = self.state.latest(self.ex.params.get("task_name", ""))
            return ctx.outbound(target) if target else {}
        ends = [t for t in self.state.tasks if t.state in (State.SUCCESS, State.ERROR, State.SKIPPED)
                and not t.has_next_tasks]
        merged, _ = ctx.merge_contexts([(ctx.outbound(t), ctx.outbound_versions(t)) for t in ends])
        return merged

    def finish(self, state: State, info: str | None = None) -> None:
        """Move the execution to a terminal state, with its output; tell the parent."""
        ex = self.ex
        if ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
            return
        if info and len(info) > MAX_STATE_INFO:
            # The error output repeats the state_info; each parent of a failed sub-workflow repeats
            # its child's: kept whole, they would grow with the depth of the tree.
            info = info[:MAX_STATE_INFO]
        too_large = False
        if state == State.SUCCESS:
            final = self.final_context()
            try:
                output = expressions.evaluate(thaw(self.spec.output), ctx.workflow_data(ex, final),
                                              self.runtime()) if self.spec.output is not None else None
            except ExpressionError as exc:
                state = State.ERROR
                info = f"Failed to check and complete [wf_ex_id={ex.id}, wf_name={ex.workflow_name}]: {exc}"
            else:
                output = output if output else final
                size = json_size(output, self.limits.result_size)
                if size > self.limits.result_size:
                    state = State.ERROR
                    info = result_too_large("the workflow's output", size, self.limits.result_size)
                    too_large = True  # the output is not merged with the context that was too large
                else:
                    ex.output = output
        if too_large:
            ex.output = {"result": info}
        elif state == State.ERROR:
            ex.output = self.error_output(info)
            info = ex.output.pop("__state_info", info)
        elif state == State.CANCELLED:
            ex.output = {"result": info}
        self.set_workflow_state(state, info)
        ex.finished_at = self.clock()
        self.emit(Completed(ex.id, str(state)))
        if ex.task_execution_id and ex.parent_id:
            self.emit(Dispatch(ev.SubworkflowCompleted(
                ex.parent_id, ex.task_execution_id, ex.id, str(state), thaw(ex.output), ex.state_info)))

    def error_output(self, info: str | None) -> dict[str, Any]:
        """``{"result": state_info}`` merged with ``output-on-error`` (or the final context)."""
        base: dict[str, Any] = {"result": info}
        final = self.final_context()
        if self.spec.output_on_error is None:
            return ctx.deep_merge(base, final)
        try:
            extra = expressions.evaluate(thaw(self.spec.output_on_error), ctx.workflow_data(self.ex, final),
                                         self.runtime())
        except ExpressionError as exc:
            message = f"Failed to evaluate expression in output-on-error! (output-on-error: {exc}) {info}"
            return {"result": message, "__state_info": message}
        return ctx.deep_merge(base, extra) if isinstance(extra, dict) else base

    def force_fail(self, task_ex: TaskExecution, message: str) -> None:
        """A structural error (bad expression, missing action): the task and the workflow fail
        at once; ``on-error`` is not processed."""
        self.set_task_state(task_ex, State.ERROR, message)
        task_ex.processed = True
        task_ex.finished_at = self.clock()
        if self.ex.state in (State.RUNNING, State.PAUSED):
            self.finish(State.ERROR, message)

    # --- children ---------------------------------------------------------------------------

    def running_children(self) -> list[str]:
        """Ids of sub-workflow executions still running under this execution's tasks."""
        return self._children({State.RUNNING, State.IDLE})

    def paused_children(self) -> list[str]:
        """Ids of paused sub-workflow executions."""
        return self._children({State.PAUSED})

    def _children(self, states: set[State]) -> list[str]:
        if self.store is None:
            return []
        out = []
        for task_ex in self.state.tasks:
            if task_ex.type == "WORKFLOW" and task_ex.state not in (State.SUCCESS, State.ERROR, State.SKIPPED):
                out += [c.id for c in self.store.sub_executions(task_ex.id) if c.state in states]
        return out


def refuse_request(ex: WorkflowExecution, event: ev.Event) -> None:
    """A cancel or a pause asked of an execution that has already ended is refused (409) with a
    message naming its state (Mistral silently ignores the cancel; a user who cancels a finished
    execution should learn that nothing was cancelled).

    Raises:
        ConflictError: ``event`` is a cancel or a (requested, not cascaded) pause and ``ex`` ended.
    """
    if ex.state not in (State.SUCCESS, State.ERROR, State.CANCELLED):
        return
    if isinstance(event, ev.CancelRequested):
        verb = "cancelled"
    elif isinstance(event, ev.PauseRequested) and not event.cascade:
        verb = "paused"
    else:
        return
    raise ConflictError(f"Workflow execution {ex.id} cannot be {verb}: it has already ended "
                        f"in state {ex.state}.")
