"""The engine's decisions for one workflow execution: spec + state + event in, changes + commands out.

:class:`Conductor` is pure: no database, broker or HTTP. The service (or the in-memory engine) loads
an :class:`~levante.engine.loaded.ExecutionState` under the execution's lock, calls
:meth:`Conductor.start` or :meth:`Conductor.handle`, writes back ``state.changed`` and carries out the
returned commands in the same transaction.

The conductor only dispatches. Its parts are modules of functions over one
:class:`~levante.engine.decision.Decision`, each calling only the parts below it::

    conductor      start / handle: pick the handler, follow completions, settle
    lifecycle      the workflow's own lifecycle (pause, resume, cancel, rerun, skip, settle)
    transitions    where completed tasks lead: on-* clauses, joins, reverse workflows
    tasks          a task's lifecycle: create, start, results, timers, complete
    work           what a task runs (actions, sub-workflows, items)
    policies       policy values, and the delays and retries before and after a task's work
    ending         the workflow's terminal state and output
    decision       state, ports (catalog, store, clock, rng, limits), emitted commands
"""

from __future__ import annotations

import random
from typing import Any, Callable

from levante.engine import events as ev
from levante.engine import lifecycle, tasks, transitions
from levante.engine.commands import Command
from levante.engine.decision import Decision
from levante.engine.limits import EngineLimits
from levante.engine.loaded import Catalog, ExecutionState, Store
from levante.engine.records import utcnow
from levante.states import State

#: Which part handles each event.
_HANDLERS: dict[type, Callable[[Decision, Any], None]] = {
    ev.ActionCompleted: tasks.on_action_completed,
    ev.SubworkflowCompleted: tasks.on_subworkflow_completed,
    ev.TimerFired: tasks.on_timer,
    ev.SubworkflowPaused: lifecycle.on_subworkflow_paused,
    ev.SubworkflowResumed: lifecycle.on_subworkflow_resumed,
    ev.SubworkflowReopened: lifecycle.on_subworkflow_reopened,
    ev.PauseRequested: lifecycle.on_pause,
    ev.ResumeRequested: lifecycle.on_resume,
    ev.CancelRequested: lifecycle.on_cancel,
    ev.StopRequested: lifecycle.on_stop,
    ev.RerunRequested: lifecycle.on_rerun,
    ev.SkipRequested: lifecycle.on_skip,
}

#: Events that only complete work: what they change for a join is seen as the tasks they complete
#: follow their transitions (any other event makes the joins be decided in full).
_COMPLETIONS = (ev.ActionCompleted, ev.SubworkflowCompleted)


class Conductor:
    """Applies one event (or the start) to one workflow execution.

    Construct with ``Conductor(state, catalog, store=None, clock=utcnow, rng=None, limits=None)``.
    """

    def __init__(self, state: ExecutionState, catalog: Catalog, store: Store | None = None,
                 clock: Callable[[], Any] = utcnow, rng: random.Random | None = None,
                 limits: EngineLimits | None = None) -> None:
        self.decision = Decision(state, catalog, store, clock=clock, rng=rng, limits=limits)

    @property
    def commands(self) -> list[Command]:
        """The commands emitted so far (a caller applying several events may reset them)."""
        return self.decision.commands

    @commands.setter
    def commands(self, value: list[Command]) -> None:
        self.decision.commands = value

    def start(self) -> list[Command]:
        """Start the execution: evaluate ``vars`` and run the start tasks."""
        d = self.decision
        lifecycle.start(d)
        lifecycle.settle(d)
        return d.commands

    def handle(self, event: ev.Event) -> list[Command]:
        """Apply one event; unknown or stale events change nothing."""
        d = self.decision
        handler: Callable[[Decision, Any], None] | None = _HANDLERS.get(type(event))
        if handler is None:
            raise ValueError(f"no handler for event {event!r}")
        d.reach_changed = not isinstance(event, _COMPLETIONS)
        if isinstance(event, ev.ActionCompleted) and State(event.state) in (State.PAUSED, State.RUNNING):
            lifecycle.on_action_paused_or_resumed(d, event)  # an async action paused or resumed
        else:
            handler(d, event)
        transitions.follow(d)  # the tasks the event completed
        if d.ex.state == State.RUNNING:
            lifecycle.settle(d)
        return d.commands
