"""In-memory records of executions, as the engine's decisions read and change them.

These are plain mutable dataclasses with no database behind them: the engine service loads them
from the database, hands them to the decisions, and writes back the ones marked changed. Field names
follow Mistral's resources so that the API can expose them as they are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, NamedTuple

from levante.states import State

#: The version (4) and variant (RFC 4122) bits of a random UUID, as ``uuid.uuid4`` sets them.
_UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET = (0x8000 << 48) | (4 << 76)


def new_id() -> str:
    """A new execution id (UUID4 text, as Mistral uses): ``str(uuid.uuid4())`` without building
    the UUID object (a third of the cost; a with-items task makes one per item)."""
    text = "%032x" % ((int.from_bytes(os.urandom(16), "big") & _UUID4_CLEAR) | _UUID4_SET)
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


@dataclass(slots=True, eq=False)
class WorkflowExecution:
    """One run of a workflow."""

    id: str
    workflow_name: str
    state: State = State.IDLE
    state_info: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    #: Always holds ``env`` and ``namespace``; plus ``task_name`` (reverse), and any extra params.
    params: dict[str, Any] = field(default_factory=dict)
    #: The global context: ``__execution``, the evaluated ``vars`` and global publishes.
    context: dict[str, Any] = field(default_factory=dict)
    output: dict[str, Any] = field(default_factory=dict)
    #: Backlog of transitions held back by a ``pause`` command, and other bookkeeping.
    runtime_context: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    workflow_id: str | None = None
    workflow_namespace: str = ""
    #: The task execution that started this one as a sub-workflow.
    task_execution_id: str | None = None
    parent_id: str | None = None
    root_execution_id: str | None = None
    tags: list[str] = field(default_factory=list)
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    #: Checksum of the stored snapshot of the definition it started from (None for executions
    #: created before snapshots existed): it runs that version whatever happens to the definition.
    definition_checksum: str | None = None


@dataclass(slots=True, eq=False)
class TaskExecution:
    """One run of a task inside a workflow execution."""

    id: str
    name: str
    workflow_execution_id: str
    workflow_name: str
    state: State = State.IDLE
    state_info: str | None = None
    #: ``ACTION`` or ``WORKFLOW``.
    type: str = "ACTION"
    #: The branch (inbound) context.
    in_context: dict[str, Any] = field(default_factory=dict)
    #: Version counters of published keys in ``in_context`` (context versioning).
    in_versions: dict[str, int] = field(default_factory=dict)
    #: What the task published into its branch.
    published: dict[str, Any] = field(default_factory=dict)
    #: The task result (the action's result, the list of item results, or the sub-workflow output).
    result: Any = None
    #: Policies' and with-items' bookkeeping (``retry_task_policy``, ``with_items``, ``triggered_by``...).
    runtime_context: dict[str, Any] = field(default_factory=dict)
    #: ``[[task_name, event], ...]`` of the transitions taken after completion.
    next_tasks: list[list[str]] = field(default_factory=list)
    has_next_tasks: bool = False
    error_handled: bool = False
    #: True once the engine acted on the completion (transitions dispatched).
    processed: bool = False
    #: Set for join tasks: one task execution per workflow execution and join task.
    unique_key: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass(slots=True, eq=False)
class ActionExecution:
    """One run of an action (for a task, or on its own).

    Once stored, only its result fields change (``state``, ``state_info``, ``output``,
    ``accepted``, ``updated_at``): a step writes back no other field of a stored one
    (:func:`levante.db.repository.update_action_results`).
    """

    id: str
    name: str
    task_execution_id: str | None = None
    workflow_execution_id: str | None = None
    workflow_name: str | None = None
    state: State = State.RUNNING
    state_info: str | None = None
    input: dict[str, Any] = field(default_factory=dict)
    #: ``{"result": ...}`` once completed.
    output: dict[str, Any] = field(default_factory=dict)
    #: Whether this execution's result counts for its task (false after a retry or rerun).
    accepted: bool = False
    is_sync: bool = True
    #: ``index`` (with-items item), ``safe_rerun``, ``retry_no``.
    runtime_context: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime | None = None


class AcceptedResult(NamedTuple):
    """What a with-items task's result needs of one accepted action execution (read without the
    rest of the record, in creation order: a million of them when the task completes)."""

    id: str
    #: The with-items index (``runtime_context["index"]``, 0 when absent).
    item_index: int
    #: The task attempt it ran for (``runtime_context["attempt"]``, 0 when absent).
    attempt: int
    #: ``output["result"]``.
    result: Any


def accepted_result(action_ex: ActionExecution) -> AcceptedResult:
    """The :class:`AcceptedResult` of an action execution."""
    rc = action_ex.runtime_context
    return AcceptedResult(action_ex.id, rc.get("index", 0), rc.get("attempt", 0),
                          action_ex.output.get("result"))
