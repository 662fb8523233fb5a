"""Routing: where a completed task leads (``on-*`` clauses and engine commands), joins, reverse
workflows, and carrying on after a resume.

This part calls the task part (:mod:`~levante.engine.tasks`) to create, start or complete tasks,
and right after each such call follows the transitions of the tasks that call completed
(:func:`follow`), so a chain of tasks that complete at once is followed depth first, in the order
Mistral follows it.
"""

from __future__ import annotations

from typing import Any

from levante.engine import context as ctx
from levante.engine import tasks
from levante.engine.decision import Decision
from levante.engine.ending import finish, force_fail
from levante.engine.records import TaskExecution
from levante.exceptions import ExpressionError
from levante.states import TASK_COMPLETED, State
from levante.workflows import expressions
from levante.workflows.specs import TaskSpec, TransitionSpec, thaw

#: A computed transition: (target, event name, the transition spec).
Step = tuple[str, str, TransitionSpec]


def follow(d: Decision) -> None:
    """Follow the transitions of every task the last call into the task part completed."""
    while d.completed:
        process_transitions(d, d.completed.pop(0))


def start_tasks(d: Decision) -> None:
    """The first tasks of a starting execution (a reverse workflow's runnable requirements)."""
    if d.spec.type == "reverse":
        run_reverse(d)
        return
    for name in d.spec.start_tasks():
        tasks.new_task(d, name, {}, {}, None)
        follow(d)


# --- direct workflows -------------------------------------------------------------------------


def next_steps(d: Decision, task_ex: TaskExecution) -> list[Step]:
    """The transitions a completed task takes, in Mistral's order, conditions evaluated.

    Raises:
        ExpressionError: a condition failed to evaluate.
    """
    spec: TaskSpec = d.spec.tasks[task_ex.name]
    data = ctx.transition_data(d.ex, task_ex)
    runtime = d.runtime(task_ex)
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


def process_transitions(d: Decision, task_ex: TaskExecution) -> None:
    """Compute and (unless the workflow is paused) carry out a completed task's transitions."""
    if d.spec.type == "reverse":
        task_ex.processed = True
        d.state.touch(task_ex)
        if d.ex.state == State.RUNNING:
            run_reverse(d)
        return
    try:
        steps = next_steps(d, task_ex)
    except ExpressionError as exc:
        force_fail(d, task_ex, f"Failed to handle action completion [error={exc}, "
                               f"wf={d.ex.workflow_name}, task={task_ex.name}]")
        return
    task_ex.error_handled = task_ex.state == State.ERROR and any(e == "on-error" for _, e, _ in steps)
    targets = [s for s in steps if not s[2].is_command]
    task_ex.next_tasks = [[name, event] for name, event, _ in targets]
    task_ex.has_next_tasks = bool(targets)
    d.state.touch(task_ex)
    if d.ex.state in (State.SUCCESS, State.ERROR, State.CANCELLED):
        task_ex.processed = True  # the workflow already ended: the outcome changes nothing
        return
    if d.ex.state != State.RUNNING:
        return  # paused: picked up on resume (processed stays False)
    task_ex.processed = True
    if not d.reach_changed and {n for n, _ in task_ex.next_tasks} != d.task_spec(task_ex).next_task_names():
        d.reach_changed = True  # a transition not taken: a task it leads to may never run now
    _dispatch(d, task_ex, steps)


def _dispatch(d: Decision, task_ex: TaskExecution, steps: list[Step], ignore_pause: bool = False) -> None:
    """Carry out steps: tasks before the first engine command, then the command."""
    for index, (target, event, transition) in enumerate(steps):
        if not transition.is_command:
            transition_to(d, target, task_ex, event)
            continue
        command = transition.target
        if command == "noop" or (command == "pause" and ignore_pause):
            continue
        try:
            message = _command_message(d, task_ex, transition)
        except ExpressionError as exc:
            force_fail(d, task_ex, f"Failed to handle action completion [error={exc}, "
                                   f"wf={d.ex.workflow_name}, task={task_ex.name}]")
            return
        if command == "pause":
            # The commands after 'pause' are kept as decided now, and carried out on resume.
            backlog = [[task_ex.id, t, e, tr.is_command, tr.target] for t, e, tr in steps[index + 1:]]
            d.ex.runtime_context.setdefault("backlog", []).extend(backlog)
            d.set_workflow_state(State.PAUSED, message)
            return
        finish(d, State.ERROR if command == "fail" else State.SUCCESS, message)
        return


