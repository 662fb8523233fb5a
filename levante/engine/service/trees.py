"""Read side: an execution with its tasks, their action executions and sub-executions, as records.

What ``GET /v2/executions/<id>/report`` shows. The tree is read level by level, a few queries per
level of sub-workflows (not per task), in one read transaction so that it is consistent, and only
the columns a report shows (:mod:`levante.db.repository.summaries`): no input, context or result.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from levante.db.repository import summaries
from levante.db.repository.summaries import ActionSummary, ExecutionSummary, TaskSummary
from levante.db.session import SessionFactory, transaction
from levante.exceptions import NotFoundError


@dataclass
class TaskBranch:
    """A task execution with what it ran."""

    task: TaskSummary
    actions: list[ActionSummary] = field(default_factory=list)
    executions: list[ExecutionBranch] = field(default_factory=list)


@dataclass
class ExecutionBranch:
    """A workflow execution; not ``expanded`` (no tasks read) when deeper than the depth asked for."""

    execution: ExecutionSummary
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
            found = summaries.execution_summary(session, execution_id)
            if found is None:
                raise NotFoundError("Workflow execution", execution_id)
            root = ExecutionBranch(found, 0)
            level = [root]
            while level:
                expanded = [b for b in level if max_depth < 0 or b.depth <= max_depth]
                level = _expand(session, expanded)
        return root


    def task_counts(self, execution_id: str, max_depth: int = -1) -> Counter[str]:
        """How many tasks are in each state (by state value) among the executions :meth:`tree`
        would expand, counted by the database: a report's statistics without reading the tree.

        Raises:
            NotFoundError: no such execution.
        """
        with transaction(self.session_factory) as session:
            links = summaries.tree_links(session, execution_id)
            if links is None:
                raise NotFoundError("Workflow execution", execution_id)
            children: dict[str | None, list[str]] = {}
            for child, parent in links:
                children.setdefault(parent, []).append(child)
            expanded, level, depth = [], [execution_id], 0
            while level and (max_depth < 0 or depth <= max_depth):
                expanded += level
                level = [c for parent in level for c in children.get(parent, ())]
                depth += 1
            return summaries.task_state_counts(session, expanded)


def _expand(session: Session, branches: list[ExecutionBranch]) -> list[ExecutionBranch]:
    """Fill in the tasks of ``branches``; return the sub-executions found (the next level)."""
    by_id = {b.execution.id: b for b in branches}
    for b in branches:
        b.expanded = True
    tasks = {t.id: TaskBranch(t) for t in summaries.task_summaries(session, list(by_id))}
    for t in tasks.values():
        by_id[t.task.workflow_execution_id].tasks.append(t)
    for a in summaries.action_summaries(session, list(tasks)):
        tasks[str(a.task_execution_id)].actions.append(a)
    children = []
    for ex in summaries.execution_summaries_of_tasks(session, list(tasks)):
        parent = tasks[str(ex.task_execution_id)]
        child = ExecutionBranch(ex, by_id[parent.task.workflow_execution_id].depth + 1)
        parent.executions.append(child)
        children.append(child)
    return children
