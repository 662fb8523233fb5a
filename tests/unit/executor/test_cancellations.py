"""Executors and cancelled action executions: queued requests are skipped, running actions are
told to stop, std.sleep wakes up."""

from __future__ import annotations

import threading
import time

from levante.actions.base import ActionContext, run_action
from levante.actions.registry import Registry
from levante.actions.std.basic import SleepAction
from levante.engine.commands import RunAction
from levante.executor.cancellations import Cancellations
from levante.executor.runner import ActionRequest, ActionRunner


def _request(action_id: str, name: str = "std.sleep", **action_input: object) -> ActionRequest:
    return ActionRequest(RunAction(action_execution_id=action_id, action_name=name, input=dict(action_input),
                                   execution_id="ex-1", task_execution_id="task-1", workflow_name="wf"))


class _Stoppable:
    def __init__(self) -> None:
        self.stopped = 0

    def cancel(self) -> None:
        self.stopped += 1


def test_a_cancelled_id_cannot_start_and_a_running_one_is_told_to_stop() -> None:
    book = Cancellations()
    first, second = _Stoppable(), _Stoppable()
    assert book.start("a1", first)
    assert book.cancel(["a1", "a2"]) == 1
    assert first.stopped == 1
    assert not book.start("a2", second) and second.stopped == 0
    assert book.finish("a1") is True
    assert book.running() == []
    assert book.is_cancelled("a2") and not book.is_cancelled("a3")


def test_the_memory_is_bounded_oldest_first() -> None:
    book = Cancellations(limit=3)
    book.cancel(["a", "b", "c", "d"])
    assert not book.is_cancelled("a")
    assert all(book.is_cancelled(i) for i in "bcd")


def test_a_failing_cancel_hook_does_not_break_the_others() -> None:
    class Broken:
        def cancel(self) -> None:
            raise RuntimeError("no")

    book = Cancellations()
    fine = _Stoppable()
    book.start("x", Broken())
    book.start("y", fine)
    assert book.cancel(["x", "y"]) == 2
    assert fine.stopped == 1


def test_sleep_wakes_up_when_cancelled() -> None:
    action = SleepAction(seconds=60)
    threading.Timer(0.05, action.cancel).start()
    started = time.monotonic()
    result = run_action(action, ActionContext())
    assert result.is_cancel()
    assert time.monotonic() - started < 30  # far from the 60 s it was asked to sleep


def test_the_runner_skips_a_request_of_a_cancelled_action() -> None:
    runner = ActionRunner(Registry(), "http://127.0.0.1:8989")
    runner.cancellations.cancel(["ae-1"])
    assert runner.run(_request("ae-1", seconds=60)) is None


def test_the_runner_stops_a_running_sleep_and_reports_nothing() -> None:
    runner = ActionRunner(Registry(), "http://127.0.0.1:8989")
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(runner.run(_request("ae-2", seconds=60))))
    worker.start()
    deadline = time.monotonic() + 10
    while "ae-2" not in runner.cancellations.running() and time.monotonic() < deadline:
        time.sleep(0.01)
    runner.cancellations.cancel(["ae-2"])
    worker.join(20)
    assert not worker.is_alive()
    assert outcome == [None]


def test_a_request_that_was_not_cancelled_runs_as_before() -> None:
    runner = ActionRunner(Registry(), "http://127.0.0.1:8989")
    runner.cancellations.cancel(["other"])
    event = runner.run(_request("ae-3", "std.echo", output=5))
    assert event is not None and event.state == "SUCCESS" and event.result == 5