def _command_message(d: Decision, task_ex: TaskExecution, transition: TransitionSpec) -> str | None:
    msg = transition.params.get("msg")
    if msg is None:
        return None
    value = expressions.evaluate(msg, ctx.transition_data(d.ex, task_ex), d.runtime(task_ex))
    return None if value is None else str(value)


def transition_to(d: Decision, target: str, source: TaskExecution, event: str) -> None:
    """Start ``target`` from ``source`` (or register the arrival at a join)."""
    trigger = {"task_id": source.id, "event": event}
    if d.spec.tasks[target].join is not None:
        _arrive_at_join(d, target, source, trigger)
        return
    tasks.new_task(d, target, ctx.outbound(source), ctx.outbound_versions(source), trigger)
    follow(d)


# --- joins ------------------------------------------------------------------------------------


def join_key(execution_id: str, name: str) -> str:
    """The ``unique_key`` of the execution of join task ``name`` (one per workflow execution)."""
    return f"join-task-{execution_id}-{name}"


def _arrive_at_join(d: Decision, target: str, source: TaskExecution, trigger: dict[str, str]) -> None:
    key = join_key(d.ex.id, target)
    join_ex = d.state.by_unique_key(key)
    if join_ex is None:
        join_ex = tasks.new_task(d, target, {}, {}, None, state=State.WAITING, start=False)
        join_ex.unique_key = key
        join_ex.state_info = "Task is waiting."
        d.reach_changed = True  # decide it in full once: an inbound task may have failed before
    elif join_ex.state in TASK_COMPLETED:
        # A join inside a loop: the same execution waits again (Mistral's behaviour).
        join_ex.processed = False
        join_ex.runtime_context.pop("triggered_by", None)
        d.set_task_state(join_ex, State.WAITING, "Task is waiting.")
        d.reach_changed = True
    join_ex.runtime_context.setdefault("triggered_by", []).append(trigger)
    d.state.touch(join_ex)


def decide_joins(d: Decision) -> bool:
    """Decide every waiting join that can be decided. Returns True when one was."""
    if d.ex.state != State.RUNNING:
        return False
    decided = False
    for join_ex in [t for t in d.state.tasks if t.unique_key and t.state == State.WAITING
                    and not t.runtime_context.get("retry_task_policy")]:
        decided |= _decide_join(d, join_ex)
    return decided


def _decide_join(d: Decision, join_ex: TaskExecution) -> bool:
    spec = d.spec.tasks[join_ex.name]
    inbound = d.spec.inbound(join_ex.name)
    need = len(inbound) if spec.join == "all" else int(spec.join or 0)
    if not d.reach_changed and len(join_ex.runtime_context.get("triggered_by", ())) < need:
        return False  # too few arrivals to start, and no inbound task can have failed since
    d.state.read_latest(inbound)
    arrived, failed = [], []
    for name in inbound:
        status = _inbound_status(d, name, join_ex.name)
        if status == "arrived":
            arrived.append(name)
        elif status == "failed":
            failed.append(name)
    if len(arrived) >= need:
        sources = [d.state.latest(n) for n in arrived]
        merged, versions = ctx.merge_contexts(
            [(ctx.outbound(s), ctx.outbound_versions(s)) for s in sources if s is not None])
        join_ex.in_context, join_ex.in_versions = merged, versions
        tasks.start_task(d, join_ex)
        follow(d)
        return True
    if len(failed) > len(inbound) - need:
        join_ex.in_context, join_ex.in_versions = ctx.merge_contexts(
            [(ctx.outbound(s), ctx.outbound_versions(s)) for s in
             (d.state.latest(n) for n in arrived) if s is not None])
        tasks.complete_task(d, join_ex, State.ERROR, None, f"Failed by tasks: {failed}")
        follow(d)
        return True
    return False


