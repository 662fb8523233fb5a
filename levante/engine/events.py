"""Events the engine's decisions react to: frozen, JSON-serialisable.

An event names the workflow execution it is for (``execution_id``) so that the service can apply
it under that execution's lock. ``to_dict`` / ``from_dict`` round-trip through JSON (delayed calls
and message envelopes store them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True)
class Event:
    """Base of every event."""

    kind: ClassVar[str] = "event"
    execution_id: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form with the event kind."""
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class ActionCompleted(Event):
    """An action execution finished (sync result from an executor, or an async callback)."""

    kind: ClassVar[str] = "action_completed"
    action_execution_id: str
    #: ``SUCCESS``, ``ERROR`` or ``CANCELLED``.
    state: str
    #: The result on SUCCESS, the error on ERROR.
    result: Any = None


@dataclass(frozen=True)
class SubworkflowCompleted(Event):
    """A sub-workflow execution ended; ``execution_id`` is the parent's."""

    kind: ClassVar[str] = "subworkflow_completed"
    task_execution_id: str
    sub_execution_id: str
    state: str
    output: Any = None
    state_info: str | None = None


@dataclass(frozen=True)
class SubworkflowPaused(Event):
    """A sub-workflow paused; ``execution_id`` is the parent's."""

    kind: ClassVar[str] = "subworkflow_paused"
    task_execution_id: str
    sub_execution_id: str


@dataclass(frozen=True)
class SubworkflowResumed(Event):
    """A paused sub-workflow runs again; ``execution_id`` is the parent's."""

    kind: ClassVar[str] = "subworkflow_resumed"
    task_execution_id: str
    sub_execution_id: str


@dataclass(frozen=True)
class SubworkflowReopened(Event):
    """A failed sub-workflow runs again (a task in it was rerun); ``execution_id`` is the parent's."""

    kind: ClassVar[str] = "subworkflow_reopened"
    task_execution_id: str
    sub_execution_id: str


@dataclass(frozen=True)
class TimerFired(Event):
    """A delayed call came due: continue a task after wait-before, wait-after or a retry delay,
    or time it out."""

    kind: ClassVar[str] = "timer_fired"
    task_execution_id: str
    #: ``wait_before``, ``wait_after``, ``retry`` or ``timeout``.
    purpose: str
    #: Guards against stale timers: the task's attempt number when the timer was set.
    attempt: int = 0


@dataclass(frozen=True)
class PauseRequested(Event):
    """Pause the execution (and its running sub-workflows)."""

    kind: ClassVar[str] = "pause_requested"
    #: From a parent pausing its children: a child that has ended meanwhile ignores it (a request
    #: from a user to pause an ended execution is refused instead).
    cascade: bool = False


@dataclass(frozen=True)
class ResumeRequested(Event):
    """Resume a paused execution, optionally merging a new env."""

    kind: ClassVar[str] = "resume_requested"
    env: dict[str, Any] | None = None


@dataclass(frozen=True)
class CancelRequested(Event):
    """Cancel the execution (and its running sub-workflows)."""

    kind: ClassVar[str] = "cancel_requested"
    message: str | None = None


@dataclass(frozen=True)
class StopRequested(Event):
    """Force the execution to SUCCESS or ERROR."""

    kind: ClassVar[str] = "stop_requested"
    state: str
    message: str | None = None


@dataclass(frozen=True)
class RerunRequested(Event):
    """Run a failed task again (``reset=False``: only failed with-items items)."""

    kind: ClassVar[str] = "rerun_requested"
    task_execution_id: str
    reset: bool = True
    env: dict[str, Any] | None = None


@dataclass(frozen=True)
class SkipRequested(Event):
    """Mark a failed task SKIPPED and follow its ``on-skip`` (or ``on-success``) transitions."""

    kind: ClassVar[str] = "skip_requested"
    task_execution_id: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (ActionCompleted, SubworkflowCompleted, SubworkflowPaused, SubworkflowResumed, SubworkflowReopened,
                TimerFired,
                PauseRequested, ResumeRequested, CancelRequested, StopRequested, RerunRequested, SkipRequested)
}


def from_dict(data: dict[str, Any]) -> Event:
    """Rebuild an event from :meth:`Event.to_dict` output.

    Raises:
        ValueError: unknown kind or missing fields.
    """
    cls = EVENT_TYPES.get(data.get("kind", ""))
    if cls is None:
        raise ValueError(f"unknown event kind {data.get('kind')!r}")
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
