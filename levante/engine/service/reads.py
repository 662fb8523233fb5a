"""Read side of the API: executions, tasks, action executions and history, as records with what
their views need beside them, each read in one transaction (SQLite: DEFERRED, beside the writer).

The API renders what these return; it opens no transaction of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution
from levante.engine.service.parts import ActionDetail, Paging, Transactions
from levante.engine.service.stored import HistoryEvent
from levante.states import State


def _page(query: Paging) -> dict[str, Any]:
    return {"limit": query.limit, "marker": query.marker, "sort_keys": query.sort_keys,
            "sort_dirs": query.sort_dirs}


def action_details(session: Session, found: list[ActionExecution]) -> list[ActionDetail]:
    """The actions with their task names, workflow namespaces and heartbeats (three queries)."""
    task_ids = sorted({a.task_execution_id for a in found if a.task_execution_id})
    tasks = {t.id: t for t in repo.list_tasks(session, {"id": task_ids})} if task_ids else {}
    ex_ids = sorted({a.workflow_execution_id for a in found if a.workflow_execution_id})
    executions = {e.id: e for e in repo.list_executions(session, {"id": ex_ids})} if ex_ids else {}
    async_ids = [a.id for a in found if not a.is_sync]
    beats = repo.heartbeats_of(session, async_ids) if async_ids else {}
    out = []
    for action in found:
        task = tasks.get(action.task_execution_id or "")
        ex = executions.get(action.workflow_execution_id or "")
        out.append(ActionDetail(action, task.name if task else None, ex.workflow_namespace if ex else "",
                                beats.get(action.id)))
    return out


class Reads:
    """What ``GET`` requests on executions, tasks and action executions read."""

    def __init__(self, transactions: Transactions) -> None:
        self._tx = transactions

    def ping(self) -> None:
        """Open (and so check) a database connection."""
        with self._tx.read() as session:
            session.connection()

    # --- executions ---------------------------------------------------------------------------

    def execution(self, execution_id: str) -> WorkflowExecution:
        """One execution (NotFoundError: none has that id)."""
        with self._tx.read() as session:
            return repo.get_execution(session, execution_id)

    def execution_with_progress(self, execution_id: str) -> tuple[WorkflowExecution, tuple[int, int]]:
        """One execution and (its tasks ended, its task executions in all), counted by the
        database: an execution of 100,000 tasks reads as fast as one of ten."""
        with self._tx.read() as session:
            ex = repo.get_execution(session, execution_id)
            return ex, repo.task_progress(session, [execution_id]).get(execution_id, (0, 0))

    def executions(self, query: Paging, of_task: str | None = None
                   ) -> tuple[list[WorkflowExecution], dict[str, tuple[int, int]]]:
        """A page of executions, and ``{id: (tasks done, tasks in all)}`` of them. ``of_task``: the
        task that started them (NotFoundError: no such task)."""
        with self._tx.read() as session:
            if of_task is not None:
                repo.get_task(session, of_task)
            found = repo.list_executions(session, query.filters, **_page(query))
            counts = repo.task_progress(session, [ex.id for ex in found]) if found else {}
        return found, counts

    def executions_below(self, execution_id: str) -> list[WorkflowExecution]:
        """Every execution below this one, at any depth, oldest first."""
        with self._tx.read() as session:
            repo.get_execution(session, execution_id)
            ids = [i for i in repo.execution_tree(session, execution_id) if i != execution_id]
            return self._oldest_first(session, ids)

    def executions_below_task(self, task_id: str) -> tuple[TaskExecution, list[WorkflowExecution]]:
        """The task, and the executions it started with every execution below them, oldest first."""
        with self._tx.read() as session:
            task = repo.get_task(session, task_id)
            ids = [i for child in repo.sub_executions_of(session, task_id)
                   for i in repo.execution_tree(session, child.id)]
            return task, self._oldest_first(session, ids)

    @staticmethod
    def _oldest_first(session: Session, ids: Sequence[str]) -> list[WorkflowExecution]:
        return repo.list_executions(session, {"id": list(ids)}, sort_dirs=("asc",)) if ids else []

    def history(self, execution_id: str, after: int | None = None, limit: int | None = None) -> list[HistoryEvent]:
        """The execution's history, oldest first: the entries after the one with id ``after``, at
        most ``limit`` (NotFoundError: no such execution)."""
        with self._tx.read() as session:
            repo.get_execution(session, execution_id)
            return [HistoryEvent.of(r) for r in repo.events_of(session, execution_id, after, limit)]

    # --- tasks --------------------------------------------------------------------------------

    def task(self, task_id: str) -> tuple[TaskExecution, WorkflowExecution, Any]:
        """A task, its execution and the progress its running action reported."""
        with self._tx.read() as session:
            task = repo.get_task(session, task_id)
            ex = repo.get_execution(session, task.workflow_execution_id)
            progress = repo.running_progress_of(session, [task.id]).get(task.id)
        return task, ex, progress

    def tasks(self, query: Paging, within: str | None = None
              ) -> tuple[list[TaskExecution], dict[str, WorkflowExecution], dict[str, Any]]:
        """A page of tasks, their executions by id, and the progress of the running ones by id.
        ``within``: the id of the execution they must belong to (NotFoundError: none has it)."""
        with self._tx.read() as session:
            if within is not None:
                repo.get_execution(session, within)
            found = repo.list_tasks(session, query.filters, **_page(query))
            ids = sorted({t.workflow_execution_id for t in found})
            parents = {ex.id: ex for ex in repo.list_executions(session, {"id": ids})} if ids else {}
            running = [t.id for t in found if t.state == State.RUNNING]
            progress = repo.running_progress_of(session, running) if running else {}
        return found, parents, progress

    def require_task(self, task_id: str) -> None:
        """NotFoundError unless the task exists."""
        with self._tx.read() as session:
            repo.get_task(session, task_id)

    # --- action executions --------------------------------------------------------------------

    def action_execution(self, action_execution_id: str) -> ActionDetail:
        with self._tx.read() as session:
            action = repo.get_action_execution(session, action_execution_id)
            return action_details(session, [action])[0]

    def action_executions(self, query: Paging, of_task: str | None = None) -> list[ActionDetail]:
        """A page of action executions; ``of_task``: the task they must belong to (NotFoundError:
        no such task)."""
        with self._tx.read() as session:
            if of_task is not None:
                repo.get_task(session, of_task)
            found = repo.list_action_executions(session, query.filters, **_page(query))
            return action_details(session, found)
