"""Keyset pagination over 250 executions: pages concatenate to the full ordered listing."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import pytest

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from levante.engine.records import WorkflowExecution
from levante.exceptions import InputError, NotFoundError
from levante.states import State
from tests.unit.db.helpers import action, at, task, wf

COUNT = 250
STATES = [State.RUNNING, State.SUCCESS, State.ERROR, State.PAUSED]


def _id(n: int) -> str:
    # Digits only where ids differ: every collation orders them as Python does.
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
def executions(session_factory: SessionFactory) -> list[WorkflowExecution]:
    rng = random.Random(20240501)
    numbers = list(range(COUNT))
    rng.shuffle(numbers)  # id order unrelated to time order
    records = []
    for i, n in enumerate(numbers):
        records.append(
            wf(
                f"wf{i % 5}",
                id=_id(n),
                state=STATES[i % 4],
                created_at=at(rng.randrange(40)),  # many ties on created_at
                updated_at=None if i % 3 == 0 else at(100 + rng.randrange(30)),
                root_execution_id=None if i % 7 else _id(0),
            )
        )
    with transaction(session_factory) as s:
        repo.save_all(s, records)
    return records


def _key(keys: Sequence[str], dirs: Sequence[str]) -> Callable[[WorkflowExecution], Any]:
    """Python's version of the SQL order (NULL smallest), for the expected result."""
    keys, dirs = list(keys), list(dirs)
    if "id" not in keys:
        keys.append("id")
        dirs.append(dirs[-1])

    def value(v: Any) -> Any:
        return v.value if isinstance(v, State) else v

    class Key:
        def __init__(self, record: WorkflowExecution) -> None:
            self.values = [value(getattr(record, k)) for k in keys]

        def __lt__(self, other: Key) -> bool:
            for a, b, d in zip(self.values, other.values, dirs, strict=True):
                if a == b:
                    continue
                less = (a is None) if (a is None or b is None) else a < b
                return less if d == "asc" else not less
            return False

    return Key


def _pages(session_factory: SessionFactory, page_size: int, **kwargs: Any) -> list[list[str]]:
    pages: list[list[str]] = []
    marker = None
    with transaction(session_factory) as s:
        while True:
            page = repo.list_executions(s, limit=page_size, marker=marker, **kwargs)
            if not page:
                return pages
            pages.append([e.id for e in page])
            marker = page[-1].id
            assert len(pages) <= COUNT, "pagination does not end"


ORDERS = [
    (("created_at", "id"), ("desc", "desc")),
    (("created_at", "id"), ("asc", "asc")),
    (("created_at",), ("asc",)),
    (("workflow_name", "created_at"), ("asc", "desc")),
    (("state", "workflow_name", "created_at"), ("desc", "asc", "asc")),
    (("updated_at",), ("asc",)),  # NULLs
    (("updated_at", "created_at"), ("desc", "asc")),
    (("id",), ("desc",)),
]


@pytest.mark.parametrize(("sort_keys", "sort_dirs"), ORDERS)
def test_pages_follow_the_order(
    session_factory: SessionFactory,
    executions: list[WorkflowExecution],
    sort_keys: tuple[str, ...],
    sort_dirs: tuple[str, ...],
) -> None:
    expected = [e.id for e in sorted(executions, key=_key(sort_keys, sort_dirs))]
    with transaction(session_factory) as s:
        whole = [e.id for e in repo.list_executions(s, sort_keys=sort_keys, sort_dirs=sort_dirs)]
    assert whole == expected
    for size in (1, 7, 50, 300):
        pages = _pages(session_factory, size, sort_keys=sort_keys, sort_dirs=sort_dirs)
        assert [i for page in pages for i in page] == expected, size
        assert all(len(p) == size for p in pages[:-1])


