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


def is_completed(state: State | str, task: bool = False) -> bool:
    """Whether ``state`` is terminal (SKIPPED counts for tasks)."""
    return State(state) in (TASK_COMPLETED if task else COMPLETED)


def can_transition(current: State | str, requested: State | str) -> bool:
    """Whether the table allows ``current`` -> ``requested``."""
    current, requested = State(current), State(requested)
    return current == requested or requested in TRANSITIONS[current]


def check_transition(what: str, current: State | str, requested: State | str) -> None:
    """Raise :class:`InvalidTransition` unless the table allows the change.

    Args:
        what: the kind of object, for the message (``workflow execution``, ``action execution``).
    """
    if not can_transition(current, requested):
        raise InvalidTransition(what, str(State(current)), str(State(requested)))
