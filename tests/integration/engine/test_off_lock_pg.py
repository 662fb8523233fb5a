"""Decisions made off the lock on PostgreSQL: the scenarios of
``tests/functional/test_off_lock_decisions.py`` on a PostgreSQL database (read phase in autocommit,
write phase under the execution's row lock)."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from levante.node import Node
from tests.functional import test_off_lock_decisions as scenarios

pytestmark = pytest.mark.integration


@pytest.fixture()
def pg_node(pg_url: str) -> Iterator[Callable[..., Node]]:
    yield from scenarios._nodes(lambda: pg_url)


def test_a_change_during_an_off_lock_decision_makes_it_again(pg_node, monkeypatch) -> None:
    scenarios.check_a_change_during_an_off_lock_decision_makes_it_again(pg_node, monkeypatch)


def test_decisions_that_keep_meeting_changes_are_made_under_the_lock(pg_node, monkeypatch, caplog) -> None:
    scenarios.check_decisions_that_keep_meeting_changes_are_made_under_the_lock(pg_node, monkeypatch, caplog)


def test_results_through_the_engine_inbox_are_decided_off_the_lock(pg_node, monkeypatch) -> None:
    scenarios.check_results_through_the_engine_inbox_are_decided_off_the_lock(pg_node, monkeypatch)


def test_a_request_is_decided_off_the_lock(pg_node, monkeypatch) -> None:
    scenarios.check_a_request_is_decided_off_the_lock(pg_node, monkeypatch)


def test_a_callback_answer_is_described_after_an_off_lock_decision(pg_node) -> None:
    scenarios.check_a_callback_answer_is_described_after_an_off_lock_decision(pg_node)


def test_a_runaway_decision_does_not_hold_back_another_execution(pg_node) -> None:
    scenarios.check_a_runaway_decision_does_not_hold_back_another_execution(pg_node)


def test_sub_workflow_starts_are_decided_off_the_lock_with_their_parents_step(pg_node, monkeypatch) -> None:
    scenarios.check_sub_workflow_starts_are_decided_off_the_lock_with_their_parents_step(pg_node, monkeypatch)


def test_a_runaway_sub_workflow_start_does_not_hold_back_another_execution(pg_node) -> None:
    scenarios.check_a_runaway_sub_workflow_start_does_not_hold_back_another_execution(pg_node)
