"""``direct.combined_writes`` on PostgreSQL: writes of an engine step sent as one statement of
data-modifying WITH clauses, with the same outcome as one by one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Engine, ForeignKey, Integer, MetaData, String, Table, event, insert, select, update
from sqlalchemy.exc import IntegrityError

from levante.db import direct
from levante.db.session import make_session_factory, transaction

pytestmark = pytest.mark.integration

META = MetaData()
PARENT = Table("zz_combined_parent", META, Column("id", String(36), primary_key=True), Column("v", Integer))
CHILD = Table("zz_combined_child", META, Column("id", String(36), primary_key=True),
              Column("parent", String(36), ForeignKey("zz_combined_parent.id"), nullable=False),
              Column("note", String(50)))
# Built once, as the repository's statements are (a statement is planned from its second run on).
ADD_PARENT = insert(PARENT)
SET_PARENT = update(PARENT).where(PARENT.c.id == "p0").values(v=PARENT.c.v + 1)
ADD_CHILD = insert(CHILD)
ADD_CHILD_RETURNING = insert(CHILD).returning(CHILD.c.id)
READ_PARENTS = select(PARENT.c.id, PARENT.c.v).order_by(PARENT.c.id)


@pytest.fixture
def tables(pg_engine: Engine) -> Iterator[Engine]:
    META.create_all(pg_engine)
    yield pg_engine
    META.drop_all(pg_engine)


def _statements(engine: Engine) -> list[str]:
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda c, cur, sql, *a: seen.append(sql.split(None, 1)[0]))
    return seen


def _warm(engine: Engine) -> None:
    """Run each statement twice outside a block, so that it has a plan (as in a running engine)."""
    factory = make_session_factory(engine)
    for n in range(2):
        with transaction(factory) as session:
            direct.execute(session, ADD_PARENT, {"id": f"warm{n}", "v": 0})
            direct.execute(session, ADD_CHILD, {"id": f"wc{n}", "parent": f"warm{n}", "note": "w"})
            direct.rows(session, ADD_CHILD_RETURNING, {"id": f"wr{n}", "parent": f"warm{n}", "note": "w"})
            direct.execute(session, SET_PARENT, {})
            direct.rows(session, READ_PARENTS)


def test_writes_and_an_insert_returning_go_as_one_statement(tables: Engine) -> None:
    _warm(tables)
    seen = _statements(tables)
    factory = make_session_factory(tables)
    with transaction(factory) as session, direct.combined_writes(session):
        direct.execute(session, ADD_PARENT, {"id": "p1", "v": 1})  # a parent and its child in one
        direct.execute(session, ADD_CHILD, {"id": "c3", "parent": "p1", "note": "first"})  # same table next: apart
        _, found = direct.rows(session, ADD_CHILD_RETURNING, {"id": "c4", "parent": "p1", "note": "second"})
    assert seen == ["WITH", "INSERT"]  # parent + first child together; the second child after
    with transaction(factory) as session:
        notes = sorted(r[0] for r in session.execute(select(CHILD.c.note).where(CHILD.c.parent == "p1")))
    assert notes == ["first", "second"] and len(found) == 1


def test_a_read_in_the_block_sees_the_writes_before_it(tables: Engine) -> None:
    _warm(tables)
    factory = make_session_factory(tables)
    with transaction(factory) as session, direct.combined_writes(session):
        direct.execute(session, ADD_PARENT, {"id": "p0", "v": 5})
        direct.execute(session, ADD_CHILD, {"id": "c5", "parent": "p0", "note": "x"})
        _, parents = direct.rows(session, READ_PARENTS)
        assert ("p0", 5) in [tuple(p) for p in parents]
        direct.execute(session, SET_PARENT, {})
    with transaction(factory) as session:
        assert session.execute(select(PARENT.c.v).where(PARENT.c.id == "p0")).scalar() == 6


def test_a_failing_write_fails_the_block_and_leaves_nothing(tables: Engine) -> None:
    _warm(tables)
    factory = make_session_factory(tables)
    with pytest.raises(IntegrityError), transaction(factory) as session, direct.combined_writes(session):
        direct.execute(session, ADD_PARENT, {"id": "p2", "v": 1})
        direct.execute(session, ADD_CHILD, {"id": "c6", "parent": "nobody", "note": "orphan"})  # foreign key
    with transaction(factory) as session:
        assert session.execute(select(PARENT.c.id).where(PARENT.c.id == "p2")).first() is None


def test_the_end_of_the_block_sends_what_waits(tables: Engine) -> None:
    _warm(tables)
    seen = _statements(tables)
    factory = make_session_factory(tables)
    with transaction(factory) as session:
        with direct.combined_writes(session):
            direct.execute(session, ADD_PARENT, {"id": "p3", "v": 1})
            direct.execute(session, ADD_CHILD, {"id": "c7", "parent": "p3", "note": "y"})
            assert seen == []  # waiting
        assert seen == ["WITH"]
    rows: Any = None
    with transaction(factory) as session:
        rows = session.execute(select(CHILD.c.note).where(CHILD.c.parent == "p3")).all()
    assert [r[0] for r in rows] == ["y"]


def test_a_statement_seen_for_the_first_time_runs_after_the_writes_before_it(tables: Engine) -> None:
    """A statement a process runs for the first time goes through SQLAlchemy (it has no plan yet):
    the writes waiting go first, or its row would miss the one it refers to (an engine that had
    just restarted failed a step so, on a foreign key, in the fault campaign)."""
    _warm(tables)
    factory = make_session_factory(tables)
    new_child = insert(CHILD)  # never run: no plan
    with transaction(factory) as session, direct.combined_writes(session):
        direct.execute(session, ADD_PARENT, {"id": "p9", "v": 1})
        direct.execute(session, new_child, {"id": "c9", "parent": "p9", "note": "z"})
        direct.rows(session, select(CHILD.c.id).where(CHILD.c.parent == "p9"))  # a new read, too
    with transaction(factory) as session:
        assert session.execute(select(CHILD.c.parent).where(CHILD.c.id == "c9")).scalar() == "p9"
