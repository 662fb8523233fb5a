"""std.noop, std.async_noop, std.echo, std.fail, std.sleep, std.test_dict."""

import time

import pytest

from levante.actions import ActionContext, ActionError, Registry, Result, run_action
from levante.actions.std.basic import (
    AsyncNoOpAction,
    EchoAction,
    FailAction,
    NoOpAction,
    SleepAction,
    TestDictAction,
)

CTX = ActionContext(action_execution_id="ae-1")


@pytest.fixture(scope="module")
def registry():
    return Registry()


def test_noop():
    assert NoOpAction().run(CTX) is None
    assert NoOpAction().is_sync()


def test_async_noop():
    action = AsyncNoOpAction()
    assert action.is_sync() is False
    assert action.run(CTX) is None
    assert run_action(action, CTX) == Result(data=None)


@pytest.mark.parametrize("output", ["Hi", 3, None, [1, {"a": 2}], {"k": "v"}])
def test_echo_returns_output(output):
    assert EchoAction(output).run(CTX) == output


def test_echo_delay_waits():
    start = time.monotonic()
    assert EchoAction("x", delay=0.2).run(CTX) == "x"
    assert time.monotonic() - start >= 0.2


def test_echo_delay_accepts_numeric_string():
    start = time.monotonic()
    assert EchoAction("x", delay="0.1").run(CTX) == "x"
    assert time.monotonic() - start >= 0.1


def test_echo_negative_delay_is_zero():
    start = time.monotonic()
    assert EchoAction("x", delay=-5).run(CTX) == "x"
    assert time.monotonic() - start < 0.5


@pytest.mark.parametrize("delay", ["soon", [1], True, float("nan")])
def test_echo_bad_delay(delay):
    with pytest.raises(ActionError, match="delay must be a number of seconds"):
        EchoAction("x", delay=delay).run(CTX)


def test_echo_requires_output(registry):
    with pytest.raises(ActionError) as info:
        registry.create("std.echo", {"delay": 1})
    assert str(info.value) == (
        "Invalid input [name=std.echo, class=levante.actions.std.basic.EchoAction, missing=['output']]"
    )


@pytest.mark.parametrize("error_data", [{"reason": "bad"}, "text", 0, False, [], {}])
def test_fail_with_error_data(error_data):
    assert FailAction(error_data).run(CTX) == Result(error=error_data)
    assert run_action(FailAction(error_data=error_data), CTX).is_error()


def test_fail_without_error_data_raises():
    with pytest.raises(ActionError, match=r"^Fail action expected exception\.$"):
        FailAction().run(CTX)


def test_fail_through_registry_message(registry):
    result = run_action(registry.create("std.fail", {}), CTX)
    assert result.error == (
        "The action raised an exception [action=Fail action, action_ex_id=ae-1, "
        "msg='Fail action expected exception.']"
    )


def test_sleep():
    start = time.monotonic()
    assert SleepAction(0.2).run(CTX) is None
    assert time.monotonic() - start >= 0.2


def test_sleep_negative_is_zero():
    start = time.monotonic()
    assert SleepAction(-3).run(CTX) is None
    assert time.monotonic() - start < 0.5


def test_sleep_default_is_one_second():
    assert SleepAction().seconds == 1


def test_sleep_bad_value():
    with pytest.raises(ActionError, match="seconds must be a number"):
        SleepAction("long").run(CTX)


def test_test_dict():
    assert TestDictAction().run(CTX) == {}
    assert TestDictAction(size=3, key_prefix="k", val="v").run(CTX) == {"k0": "v", "k1": "v", "k2": "v"}
    assert TestDictAction(size="2", val={"x": 1}).run(CTX) == {"0": {"x": 1}, "1": {"x": 1}}


def test_test_dict_bad_size():
    with pytest.raises(ActionError, match="size must be a whole number"):
        TestDictAction(size="many").run(CTX)


def test_std_actions_through_registry(registry):
    assert run_action(registry.create("std.echo", {"output": [1, 2]}), CTX) == Result(data=[1, 2])
    assert run_action(registry.create("std.noop", {}), CTX) == Result(data=None)
    assert run_action(registry.create("std.test_dict", {"size": 1}), CTX) == Result(data={"0": ""})
    assert run_action(registry.create("std.fail", {"error_data": "e"}), CTX) == Result(error="e")
