"""The action model: ActionContext, Result, Action and run_action."""

import dataclasses

import pytest

from levante.actions import Action, ActionContext, ActionError, Registry, Result, run_action


class Plain(Action):
    def run(self, context):
        return {"id": context.action_execution_id}


class Raising(Action):
    def run(self, context):
        raise ValueError("boom")


class Returning(Action):
    def __init__(self, result):
        self.result = result

    def run(self, context):
        return self.result


def test_context_defaults_and_frozen():
    ctx = ActionContext()
    assert ctx.action_execution_id is None and ctx.callback_url is None
    assert ctx.redelivered is False and ctx.with_items_index is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.action_execution_id = "x"


def test_result_predicates():
    assert Result(data=1).is_success()
    assert Result(error="e").is_error() and not Result(error="e").is_success()
    assert Result(cancel=True).is_cancel() and not Result(cancel=True).is_success()
    assert not Result(error="e", cancel=True).is_error()
    assert Result(error=0).is_error()  # any value but None is an error


def test_plain_value_is_wrapped():
    assert run_action(Plain(), ActionContext(action_execution_id="a1")) == Result(data={"id": "a1"})


def test_none_is_wrapped():
    assert run_action(Returning(None), ActionContext()) == Result(data=None)


@pytest.mark.parametrize("result", [Result(data=3), Result(error={"x": 1}), Result(cancel=True)])
def test_result_is_passed_through(result):
    assert run_action(Returning(result), ActionContext()) is result


def test_exception_names_class_without_registry():
    result = run_action(Raising(), ActionContext(action_execution_id="ae-7"))
    assert result.error == "The action raised an exception [action=Raising, action_ex_id=ae-7, msg='boom']"
    assert result.data is None and not result.cancel


def test_exception_names_registered_name():
    reg = Registry(group="levante.tests.none")
    reg.register("my.raise", Raising)
    result = run_action(reg.create("my.raise", {}), ActionContext(action_execution_id="ae-8"))
    assert result.error == "The action raised an exception [action=my.raise, action_ex_id=ae-8, msg='boom']"


def test_levante_error_message_is_used():
    class Failing(Action):
        def run(self, context):
            raise ActionError("nope")

    assert "msg='nope'" in run_action(Failing(), ActionContext()).error


def test_base_action_is_sync_and_has_no_run():
    action = Action()
    assert action.is_sync() is True
    result = run_action(action, ActionContext())
    assert "does not implement run()" in result.error


def test_base_exceptions_are_not_caught():
    class Interrupting(Action):
        def run(self, context):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_action(Interrupting(), ActionContext())