FILTERS: list[tuple[dict[str, Any], Callable[[WorkflowExecution], bool]]] = [
    ({"state": "RUNNING"}, lambda e: e.state == State.RUNNING),
    (
        {"state": State.ERROR, "workflow_name": "wf2"},
        lambda e: e.state == State.ERROR and e.workflow_name == "wf2",
    ),
    ({"state": ["SUCCESS", "PAUSED"]}, lambda e: e.state in (State.SUCCESS, State.PAUSED)),
    ({"root_execution_id": _id(0)}, lambda e: e.root_execution_id == _id(0)),
    ({"root_execution_id": None}, lambda e: e.root_execution_id is None),
    ({"task_execution_id": None}, lambda e: True),
    ({"created_at": {"op": "gte", "value": at(20)}}, lambda e: e.created_at >= at(20)),
    ({"created_at": {"op": "gt", "value": at(20)}}, lambda e: e.created_at > at(20)),
    ({"created_at": {"op": "lt", "value": at(5)}}, lambda e: e.created_at < at(5)),
    ({"created_at": {"op": "lte", "value": at(5)}}, lambda e: e.created_at <= at(5)),
    ({"created_at": {"op": "neq", "value": at(7)}}, lambda e: e.created_at != at(7)),
    (
        {"created_at": {"op": "in", "value": [at(1), at(2), at(3)]}},
        lambda e: e.created_at in (at(1), at(2), at(3)),
    ),
    (
        {"created_at": [{"op": "gte", "value": at(10)}, {"op": "lt", "value": at(15)}]},
        lambda e: at(10) <= e.created_at < at(15),
    ),
    (
        {"updated_at": {"op": "gte", "value": at(110)}, "state": "RUNNING"},
        lambda e: e.updated_at is not None and e.updated_at >= at(110) and e.state == State.RUNNING,
    ),
    ({"updated_at": None}, lambda e: e.updated_at is None),
    (
        {"workflow_name": {"op": "nin", "value": ["wf0", "wf1"]}},
        lambda e: e.workflow_name not in ("wf0", "wf1"),
    ),
]


@pytest.mark.parametrize(("filters", "predicate"), FILTERS)
def test_filters_with_pages(
    session_factory: SessionFactory,
    executions: list[WorkflowExecution],
    filters: dict[str, Any],
    predicate: Callable[[WorkflowExecution], bool],
) -> None:
    keys, dirs = ("created_at", "id"), ("desc", "desc")
    expected = [e.id for e in sorted(filter(predicate, executions), key=_key(keys, dirs))]
    assert expected, "the filter should select something"
    pages = _pages(session_factory, 9, filters=filters, sort_keys=keys, sort_dirs=dirs)
    assert [i for page in pages for i in page] == expected


def test_filters_accept_aware_datetimes_in_any_zone(
    session_factory: SessionFactory, executions: list[WorkflowExecution]
) -> None:
    from datetime import timedelta, timezone

    since = at(20).astimezone(timezone(timedelta(hours=-5)))
    with transaction(session_factory) as s:
        found = repo.list_executions(s, {"created_at": {"op": "gte", "value": since}})
    assert len(found) == sum(e.created_at >= at(20) for e in executions)


def test_bad_requests(session_factory: SessionFactory, executions: list[WorkflowExecution]) -> None:
    with transaction(session_factory) as s:
        with pytest.raises(InputError):
            repo.list_executions(s, sort_keys=("no_such_column",))
        with pytest.raises(InputError):
            repo.list_executions(s, sort_keys=("input",))  # JSON
        with pytest.raises(InputError):
            repo.list_executions(s, sort_dirs=("sideways",))
        with pytest.raises(InputError):
            repo.list_executions(s, {"state": {"op": "like", "value": "R%"}})
        with pytest.raises(InputError):
            repo.list_executions(s, {"nope": 1})
        with pytest.raises(NotFoundError):
            repo.list_executions(s, marker="00000000-0000-4000-8000-999999999999")


DESCRIPTIONS = ["100% done", "1000 done", "a_b", "axb", "Nightly run", "nightly run", "", None]


