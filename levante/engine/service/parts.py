"""The small pieces the engine service works with: the Store port over a session, what one
transaction produced, and a strictly increasing clock."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Protocol

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from levante.engine.records import AcceptedResult, ActionExecution, TaskExecution, WorkflowExecution, utcnow
from levante.states import State


class DbStore:
    """The Store port over one session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def action_executions(self, task_execution_id: str) -> list[ActionExecution]:
        return repo.action_executions_of(self.session, task_execution_id)

    def accepted_results(self, task_execution_id: str) -> list[AcceptedResult]:
        return repo.accepted_results_of(self.session, task_execution_id)

    def sub_executions(self, task_execution_id: str) -> list[WorkflowExecution]:
        return repo.sub_executions_of(self.session, task_execution_id)

    def item_chunks(self, task_execution_id: str, attempt: int, numbers: list[int]) -> dict[int, list[list[Any]]]:
        return repo.item_chunks_of(self.session, task_execution_id, attempt, numbers)

    def executions(self, filters: dict[str, Any]) -> list[WorkflowExecution]:
        return repo.list_executions(self.session, {k: v for k, v in filters.items()
                                                   if k in ("id", "root_execution_id", "state")}, limit=1000)


class DbTasks:
    """The TaskLoader port over one session: the tasks of one execution that a step did not load."""

    def __init__(self, session: Session, execution_id: str) -> None:
        self.session = session
        self.execution_id = execution_id

    def all(self) -> list[TaskExecution]:
        return repo.tasks_of(self.session, self.execution_id)

    def by_id(self, task_execution_id: str) -> TaskExecution | None:
        return repo.task_of(self.session, self.execution_id, task_execution_id)

    def latest(self, name: str) -> TaskExecution | None:
        return repo.latest_task(self.session, self.execution_id, name)

    def latest_of(self, names: list[str]) -> dict[str, TaskExecution]:
        return repo.latest_tasks(self.session, self.execution_id, names)

    def open(self) -> list[TaskExecution]:
        return repo.open_tasks_of(self.session, self.execution_id)

    def more_open_than(self, count: int) -> bool:
        return repo.more_open_tasks_than(self.session, self.execution_id, count)

    def by_unique_key(self, key: str) -> TaskExecution | None:
        found = repo.find_task_by_unique_key(self.session, key)
        return found if found is not None and found.workflow_execution_id == self.execution_id else None


class Outcome:
    """What one transaction produced, to act on after it commits."""

    def __init__(self) -> None:
        self.outbox: list[tuple[int, str, dict[str, Any]]] = []
        self.completed: list[tuple[str, str]] = []
        self.wake_scheduler = False
        #: Action executions ended by a cancel: executors must not run (or must stop) them.
        self.cancelled_actions: list[str] = []
        #: States of the parents and roots read while starting sub-executions, by id.
        self.states: dict[str, State | None] = {}


class StrictClock:
    """UTC now, strictly increasing between calls: records are ordered by ``(created_at, id)``, so
    two task executions created in one decision must not share a timestamp."""

    def __init__(self, clock: Callable[[], Any] = utcnow) -> None:
        self._clock = clock
        self._last: Any = None
        self._lock = threading.Lock()

    def __call__(self) -> Any:
        with self._lock:
            now = self._clock()
            if self._last is not None and now <= self._last:
                now = self._last + timedelta(microseconds=1)
            self._last = now
            return now


#: What a service raises when the database cannot be reached (a restart, a failover): the API
#: answers 503 with Retry-After.
DatabaseUnavailable = OperationalError


@dataclass
class ActionDetail:
    """An action execution with what its view needs beside it: the name of its task, the namespace
    of its workflow, and ``(last_heartbeat, progress)`` it last reported (async actions)."""

    action: ActionExecution
    task_name: str | None = None
    workflow_namespace: str = ""
    heartbeat: tuple[datetime | None, Any] | None = None


class Paging(Protocol):
    """A page of a listing as the API parsed it (``levante.api.listing.ListQuery``)."""

    @property
    def filters(self) -> dict[str, Any]: ...

    @property
    def limit(self) -> int | None: ...

    @property
    def marker(self) -> str | None: ...

    @property
    def sort_keys(self) -> Sequence[str]: ...

    @property
    def sort_dirs(self) -> Sequence[str]: ...


class Transactions:
    """The two kinds of transaction a service opens: writes (SQLite: they take the write lock at
    their start) and reads (SQLite: DEFERRED, so they run beside the engine's writer)."""

    def __init__(self, writes: SessionFactory, reads: SessionFactory) -> None:
        self.writes = writes
        self.reads = reads

    def read(self) -> AbstractContextManager[Session]:
        return transaction(self.reads)

    def write(self) -> AbstractContextManager[Session]:
        return transaction(self.writes)
