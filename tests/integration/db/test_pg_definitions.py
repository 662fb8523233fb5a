"""The SQLite tests of tests/unit/db/test_definitions.py, run on PostgreSQL, and what only
PostgreSQL can show (two transactions at once)."""

import threading

import pytest

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from tests.unit.db.test_definitions import *  # noqa: F403 - the tests are collected here with this conftest

pytestmark = pytest.mark.integration


def test_two_engines_storing_the_same_snapshot_at_once_both_succeed(session_factory: SessionFactory) -> None:
    # The first transaction holds its uncommitted insert while the second inserts the same key: the
    # second waits for the first to commit, then does nothing (no unique violation).
    errors: list[BaseException] = []
    second_done = threading.Event()

    def second() -> None:
        try:
            with transaction(session_factory) as s:
                repo.save_definition_snapshot(s, "e" * 64, "workflows", "text")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        second_done.set()

    with transaction(session_factory) as s:
        repo.save_definition_snapshot(s, "e" * 64, "workflows", "text")
        thread = threading.Thread(target=second)
        thread.start()
        assert not second_done.wait(0.5)  # blocked on the first transaction's row
    thread.join(30)
    assert second_done.is_set() and errors == []
    with transaction(session_factory) as s:
        assert repo.find_definition_snapshot(s, "e" * 64) == ("workflows", "text")
