"""The embedded executor's hand-over: every row of every batch runs once, on no more threads than
the pool has, whatever the batches' sizes and however they interleave; rows not started at
shutdown are dropped (they stay unsent)."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any

from levante.actions.registry import Registry
from levante.engine.commands import RunAction
from levante.executor.embedded import EmbeddedExecutor
from levante.executor.runner import ActionRequest, ActionRunner


class _CountingRunner(ActionRunner):
    """Runs nothing: records which requests ran, on how many threads at once."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        super().__init__(Registry(), "http://127.0.0.1")
        self.gate = gate
        self.ran: list[str] = []
        self.lock = threading.Lock()
        self.busy = 0
        self.most_busy = 0

    def run_safely(self, request: ActionRequest) -> Any:
        with self.lock:
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        if self.gate is not None:
            self.gate.wait(10)
        with self.lock:
            self.ran.append(request.command.action_execution_id)
            self.busy -= 1
        return None  # as an asynchronous action: the row is done with through on_done


def _rows(start: int, count: int) -> list[tuple[int, str, dict[str, Any]]]:
    return [(i, "executor", RunAction(action_execution_id=f"a{i}", action_name="std.noop", input={}).to_dict())
            for i in range(start, start + count)]


def _wait(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_every_row_of_interleaved_batches_runs_once_on_at_most_the_pool_threads() -> None:
    runner = _CountingRunner()
    done: list[int] = []
    executor = EmbeddedExecutor(runner, 4, queue.Queue(), done.append)
    try:
        senders = [threading.Thread(target=lambda n=n: [executor.send(_rows(n * 10_000 + k * 100, size))
                                                        for k, size in enumerate((1, 100, 3, 57, 2))])
                   for n in range(6)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        _wait(lambda: len(done) == 6 * 163)
        time.sleep(0.05)  # nothing runs twice afterwards
        assert sorted(runner.ran) == sorted(f"a{i}" for n in range(6) for k, size in enumerate((1, 100, 3, 57, 2))
                                            for i in range(n * 10_000 + k * 100, n * 10_000 + k * 100 + size))
        assert len(done) == len(set(done)) == 6 * 163
        assert runner.most_busy <= 4
        assert executor.queued() == 0
        _wait(lambda: executor._draining == 0)
        executor.send(_rows(90_000, 5))  # drains start again once all have ended
        _wait(lambda: len(done) == 6 * 163 + 5)
    finally:
        executor.shutdown()


def test_a_batch_runs_on_several_threads_at_once() -> None:
    gate = threading.Event()
    runner = _CountingRunner(gate)
    executor = EmbeddedExecutor(runner, 3, queue.Queue(), lambda _row: None)
    try:
        executor.send(_rows(0, 10))
        _wait(lambda: runner.busy == 3)
        assert executor.queued() == 7
    finally:
        gate.set()
        executor.shutdown()


def test_rows_not_started_at_shutdown_are_dropped() -> None:
    gate = threading.Event()
    runner = _CountingRunner(gate)
    done: list[int] = []
    executor = EmbeddedExecutor(runner, 2, queue.Queue(), done.append)
    executor.send(_rows(0, 10))
    _wait(lambda: runner.busy == 2)
    executor.shutdown()
    executor.send(_rows(100, 5))  # after shutdown: not taken
    gate.set()
    _wait(lambda: len(done) == 2)
    time.sleep(0.05)
    assert sorted(done) == [0, 1] and executor.queued() == 0


def test_a_shutdown_between_the_check_and_the_hand_over_leaves_the_rows_unsent_without_an_error() -> None:
    runner = _CountingRunner()
    done: list[int] = []
    executor = EmbeddedExecutor(runner, 2, queue.Queue(), done.append)
    submit = executor.pool.submit

    def shut_first(*args: Any) -> Any:  # the node stops just as a step hands its rows over
        executor.shutdown()
        return submit(*args)

    executor.pool.submit = shut_first  # type: ignore[method-assign]
    executor.send(_rows(0, 3))  # before: RuntimeError out of the engine's after-commit
    time.sleep(0.05)
    assert done == [] and executor.queued() == 0
