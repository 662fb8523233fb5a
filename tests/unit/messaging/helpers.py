"""Helpers shared by the messaging tests (unit on memory://, integration on RabbitMQ)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from levante.actions.registry import Registry
from levante.engine.commands import RunAction
from levante.engine.events import ActionCompleted
from levante.executor.runner import ActionRequest, ActionRunner

#: How long a test waits for messages before failing (generous: a loaded CI machine).
TIMEOUT = 10.0


class Collector:
    """A thread-safe list that a test can wait on (no sleeping loops)."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._cond = threading.Condition()

    def append(self, item: Any) -> None:
        """Add one item (usable as a Consumer handler)."""
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def extend(self, items: Iterable[Any]) -> None:
        """Add several items (usable as an EngineConsumer handler)."""
        with self._cond:
            self.items.extend(items)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = TIMEOUT) -> list[Any]:
        """Wait until at least ``count`` items arrived; fail the test otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"expected {count} item(s) within {timeout} s, got {len(self.items)}: "
                                     f"{self.items[:5]!r}")
            return list(self.items)

    def __len__(self) -> int:
        with self._cond:
            return len(self.items)


class RecordingRunner(ActionRunner):
    """The real runner over the real std actions, recording every request it gets."""

    def __init__(self) -> None:
        super().__init__(Registry(), "http://127.0.0.1:8989")
        self.requests = Collector()

    def run(self, request: ActionRequest) -> ActionCompleted | None:
        self.requests.append(request)
        return super().run(request)


def run_action(ae_id: str, action: str = "std.echo", input: dict[str, Any] | None = None,  # noqa: A002
               **fields: Any) -> RunAction:
    """A RunAction as the engine would send it."""
    return RunAction(action_execution_id=ae_id, action_name=action,
                     input={"output": ae_id} if input is None else input,
                     execution_id="ex-1", task_execution_id="task-1", workflow_name="wf", **fields)


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT, what: str = "condition") -> None:
    """Wait for a condition that nothing signals (counters of another thread)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout} s")
        time.sleep(0.005)
