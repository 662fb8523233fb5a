"""Where a completed task leads: ``on-*`` clauses, engine commands, joins, reverse workflows,
and the requests that re-open tasks (resume, rerun, skip).

A part of :class:`levante.engine.machine.Conductor`.
"""

from __future__ import annotations

from typing import Any

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine.base import ConductorBase
from levante.engine.model import TaskExecution
from levante.exceptions import ExpressionError
from levante.states import State
from levante.workflows import expressions
from levante.workflows.specs import TaskSpec, TransitionSpec, thaw

_COMPLETED = (State.SUCCESS, State.ERROR, State.CANCELLED, State.SKIPPED)
#: A computed transition: (target, event name, the transition spec).
Step = tuple[str, str, TransitionSpec]


class TransitionLogic(ConductorBase):
    """Transitions, joins and reverse scheduling."""

    # --- direct workflows -----------------------------------------------------------------

    def next_steps(self, task_ex: TaskExecution) -> list[Step]:
        """The transitions a completed task takes, in Mistral's order, conditions evaluated.

        Raises:
            ExpressionError: a condition failed to evaluate.
        """
        spec: TaskSpec = self.spec.tasks[task_ex.name]
        data = ctx.transition_data(self.ex, task_ex)
        runtime = self.runtime(task_ex)
        if task_ex.state == State.SUCCESS:
            events = [("on-success", spec.on_success), ("on-complete", spec.on_complete)]
        elif task_ex.state == State.ERROR:
            events = [("on-error", spec.on_error), ("on-complete", spec.on_complete)]
        elif task_ex.state == State.SKIPPED:
            events = [("on-skip", spec.on_skip)] if spec.on_skip and spec.on_skip.transitions \
                else [("on-success", spec.on_success)]
        else:
            return []
        steps: list[Step] = []
        for event, clause in events:
            for transition in (clause.transitions if clause else ()):
                if transition.condition is None or _truthy(expressions.evaluate(
                        thaw(transition.condition), data, runtime)):
                    steps.append((transition.target, event, transition))
        return steps

    def process_transitions(self, task_ex: TaskExecution) -> None:
        """Compute and (unless the workflow is paused) carry out a completed task's transitions."""
        if self.spec.type == "reverse":
            task_ex.processed = True
            self.state.touch(task_ex)
            if self.ex.state == State.RUNNING:
                self.run_reverse()
            return
        try:
            steps = self.next_steps(task_ex)
        except ExpressionError as exc:
            self.force_fail(task_ex, f"Failed to handle action completion [error={exc}, "
                                     f"wf={self.ex.workflow_name}, task={task_ex.name}]")
            return
        task_ex.error_handled = task_ex.state == State.ERROR and any(e == "on-error" for _, e, _ in steps)
        tasks = [s for s in steps if not s[2].is_command]
        task_ex.next_tasks = [[name, event] for name, event, _ in tasks]
        task_ex.has_next_tasks = bool(tasks)
        self.state.touch(task_ex)
        if self.ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
            task_ex.processed = True  # the workflow already ended: the outcome changes nothing
            return
        if self.ex.state != State.RUNNING:
            return  # paused: picked up on resume (processed stays False)
        task_ex.processed = True
        self.dispatch(task_ex, steps)

    def dispatch(self, task_ex: TaskExecution, steps: list[Step], ignore_pause: bool = False) -> None:
        """Carry out steps: tasks before the first engine command, then the command."""
        for index, (target, event, transition) in enumerate(steps):
            if not transition.is_command:
                self.transition_to(target, task_ex, event)
                continue
            command = transition.target
            if command == "noop" or (command == "pause" and ignore_pause):
                continue
            try:
                message = self._command_message(task_ex, transition)
            except ExpressionError as exc:
                self.force_fail(task_ex, f"Failed to handle action completion [error={exc}, "
                                         f"wf={self.ex.workflow_name}, task={task_ex.name}]")
                return
            if command == "pause":
                # The commands after 'pause' are kept as decided now, and carried out on resume.
                backlog = [[task_ex.id, t, e, tr.is_command, tr.target] for t, e, tr in steps[index + 1:]]
                self.ex.runtime_context.setdefault("backlog", []).extend(backlog)
                self.set_workflow_state(State.PAUSED, message)
                return
            self.finish(State.ERROR if command == "fail" else State.SUCCESS, message)
            return

    def _command_message(self, task_ex: TaskExecution, transition: TransitionSpec) -> str | None:
        msg = transition.params.get("msg")
        if msg is None:
            return None
        value = expressions.evaluate(msg, ctx.transition_data(self.ex, task_ex), self.runtime(task_ex))
        return None if value is None else str(value)

    def transition_to(self, target: str, source: TaskExecution, event: str) -> None:
        """Start ``target`` from ``source`` (or register the arrival at a join)."""
        trigger = {"task_id": source.id, "event": event}
        if self.spec.tasks[target].join is not None:
            self._arrive_at_join(target, source, trigger)
            return
        self.new_task(target, ctx.outbound(source), ctx.outbound_versions(source), trigger)

    # --- joins ------------------------------------------------------------------------------

    def _arrive_at_join(self, target: str, source: TaskExecution, trigger: dict[str, str]) -> None:
        key = f"join-task-{self.ex.id}-{target}"
        join_ex = next((t for t in self.state.tasks if t.unique_key == key), None)
        if join_ex is None:
            join_ex = self.new_task(target, {}, {}, None, state=State.WAITING, start=False)
            join_ex.unique_key = key
            join_ex.state_info = "Task is waiting."
        elif join_ex.state in _COMPLETED:
            # A join inside a loop: the same execution waits again (Mistral's behaviour).
            join_ex.processed = False
            join_ex.runtime_context.pop("triggered_by", None)
            self.set_task_state(join_ex, State.WAITING, "Task is waiting.")
        join_ex.runtime_context.setdefault("triggered_by", []).append(trigger)
        self.state.touch(join_ex)

    def decide_joins(self) -> bool:
        """Decide every waiting join that can be decided. Returns True when one was."""
        if self.ex.state != State.RUNNING:
            return False
        decided = False
        for join_ex in [t for t in self.state.tasks if t.unique_key and t.state == State.WAITING
                        and not t.runtime_context.get("retry_task_policy")]:
            decided |= self._decide_join(join_ex)
        return decided

    def _decide_join(self, join_ex: TaskExecution) -> bool:
        spec = self.spec.tasks[join_ex.name]
        inbound = self.spec.inbound(join_ex.name)
        need = len(inbound) if spec.join == "all" else int(spec.join or 0)
        arrived, failed = [], []
        for name in inbound:
            status = self._inbound_status(name, join_ex.name)
            if status == "arrived":
                arrived.append(name)
            elif status == "failed":
                failed.append(name)
        if len(arrived) >= need:
            sources = [self.state.latest(n) for n in arrived]
            merged, versions = ctx.merge_contexts(
                [(ctx.outbound(s), ctx.outbound_versions(s)) for s in sources if s is not None])
            join_ex.in_context, join_ex.in_versions = merged, versions
            self.start_task(join_ex)
            return True
        if len(failed) > len(inbound) - need:
            join_ex.in_context, join_ex.in_versions = ctx.merge_contexts(
                [(ctx.outbound(s), ctx.outbound_versions(s)) for s in
                 (self.state.latest(n) for n in arrived) if s is not None])
            self.complete_task(join_ex, State.ERROR, None, f"Failed by tasks: {failed}")
            return True
        return False

    def _inbound_status(self, name: str, join: str) -> str:
        """``arrived`` (completed with a transition to the join), ``failed`` (completed without
        one, or can no longer run), or ``waiting``."""
        task_ex = self.state.latest(name)
        if task_ex is not None:
            if task_ex.state not in _COMPLETED or not task_ex.processed:
                return "waiting"
            return "arrived" if any(n == join for n, _ in task_ex.next_tasks) else "failed"
        return "waiting" if self._may_run(name, set()) else "failed"

    def _may_run(self, name: str, seen: set[str]) -> bool:
        """Whether a task that has not run yet can still be reached."""
        if name in seen:
            return False
        seen.add(name)
        for upstream in self.spec.inbound(name):
            up_ex = self.state.latest(upstream)
            if up_ex is None:
                if self._may_run(upstream, seen):
                    return True
            elif up_ex.state not in _COMPLETED or not up_ex.processed:
                return True
            elif any(n == name for n, _ in up_ex.next_tasks):
                return True
        return False

    # --- reverse workflows ------------------------------------------------------------------

    def run_reverse(self) -> bool:
        """Start every task of the target's requirement tree whose requirements all succeeded.
        Returns True when something was started."""
        target = self.ex.params.get("task_name")
        started = False
        for name in self._requirement_order(target):
            if self.state.latest(name) is not None:
                continue
            reqs = [self.state.latest(r) for r in self.spec.tasks[name].requires]
            if all(r is not None and r.state == State.SUCCESS and r.processed for r in reqs):
                merged, versions = ctx.merge_contexts([(ctx.outbound(r), ctx.outbound_versions(r))
                                                       for r in reqs if r is not None])
                self.new_task(name, merged, versions, None)
                started = True
        return started

    def _requirement_order(self, target: str) -> list[str]:
        order: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen or name not in self.spec.tasks:
                return
            seen.add(name)
            for req in self.spec.tasks[name].requires:
                visit(req)
            order.append(name)

        visit(target)
        return order

    # --- re-opening work --------------------------------------------------------------------

    def resume_work(self) -> None:
        """After a resume: the backlog of a ``pause`` command, unprocessed completions, tasks held
        by pause-before, and timers that fired while paused."""
        backlog = self.ex.runtime_context.pop("backlog", [])
        self.state.touch(self.ex)
        for task_id, target, event, is_command, _name in backlog:
            source = self.state.task_by_id(task_id)
            if source is None or self.ex.state != State.RUNNING:
                continue
            if not is_command:
                self.transition_to(target, source, event)
            elif target in ("fail", "succeed"):
                self.finish(State.ERROR if target == "fail" else State.SUCCESS)
        for task_ex in list(self.state.tasks):
            if self.ex.state != State.RUNNING:
                return
            if task_ex.state in _COMPLETED and not task_ex.processed and task_ex.state != State.CANCELLED:
                try:
                    steps = self.next_steps(task_ex)
                except ExpressionError as exc:
                    self.force_fail(task_ex, str(exc))
                    return
                task_ex.processed = True
                self.state.touch(task_ex)
                self.dispatch(task_ex, steps, ignore_pause=True)
            elif task_ex.state == State.IDLE and task_ex.state_info == "Set by 'pause-before' policy":
                self.start_task(task_ex, skip_policies=True)
            elif task_ex.runtime_context.get("resume_timer"):
                purpose = task_ex.runtime_context.pop("resume_timer")
                self.continue_after_timer(task_ex, purpose)

    def on_rerun(self, event: ev.RerunRequested) -> None:
        """Run a failed (or cancelled) task again, in the same task execution."""
        task_ex = self.state.task_by_id(event.task_execution_id)
        if task_ex is None or task_ex.state not in (State.ERROR, State.CANCELLED):
            return
        if self.ex.state == State.PAUSED:
            return
        if event.env:
            self.ex.params["env"] = ctx.deep_merge(ctx.env_of(self.ex), event.env)
        if self.ex.state in (State.ERROR, State.CANCELLED):
            self.reopen()
        task_ex.processed = False
        task_ex.finished_at = None
        task_ex.next_tasks, task_ex.has_next_tasks, task_ex.error_handled = [], False, False
        for join_ex in self.state.tasks:
            if join_ex.unique_key and join_ex.state == State.ERROR:
                self.set_task_state(join_ex, State.WAITING, "Task is waiting.")
                join_ex.processed = False
        self.state.log("task_rerun", task=task_ex.name, task_execution_id=task_ex.id, reset=event.reset)
        rc = task_ex.runtime_context
        if not event.reset and rc.get("with_items") and task_ex.type == "ACTION":
            rc.pop("retry_task_policy", None)
            self.rerun_failed_items(task_ex)
            return
        for action_ex in self.task_actions(task_ex):
            if action_ex.accepted:
                action_ex.accepted = False
                self.state.touch(action_ex)
        task_ex.runtime_context = {"attempt": int(rc.get("attempt", 0)) + 1,
                                   "rerun_no": int(rc.get("rerun_no", 0)) + 1}
        self.start_task(task_ex)

    def on_skip(self, event: ev.SkipRequested) -> None:
        """ERROR -> SKIPPED, publish-on-skip, then on-skip (or on-success)."""
        task_ex = self.state.task_by_id(event.task_execution_id)
        if task_ex is None or task_ex.state != State.ERROR:
            return
        if self.ex.state in (State.ERROR, State.CANCELLED):
            self.reopen()
        self.set_task_state(task_ex, State.SKIPPED, "Task was skipped.")
        task_ex.processed = False
        try:
            self.publish(task_ex, self.spec.tasks[task_ex.name])
        except ExpressionError as exc:
            self.force_fail(task_ex, str(exc))
            return
        self.process_transitions(task_ex)



def _truthy(value: Any) -> bool:
    return bool(value)