def _inbound_status(d: Decision, name: str, join: str) -> str:
    """``arrived`` (completed with a transition to the join), ``failed`` (completed without one,
    or can no longer run), or ``waiting``."""
    task_ex = d.state.latest(name)
    if task_ex is not None:
        if task_ex.state not in TASK_COMPLETED or not task_ex.processed:
            return "waiting"
        return "arrived" if any(n == join for n, _ in task_ex.next_tasks) else "failed"
    return "waiting" if _may_run(d, name, set()) else "failed"


def _may_run(d: Decision, name: str, seen: set[str]) -> bool:
    """Whether a task that has not run yet can still be reached."""
    if name in seen:
        return False
    seen.add(name)
    for upstream in d.spec.inbound(name):
        up_ex = d.state.latest(upstream)
        if up_ex is None:
            if _may_run(d, upstream, seen):
                return True
        elif up_ex.state not in TASK_COMPLETED or not up_ex.processed:
            return True
        elif any(n == name for n, _ in up_ex.next_tasks):
            return True
    return False


# --- reverse workflows ------------------------------------------------------------------------


def run_reverse(d: Decision) -> bool:
    """Start every task of the target's requirement tree whose requirements all succeeded.
    Returns True when something was started."""
    target = d.ex.params.get("task_name") or ""
    started = False
    for name in _requirement_order(d, target):
        if d.state.latest(name) is not None:
            continue
        reqs = [d.state.latest(r) for r in d.spec.tasks[name].requires]
        if all(r is not None and r.state == State.SUCCESS and r.processed for r in reqs):
            merged, versions = ctx.merge_contexts([(ctx.outbound(r), ctx.outbound_versions(r))
                                                   for r in reqs if r is not None])
            tasks.new_task(d, name, merged, versions, None)
            follow(d)
            started = True
    return started


def _requirement_order(d: Decision, target: str) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in d.spec.tasks:
            return
        seen.add(name)
        for req in d.spec.tasks[name].requires:
            visit(req)
        order.append(name)

    visit(target)
    return order


# --- carrying on after a resume ---------------------------------------------------------------


def resume_work(d: Decision) -> None:
    """After a resume: the backlog of a ``pause`` command, unprocessed completions, tasks held by
    pause-before, and timers that fired while paused."""
    backlog = d.ex.runtime_context.pop("backlog", [])
    d.state.touch(d.ex)
    for task_id, target, event, is_command, _name in backlog:
        source = d.state.task_by_id(task_id)
        if source is None or d.ex.state != State.RUNNING:
            continue
        if not is_command:
            transition_to(d, target, source, event)
        elif target in ("fail", "succeed"):
            finish(d, State.ERROR if target == "fail" else State.SUCCESS)
    for task_ex in list(d.state.all_tasks()):
        if d.ex.state != State.RUNNING:
            return
        if task_ex.state in TASK_COMPLETED and not task_ex.processed and task_ex.state != State.CANCELLED:
            try:
                steps = next_steps(d, task_ex)
            except ExpressionError as exc:
                force_fail(d, task_ex, str(exc))
                return
            task_ex.processed = True
            d.state.touch(task_ex)
            _dispatch(d, task_ex, steps, ignore_pause=True)
        elif task_ex.state == State.IDLE and task_ex.state_info == "Set by 'pause-before' policy":
            tasks.start_task(d, task_ex, skip_policies=True)
            follow(d)
        elif task_ex.runtime_context.get("resume_timer"):
            purpose = task_ex.runtime_context.pop("resume_timer")
            tasks.continue_after_timer(d, task_ex, purpose)
            follow(d)


def _truthy(value: Any) -> bool:
    return bool(value)
