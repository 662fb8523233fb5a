"""Read side: an execution with its tasks, their action executions and sub-executions, as records.

What ``GET /v2/executions/<id>/report`` shows. The tree is read level by level, a few queries per
level of sub-workflows (not per task), in one read transaction so that it is consistent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution

#: Ids per ``IN (...)`` query.
_CHUNK = 500
#: Creation order, the order Mistral's report lists things in.
_OLDEST_FIRST: dict[str, Any] = {"sort_keys": ("created_at",), "sort_dirs": ("asc",)}


@dataclass
class ActionLeaf:
    """An action execution of a task, with when it last reported being alive (async actions)."""

    action: ActionExecution
    last_heartbeat: datetime | None = None


@dataclass
class TaskBranch:
    """A task execution with what it ran."""

    task: TaskExecution
    actions: list[ActionLeaf] = field(default_factory=list)
    executions: list[ExecutionBranch] = field(default_factory=list)


@dataclass
class ExecutionBranch:
    """A workflow execution; not ``expanded`` (no tasks read) when deeper than the depth asked for."""

    execution: WorkflowExecution
    depth: int
    expanded: bool = False
    tasks: list[TaskBranch] = field(default_factory=list)


class ExecutionTrees:
    """Reads execution trees."""

    def __init__(self, session_factory: SessionFactory) -> None:
        self.session_factory = session_factory

    def tree(self, execution_id: str, max_depth: int = -1) -> ExecutionBranch:
        """The tree below ``execution_id``: the tasks of executions down to ``max_depth`` (the root
        is at depth 0; negative: no limit); a sub-execution deeper than that is listed without them.

        Raises:
            NotFoundError: no such execution.
        """
        with transaction(self.session_factory) as session:
            root = ExecutionBranch(repo.get_execution(session, execution_id), 0)
            level = [root]
            while level:
                expanded = [b for b in level if max_depth < 0 or b.depth <= max_depth]
                level = _expand(session, expanded)
        return root


def _many(session: Session, lister: Any, column: str, ids: Sequence[str]) -> list[Any]:
    found: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        found += lister(session, {column: list(ids[start:start + _CHUNK])}, **_OLDEST_FIRST)
    return found


def _expand(session: Session, branches: list[ExecutionBranch]) -> list[ExecutionBranch]:
    """Fill in the tasks of ``branches``; return the sub-executions found (the next level)."""
    by_id = {b.execution.id: b for b in branches}
    for b in branches:
        b.expanded = True
    tasks = {t.id: TaskBranch(t) for t in _many(session, repo.list_tasks, "workflow_execution_id", list(by_id))}
    for t in tasks.values():
        by_id[t.task.workflow_execution_id].tasks.append(t)
    actions = _many(session, repo.list_action_executions, "task_execution_id", list(tasks))
    beats = repo.heartbeats_of(session, [a.id for a in actions if not a.is_sync]) if actions else {}
    for a in actions:
        tasks[str(a.task_execution_id)].actions.append(ActionLeaf(a, beats.get(a.id, (None, None))[0]))
    children = []
    for ex in _many(session, repo.list_executions, "task_execution_id", list(tasks)):
        parent = tasks[str(ex.task_execution_id)]
        child = ExecutionBranch(ex, by_id[parent.task.workflow_execution_id].depth + 1)
        parent.executions.append(child)
        children.append(child)
    return children
