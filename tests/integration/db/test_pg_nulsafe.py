"""The tests of tests/unit/db/test_nulsafe.py, run on PostgreSQL (NUL in every text and JSON
column), and what is written to disk there."""

import pytest
from sqlalchemy import Engine, text

from levante.db.models import Environment
from levante.db.nulsafe import ESC
from levante.db.session import make_session_factory, transaction
from tests.unit.db.test_nulsafe import *  # noqa: F403 - the tests are collected here with this conftest

pytestmark = pytest.mark.integration


def test_on_disk_nul_is_escaped_and_other_text_is_untouched(db_engine: Engine) -> None:
    with transaction(make_session_factory(db_engine)) as session:
        session.add(Environment(id="e1", name="n", description="a\x00b", variables={"k\x00": "\x00" + ESC}))
        session.add(Environment(id="e2", name="m", description="a\\u0000b", variables={"k": "é\\u0000"}))
    with db_engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, description || ' ' || variables::text FROM environments")).all())
    assert rows["e1"] == f'a{ESC}0b {{"k{ESC}0": "{ESC}0{ESC}{ESC}"}}'
    assert rows["e2"] == 'a\\u0000b {"k": "é\\\\u0000"}'
    with transaction(make_session_factory(db_engine)) as session:
        found = session.get(Environment, "e1")
        assert found is not None and found.description == "a\x00b"
        assert found.variables == {"k\x00": "\x00" + ESC}
