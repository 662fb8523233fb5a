"""The state table: every pair is either allowed by the table or refused with InvalidTransition."""

import itertools

import pytest

from levante.exceptions import InvalidTransition
from levante.states import COMPLETED, TRANSITIONS, State, can_transition, check_transition, is_completed

ALLOWED = {
    ("IDLE", "RUNNING"), ("IDLE", "ERROR"), ("IDLE", "CANCELLED"),
    ("WAITING", "RUNNING"),
    ("RUNNING", "PAUSED"), ("RUNNING", "DELAYED"), ("RUNNING", "SUCCESS"), ("RUNNING", "ERROR"),
    ("RUNNING", "CANCELLED"),
    ("DELAYED", "RUNNING"), ("DELAYED", "ERROR"), ("DELAYED", "CANCELLED"),
    ("PAUSED", "RUNNING"), ("PAUSED", "ERROR"), ("PAUSED", "CANCELLED"),
    ("CANCELLED", "RUNNING"),
    ("ERROR", "RUNNING"), ("ERROR", "SKIPPED"),
}


@pytest.mark.parametrize("current, requested", list(itertools.product(State, State)))
def test_every_pair(current, requested):
    allowed = current == requested or (current.value, requested.value) in ALLOWED
    assert can_transition(current, requested) is allowed
    if allowed:
        check_transition("workflow execution", current, requested)
    else:
        with pytest.raises(InvalidTransition) as info:
            check_transition("workflow execution", current, requested)
        assert str(info.value) == (
            f"Can't change workflow execution state from {current.value} to {requested.value}.")
        assert info.value.http_status == 409


def test_terminal_states_absorb():
    for state in (State.SUCCESS,):
        assert TRANSITIONS[state] == frozenset()
    assert is_completed("SKIPPED", task=True) and not is_completed("SKIPPED")
    assert COMPLETED == {State.SUCCESS, State.ERROR, State.CANCELLED}


def test_states_are_strings():
    assert State("DELAYED") is State.DELAYED
    assert f"{State.RUNNING}" == "RUNNING" and State.RUNNING == "RUNNING"
