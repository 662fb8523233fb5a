"""delete_execution removes a whole tree and nothing else."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from levante.db import repository as repo
from levante.db.models import ActionExecutionRow, TaskExecutionRow, WorkflowExecutionRow
from levante.db.session import SessionFactory, transaction
from levante.exceptions import NotFoundError
from tests.unit.db.helpers import action, at, sub, task, wf


def _tree(depth: int, breadth: int) -> tuple[list, list[str]]:
    """A root whose tasks start sub-workflows, ``depth`` levels deep; all records and the execution ids."""
    root = wf("root")
    records: list = [root]
    level = [root]
    for _ in range(depth):
        next_level = []
        for parent in level:
            for b in range(breadth):
                t = task(parent, f"call{b}")
                child = sub(t, root.id)
                records += [t, action(t, "std.noop"), child]
                next_level.append(child)
        level = next_level
    for leaf in level:
        t = task(leaf, "leaf")
        records += [t, action(t), action(t)]
    return records, [r.id for r in records if r.__class__.__name__ == "WorkflowExecution"]


def _count(s, model) -> int:  # noqa: ANN001
    return s.scalar(select(func.count()).select_from(model))


def test_delete_execution_removes_the_whole_tree(session_factory: SessionFactory) -> None:
    records, execution_ids = _tree(depth=3, breadth=2)  # 1 + 2 + 4 + 8 executions
    other, other_ids = _tree(depth=1, breadth=1)
    with transaction(session_factory) as s:
        repo.save_all(s, records + other)
        for ex_id in execution_ids + other_ids:
            repo.append_event(s, ex_id, "workflow_state", {"to": "RUNNING"})
            repo.schedule(s, at(60), ex_id, {"event": "timeout"}, key=f"timeout:{ex_id}")
    root_id = execution_ids[0]
    with transaction(session_factory) as s:
        tree = repo.execution_tree(s, root_id)
        assert sorted(tree) == sorted(execution_ids) and tree[-1] == root_id
        assert repo.delete_execution(s, root_id) == 15
    with transaction(session_factory) as s:
        assert {e.id for e in repo.list_executions(s)} == set(other_ids)
        assert _count(s, TaskExecutionRow) == len([r for r in other if type(r).__name__ == "TaskExecution"])
        assert _count(s, ActionExecutionRow) == len(
            [r for r in other if type(r).__name__ == "ActionExecution"]
        )
        for ex_id in execution_ids:
            assert repo.events_of(s, ex_id) == []
        assert {c.execution_id for c in repo.claim_due(s, at(100), 100, "w")} == set(other_ids)


def test_delete_a_sub_execution_keeps_its_parent(session_factory: SessionFactory) -> None:
    records, execution_ids = _tree(depth=2, breadth=1)
    with transaction(session_factory) as s:
        repo.save_all(s, records)
    with transaction(session_factory) as s:
        assert repo.delete_execution(s, execution_ids[1]) == 2  # the middle one and its child
    with transaction(session_factory) as s:
        assert [e.id for e in repo.list_executions(s)] == [execution_ids[0]]
        assert _count(s, WorkflowExecutionRow) == 1


def test_delete_missing_execution(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        with pytest.raises(NotFoundError):
            repo.delete_execution(s, "nope")
