"""Builders of execution records for the database tests (shared by the SQLite and PostgreSQL runs)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution, new_id
from levante.states import State

T0 = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    """``T0`` plus some seconds."""
    return T0 + timedelta(seconds=seconds)


def wf(name: str = "wf", **fields: Any) -> WorkflowExecution:
    fields.setdefault("id", new_id())
    fields.setdefault("state", State.RUNNING)
    return WorkflowExecution(workflow_name=name, **fields)


def task(wf_ex: WorkflowExecution, name: str = "t1", **fields: Any) -> TaskExecution:
    fields.setdefault("id", new_id())
    fields.setdefault("state", State.RUNNING)
    return TaskExecution(
        name=name, workflow_execution_id=wf_ex.id, workflow_name=wf_ex.workflow_name, **fields
    )


def action(task_ex: TaskExecution | None, name: str = "std.noop", **fields: Any) -> ActionExecution:
    fields.setdefault("id", new_id())
    if task_ex is not None:
        fields.setdefault("task_execution_id", task_ex.id)
        fields.setdefault("workflow_execution_id", task_ex.workflow_execution_id)
        fields.setdefault("workflow_name", task_ex.workflow_name)
    return ActionExecution(name=name, **fields)


def sub(parent_task: TaskExecution, root_id: str, name: str = "sub", **fields: Any) -> WorkflowExecution:
    """A sub-workflow execution started by ``parent_task``."""
    return wf(
        name,
        task_execution_id=parent_task.id,
        parent_id=parent_task.workflow_execution_id,
        root_execution_id=root_id,
        **fields,
    )


def same(a: Any, b: Any) -> bool:
    """Whether two records hold equal values in every field (records compare by identity)."""
    from dataclasses import fields

    return type(a) is type(b) and all(getattr(a, f.name) == getattr(b, f.name) for f in fields(a))


def diff(a: Any, b: Any) -> dict[str, tuple[Any, Any]]:
    """Fields where two records differ, for assertion messages."""
    from dataclasses import fields

    return {
        f.name: (getattr(a, f.name), getattr(b, f.name))
        for f in fields(a)
        if getattr(a, f.name) != getattr(b, f.name)
    }
