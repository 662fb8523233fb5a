"""The task executions a step of the engine reads: the tasks its events name and the joins of its
workflow, the open ones, any one by id or by name (the newest), and whether open ones remain. Each
statement is built once, with bound parameters (building a SELECT of a record's 25 columns costs as
much CPU as running it)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text
from sqlalchemy.orm import Session

from levante.db import direct
from levante.db.models import OPEN_TASKS
from levante.db.repository._query import chunks
from levante.db.repository.records import COLUMNS, TASK_TABLE, in_creation_order, read_records, select_of
from levante.engine.records import TaskExecution

_B_ID: Any = bindparam("b_id")
#: Task executions that are open (:data:`~levante.db.models.OPEN_TASKS`), the condition as literal text.
_OPEN_TASKS = select_of(TaskExecution).where(text(f"({OPEN_TASKS})"))
_B_EX: Any = bindparam("b_ex")
_TASKS_OF = (select_of(TaskExecution).where(TASK_TABLE.c.workflow_execution_id == _B_EX)
             .order_by(*in_creation_order(TASK_TABLE)))
_OPEN_TASKS_OF = (_OPEN_TASKS.where(TASK_TABLE.c.workflow_execution_id == _B_EX)
                  .order_by(*in_creation_order(TASK_TABLE)))
_TASK_OF = select_of(TaskExecution).where(TASK_TABLE.c.id == _B_ID, TASK_TABLE.c.workflow_execution_id == _B_EX)
_LATEST_TASK = (select_of(TaskExecution)
                .where(TASK_TABLE.c.workflow_execution_id == _B_EX, TASK_TABLE.c.name == bindparam("b_name"))
                .order_by(TASK_TABLE.c.created_at.desc(), TASK_TABLE.c.id.desc()).limit(1))


def tasks_of(session: Session, execution_id: str) -> list[TaskExecution]:
    """Every task execution of a workflow execution, in creation order (``created_at``, then id)."""
    return read_records(session, TaskExecution, _TASKS_OF, {"b_ex": execution_id})


def open_tasks_of(session: Session, execution_id: str) -> list[TaskExecution]:
    """The open task executions of a workflow execution (not ended, or their end not processed),
    in creation order: what a step of it works on (read through a partial index)."""
    return read_records(session, TaskExecution, _OPEN_TASKS_OF, {"b_ex": execution_id})


def tasks_for_step(session: Session, execution_id: str, task_ids: Sequence[str],
                   join_keys: Sequence[str]) -> list[TaskExecution]:
    """The task executions with these ids and the joins with these keys, of one workflow execution,
    in creation order (one statement through the primary key and the join key's index, however
    many other tasks the execution has open)."""
    found: list[TaskExecution] = []
    wanted = [*dict.fromkeys(task_ids), *join_keys]
    id_set = set(task_ids)
    for part in chunks(wanted, 500):
        ids = [w for w in part if w in id_set]
        keys = [w for w in part if w not in id_set]
        params = {"b_ex": execution_id, **{f"b_i{n}": v for n, v in enumerate(ids)},
                  **{f"b_k{n}": v for n, v in enumerate(keys)}}
        found += read_records(session, TaskExecution, _step_tasks(len(ids), len(keys)), params)
    if len(wanted) > 500:  # one order across the chunks
        found.sort(key=lambda t: (t.created_at, t.id))
    return found


@functools.lru_cache(maxsize=512)
def _step_tasks(ids: int, keys: int) -> Any:
    """The statement of :func:`tasks_for_step` for that many ids and keys, built once."""
    picks = [TASK_TABLE.c.id.in_([bindparam(f"b_i{n}") for n in range(ids)])] if ids else []
    picks += [TASK_TABLE.c.unique_key.in_([bindparam(f"b_k{n}") for n in range(keys)])] if keys else []
    return (select_of(TaskExecution).where(TASK_TABLE.c.workflow_execution_id == _B_EX, or_(*picks))
            .order_by(*in_creation_order(TASK_TABLE)))


def more_open_tasks_than(session: Session, execution_id: str, count: int) -> bool:
    """Whether the workflow execution has more than ``count`` open task executions (counts at
    most ``count + 1`` of them, through the partial index of open tasks)."""
    return int(direct.scalar(session, _COUNT_OPEN, {"b_ex": execution_id, "b_limit": count + 1})) > count


_COUNT_OPEN = select(func.count()).select_from(
    select(TASK_TABLE.c.id).where(text(f"({OPEN_TASKS})"), TASK_TABLE.c.workflow_execution_id == _B_EX)
    .limit(bindparam("b_limit")).subquery())


def task_of(session: Session, execution_id: str, task_id: str) -> TaskExecution | None:
    """The task execution with that id if it belongs to that workflow execution."""
    return next(iter(read_records(session, TaskExecution, _TASK_OF, {"b_id": task_id, "b_ex": execution_id})), None)


def latest_task(session: Session, execution_id: str, name: str) -> TaskExecution | None:
    """The newest task execution of the task ``name`` in a workflow execution."""
    return next(iter(read_records(session, TaskExecution, _LATEST_TASK, {"b_ex": execution_id, "b_name": name})), None)


def latest_tasks(session: Session, execution_id: str, names: Sequence[str]) -> dict[str, TaskExecution]:
    """The newest task execution of each task of ``names`` that has one, by name (one statement per
    500 names: a join deciding on hundreds of inbound tasks reads them at once)."""
    found: dict[str, TaskExecution] = {}
    for part in chunks(list(names), 500):
        newest = func.row_number().over(partition_by=TASK_TABLE.c.name,
                                        order_by=(TASK_TABLE.c.created_at.desc(), TASK_TABLE.c.id.desc()))
        ranked = (select(*COLUMNS[TaskExecution], newest.label("newest"))
                  .where(TASK_TABLE.c.workflow_execution_id == execution_id, TASK_TABLE.c.name.in_(part))
                  .subquery())
        stmt = select(*(ranked.c[c.name] for c in COLUMNS[TaskExecution])).where(ranked.c.newest == 1)
        for task_ex in read_records(session, TaskExecution, stmt):
            found[task_ex.name] = task_ex
    return found