@pytest.mark.parametrize(("needle", "expected"), [
    ("%", ["100% done"]),  # a literal percent sign, not LIKE's wildcard
    ("0%", ["100% done"]),
    ("_", ["a_b"]),  # a literal underscore, not LIKE's one-character wildcard
    ("a_b", ["a_b"]),
    ("done", ["100% done", "1000 done"]),
    ("nightly", ["nightly run"]),  # case-sensitive on every backend
    ("Night", ["Nightly run"]),
    ("ly r", ["Nightly run", "nightly run"]),
    ("\\", []),
])
def test_has_finds_the_text_literally(session_factory: SessionFactory, needle: str, expected: list[str]) -> None:
    records = [wf(id=_id(i), description=d, created_at=at(i)) for i, d in enumerate(DESCRIPTIONS)]
    with transaction(session_factory) as s:
        repo.save_all(s, records)
        found = repo.list_executions(s, {"description": {"op": "has", "value": needle}}, sort_dirs=("asc",))
        assert [e.description for e in found] == expected
        both = repo.list_executions(s, {"description": [{"op": "has", "value": "done"},
                                                        {"op": "has", "value": "%"}]})
        assert [e.description for e in both] == ["100% done"]


def test_has_refuses_what_it_cannot_look_into(session_factory: SessionFactory) -> None:
    with transaction(session_factory) as s:
        with pytest.raises(InputError, match="'created_at' is not one"):
            repo.list_executions(s, {"created_at": {"op": "has", "value": "2024"}})
        with pytest.raises(InputError, match="needs a text"):
            repo.list_executions(s, {"description": {"op": "has", "value": ""}})
        with pytest.raises(InputError, match="needs a text"):
            repo.list_executions(s, {"description": {"op": "has", "value": None}})


def test_list_tasks_and_action_executions(session_factory: SessionFactory) -> None:
    wf_ex = wf()
    tasks = [
        task(wf_ex, f"t{i % 3}", state=State.SUCCESS if i % 2 else State.RUNNING, created_at=at(i))
        for i in range(12)
    ]
    actions = [
        action(tasks[i % 12], state=State.ERROR if i % 4 == 0 else State.SUCCESS, created_at=at(i))
        for i in range(30)
    ]
    with transaction(session_factory) as s:
        repo.save_all(s, [wf_ex, *tasks, *actions])
    with transaction(session_factory) as s:
        found = repo.list_tasks(s, {"workflow_execution_id": wf_ex.id, "name": "t1"}, sort_dirs=("asc",))
        assert [t.id for t in found] == [t.id for t in tasks if t.name == "t1"]
        found = repo.list_tasks(s, {"state": "SUCCESS"}, limit=2)
        assert [t.id for t in found] == [tasks[11].id, tasks[9].id]
        page2 = repo.list_tasks(s, {"state": "SUCCESS"}, limit=2, marker=found[-1].id)
        assert [t.id for t in page2] == [tasks[7].id, tasks[5].id]
        errors = repo.list_action_executions(s, {"state": "ERROR", "task_execution_id": tasks[0].id})
        assert {a.id for a in errors} == {
            a.id for a in actions if a.state == State.ERROR and a.task_execution_id == tasks[0].id
        }
        assert len(repo.list_action_executions(s, {"workflow_execution_id": wf_ex.id})) == 30


def test_created_at_index_order_is_time_order(session_factory: SessionFactory) -> None:
    # Timestamps in other zones are stored as UTC: text order on SQLite is time order.
    from datetime import timedelta, timezone

    zones = [timezone(timedelta(hours=h)) for h in (-11, -3, 0, 5, 13)]
    records = [wf(id=_id(i), created_at=(at(i * 60)).astimezone(zones[i % 5])) for i in range(10)]
    with transaction(session_factory) as s:
        repo.save_all(s, records)
        found = repo.list_executions(s, sort_dirs=("asc",))
    assert [e.id for e in found] == [_id(i) for i in range(10)]
    assert all(isinstance(e.created_at, datetime) and e.created_at.tzinfo is not None for e in found)
