"""After-complete policies (wait-after, fail-on, retry) and the timers that continue a task
(wait-before, wait-after, retry delays, timeouts). A part of the Conductor."""

from __future__ import annotations

from levante.engine import context as ctx
from levante.engine import events as ev
from levante.engine.base import ConductorBase, TaskFailure, attempt, generation
from levante.engine.commands import Schedule
from levante.engine.model import TaskExecution
from levante.engine.policies import retry_delay
from levante.exceptions import ExpressionError
from levante.states import State
from levante.workflows import expressions
from levante.workflows.specs import TaskSpec


class TimerLogic(ConductorBase):
    """What happens after an action completes, before transitions, and when timers come due."""

    def _after_complete(self, task_ex: TaskExecution, spec: TaskSpec) -> bool:
        """wait-after, fail-on, retry. True when the task goes on waiting instead of completing."""
        policies = spec.policies
        rc = task_ex.runtime_context
        if task_ex.state == State.CANCELLED:
            return False
        if policies.wait_after is not None and not rc.get("wait_after_policy", {}).get("skip"):
            delay = self.policy_value(task_ex, "wait-after", policies.wait_after, "number")
            if delay > 0:
                rc["wait_after_policy"] = {"skip": True, "state": str(task_ex.state), "info": task_ex.state_info}
                self.set_task_state(task_ex, State.DELAYED, f"Delayed by 'wait-after' policy [delay={delay}]")
                self.emit(Schedule(delay, ev.TimerFired(
                    self.ex.id, task_ex.id, "wait_after", attempt(task_ex))))
                return True
        if policies.fail_on is not None and task_ex.state == State.SUCCESS:
            if self.policy_value(task_ex, "fail-on", policies.fail_on, "bool"):
                self.set_task_state(task_ex, State.ERROR, "Failed by 'fail-on' policy")
        if policies.retry is not None and not rc.get("timed_out"):
            return self._retry(task_ex, spec)
        return False

    def _retry(self, task_ex: TaskExecution, spec: TaskSpec) -> bool:
        retry = spec.policies.retry
        assert retry is not None
        rc = task_ex.runtime_context
        rc.setdefault("retry_task_policy", {})  # Mistral shows {} until the first retry
        retry_no = rc["retry_task_policy"].get("retry_no", 0)
        count = self.policy_value(task_ex, "retry count", retry.count, "int")
        data = ctx.transition_data(self.ex, task_ex)
        runtime = self.runtime(task_ex)
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
            self.policy_value(task_ex, "retry delay", retry.delay, "number"),
            self.policy_value(task_ex, "retry backoff", retry.backoff, "number"),
            None if retry.max_delay is None
            else self.policy_value(task_ex, "retry max-delay", retry.max_delay, "number"),
            bool(self.policy_value(task_ex, "retry jitter", retry.jitter, "bool")),
            self.rng,
        )
        for action_ex in self.task_actions(task_ex):
            if action_ex.accepted:
                action_ex.accepted = False
                self.state.touch(action_ex)
        rc["retry_task_policy"] = {"retry_no": retry_no + 1}
        rc["attempt"] = attempt(task_ex) + 1
        waiting = State.WAITING if spec.join is not None else State.DELAYED
        self.set_task_state(task_ex, waiting, f"Delayed by 'retry' policy [delay={delay}]")
        self.emit(Schedule(delay, ev.TimerFired(self.ex.id, task_ex.id, "retry", attempt(task_ex))))
        return True

    # --- timers -----------------------------------------------------------------------------

    def on_timer(self, event: ev.TimerFired) -> None:
        """A delayed call came due."""
        task_ex = self.state.task_by_id(event.task_execution_id)
        if task_ex is None or task_ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED, State.SKIPPED):
            return  # an ended task (e.g. cancelled with its workflow) needs no timer
        if event.purpose == "timeout":
            # One timeout covers every retry of a run: it is stale only after a rerun.
            if event.attempt == generation(task_ex) and task_ex.state in (State.RUNNING, State.DELAYED, State.WAITING):
                task_ex.runtime_context["timed_out"] = True
                task_ex.runtime_context["wait_after_policy"] = {"skip": True}
                timeout = task_ex.runtime_context.get("timeout")
                self.complete_task(task_ex, State.ERROR, None, f"Task timed out [timeout(s)={timeout}].")
            return
        if event.attempt != attempt(task_ex):
            return  # stale timer (the task was retried or rerun since)
        if self.ex.state != State.RUNNING:
            task_ex.runtime_context["resume_timer"] = event.purpose
            self.state.touch(task_ex)
            return
        self.continue_after_timer(task_ex, event.purpose)

    def continue_after_timer(self, task_ex: TaskExecution, purpose: str) -> None:
        """Carry on after wait-before, wait-after or a retry delay."""
        if purpose == "wait_after" and task_ex.state == State.DELAYED:
            saved = task_ex.runtime_context.get("wait_after_policy", {})
            self.set_task_state(task_ex, State(saved.get("state", "SUCCESS")), saved.get("info"))
            try:
                if self._after_complete(task_ex, self.task_spec(task_ex)):
                    return
            except TaskFailure as exc:
                self.force_fail(task_ex, f"Failed to complete task [error={exc}]")
                return
            self.process_transitions(task_ex)
        elif purpose == "wait_before" and task_ex.state == State.DELAYED:
            self.set_task_state(task_ex, State.RUNNING)
            self._schedule_or_fail(task_ex)
        elif purpose == "retry" and task_ex.state in (State.DELAYED, State.WAITING):
            task_ex.finished_at = None
            task_ex.runtime_context.pop("wait_after_policy", None)
            self.set_task_state(task_ex, State.RUNNING)
            self._schedule_or_fail(task_ex)

    def _schedule_or_fail(self, task_ex: TaskExecution) -> None:
        try:
            self.schedule_work(task_ex)
        except TaskFailure as exc:
            self.force_fail(task_ex, str(exc))
