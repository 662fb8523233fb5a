"""Execution states and the transitions allowed between them (Mistral's names and table).

Pure data and two small functions: the engine, the database layer and the API all read it.
"""

from __future__ import annotations

from enum import Enum

from levante.exceptions import InvalidTransition


class State(str, Enum):
    """A state of a workflow, task or action execution (Mistral's strings)."""

    IDLE = "IDLE"
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    #: Mistral's constant is RUNNING_DELAYED; its string is DELAYED.
    DELAYED = "DELAYED"
    PAUSED = "PAUSED"
    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"

    def __str__(self) -> str:
        return self.value


#: States a workflow execution can be in.
WORKFLOW_STATES = frozenset({State.IDLE, State.RUNNING, State.PAUSED, State.SUCCESS, State.ERROR, State.CANCELLED})
#: States a task execution can be in (all of them).
TASK_STATES = frozenset(State)
#: States an action execution can be in.
ACTION_STATES = frozenset({State.RUNNING, State.PAUSED, State.SUCCESS, State.ERROR, State.CANCELLED})

#: Completed states of workflows and actions.
COMPLETED = frozenset({State.SUCCESS, State.ERROR, State.CANCELLED})
#: Completed states of tasks (a skipped task is done too).
TASK_COMPLETED = COMPLETED | {State.SKIPPED}

#: from -> the states it may move to (staying in the same state is always allowed).
TRANSITIONS: dict[State, frozenset[State]] = {
    State.IDLE: frozenset({State.RUNNING, State.ERROR, State.CANCELLED}),
    State.WAITING: frozenset({State.RUNNING}),
    State.RUNNING: frozenset({State.PAUSED, State.DELAYED, State.SUCCESS, State.ERROR, State.CANCELLED}),
    State.DELAYED: frozenset({State.RUNNING, State.ERROR, State.CANCELLED}),
    State.PAUSED: frozenset({State.RUNNING, State.ERROR, State.CANCELLED}),
    State.SUCCESS: frozenset(),
    State.CANCELLED: frozenset({State.RUNNING}),
    State.ERROR: frozenset({State.RUNNING, State.SKIPPED}),
    State.SKIPPED: frozenset(),
}


#: The same for task executions. Tasks move more than workflows do: a completed task is held back
#: by wait-after or a retry (DELAYED, or WAITING when it is a join), a join inside a loop waits
#: again, a failure found while completing a task (fail-on, an expression that cannot be
#: evaluated) turns it to ERROR, and a rerun or a skip re-opens an ERROR or CANCELLED task.
#: The engine checks every task state change against it; a change it refuses is a bug.
TASK_TRANSITIONS: dict[State, frozenset[State]] = {
    # created (or held by pause-before): started, or cancelled with its workflow
    State.IDLE: frozenset({State.RUNNING, State.CANCELLED}),
    # a join not decided yet, or a join's retry delay: started, failed (join failed, timeout), cancelled
    State.WAITING: frozenset({State.RUNNING, State.ERROR, State.CANCELLED}),
    # held by pause-before or wait-before, paused, completed, or cancelled
    State.RUNNING: frozenset({State.IDLE, State.DELAYED, State.PAUSED, State.SUCCESS, State.ERROR,
                              State.CANCELLED}),
    # wait-before or a retry delay ends (RUNNING), wait-after restores the completed state, timeout
    State.DELAYED: frozenset({State.RUNNING, State.SUCCESS, State.ERROR, State.CANCELLED}),
    # an async action or a sub-workflow resumed, or cancelled with its workflow
    State.PAUSED: frozenset({State.RUNNING, State.CANCELLED}),
    # fail-on or a failure while completing; wait-after or retry; a join waits again
    State.SUCCESS: frozenset({State.ERROR, State.DELAYED, State.WAITING}),
    # rerun; skip; wait-after or retry; a join waits again (also on a rerun)
    State.ERROR: frozenset({State.RUNNING, State.SKIPPED, State.DELAYED, State.WAITING}),
    # rerun; a failure while completing (keep-result); a join waits again
    State.CANCELLED: frozenset({State.RUNNING, State.ERROR, State.WAITING}),
    # a failure while completing (publish-on-skip, transitions); a join waits again
    State.SKIPPED: frozenset({State.ERROR, State.WAITING}),
}


def is_completed(state: State | str, task: bool = False) -> bool:
    """Whether ``state`` is terminal (SKIPPED counts for tasks)."""
    return State(state) in (TASK_COMPLETED if task else COMPLETED)


def can_transition(current: State | str, requested: State | str,
                   table: dict[State, frozenset[State]] = TRANSITIONS) -> bool:
    """Whether ``table`` (by default the workflow and action table) allows ``current`` -> ``requested``."""
    current, requested = State(current), State(requested)
    return current == requested or requested in table[current]


def check_transition(what: str, current: State | str, requested: State | str,
                     table: dict[State, frozenset[State]] = TRANSITIONS) -> None:
    """Raise :class:`InvalidTransition` unless ``table`` allows the change.

    Args:
        what: the kind of object, for the message (``workflow execution``, ``task execution``).
        table: :data:`TRANSITIONS`, or :data:`TASK_TRANSITIONS` for task executions.
    """
    if not can_transition(current, requested, table):
        raise InvalidTransition(what, str(State(current)), str(State(requested)))
