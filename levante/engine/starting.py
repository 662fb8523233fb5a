"""Creating a workflow execution before its start is decided: shared by the engine service and the
in-memory engine, so both check a start the same way and build the same record."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from levante.engine import events as ev
from levante.engine.commands import StartWorkflow
from levante.engine.inputs import prepare_input
from levante.engine.records import WorkflowExecution
from levante.exceptions import InputError
from levante.workflows.specs import WorkflowSpec


def new_execution(spec: WorkflowSpec, input: dict[str, Any] | None, params: dict[str, Any],  # noqa: A002
                  *, execution_id: str, created_at: datetime, description: str = "",
                  parent: StartWorkflow | None = None) -> WorkflowExecution:
    """A new execution of ``spec`` (not stored, not started), its input checked and completed
    with defaults; with ``parent`` a sub-execution linked to the task that starts it (the caller
    sets its ``root_execution_id``).

    Raises:
        InputError: the input does not fit, or a reverse workflow lacks a valid ``task_name``.
    """
    params = {"namespace": "", "env": {}, **params}
    if spec.type == "reverse" and params.get("task_name") not in spec.tasks:
        raise InputError(f"Invalid task name [task_name={params.get('task_name')}, workflow={spec.name}]: "
                         "a reverse workflow needs params.task_name naming one of its tasks")
    return WorkflowExecution(
        id=execution_id, workflow_name=spec.name, input=prepare_input(spec, input), params=params,
        description=description, tags=list(spec.tags), created_at=created_at,
        workflow_namespace=params.get("namespace", ""),
        task_execution_id=parent.task_execution_id if parent else None,
        parent_id=parent.parent_execution_id if parent else None,
    )


def child_not_started(command: StartWorkflow, error: Exception) -> ev.SubworkflowCompleted:
    """The event that fails the parent's task when a sub-workflow cannot start (its definition is
    gone, or its input does not fit)."""
    return ev.SubworkflowCompleted(command.parent_execution_id, command.task_execution_id,
                                   command.execution_id, "ERROR", {"result": str(error)}, str(error))
