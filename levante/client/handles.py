"""Handles on one execution, in the manner of Temporal's ``WorkflowHandle``.

:class:`ExecutionHandle` (from ``Client``) has blocking methods; :class:`AsyncExecutionHandle`
(from ``AsyncClient``) has the same names as coroutines: ``await handle.status()``.
``result()`` polls the execution until it completes.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from levante.client.errors import ExecutionFailed

if TYPE_CHECKING:
    from levante.client.client import AsyncClient, Client

#: Execution states that are final.
FINAL = ("SUCCESS", "ERROR", "CANCELLED")
#: Task states that count as done.
TASK_DONE = ("SUCCESS", "ERROR", "CANCELLED", "SKIPPED")


def _poll_delays() -> Any:
    """0.05 s, growing to 1 s."""
    delay = 0.05
    while True:
        yield delay
        delay = min(delay * 1.5, 1.0)


def summary(ex: dict[str, Any], tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``describe()`` returns: the execution's state, timestamps, progress and tasks."""
    counts: dict[str, int] = {}
    for task in tasks:
        counts[task["state"]] = counts.get(task["state"], 0) + 1
    done = sum(1 for t in tasks if t["state"] in TASK_DONE)
    return {
        "id": ex["id"], "workflow_name": ex.get("workflow_name"), "state": ex["state"],
        "state_info": ex.get("state_info"), "created_at": ex.get("created_at"),
        "updated_at": ex.get("updated_at"),
        "progress": ex.get("progress") or {"tasks_done": done, "tasks_total": len(tasks)},
        "task_states": counts,
        "tasks": [{"id": t["id"], "name": t["name"], "state": t["state"], "state_info": t.get("state_info")}
                  for t in tasks],
    }


def _outcome(ex: dict[str, Any]) -> Any:
    if ex["state"] == "SUCCESS":
        return ex.get("output")
    raise ExecutionFailed(ex["id"], ex["state"], ex.get("state_info"), ex.get("output"))


class ExecutionHandle:
    """One execution, through a blocking :class:`~levante.client.Client`."""

    def __init__(self, client: Client, execution_id: str) -> None:
        self.client = client
        self.id = execution_id

    def __repr__(self) -> str:
        return f"ExecutionHandle({self.id!r})"

    def get(self) -> dict[str, Any]:
        """The execution as the API shows it (JSON fields decoded)."""
        return self.client.get_execution(self.id)

    def status(self) -> str:
        """The state: IDLE, RUNNING, PAUSED, SUCCESS, ERROR or CANCELLED."""
        return self.get()["state"]  # type: ignore[no-any-return]

    def describe(self) -> dict[str, Any]:
        """State, state_info, timestamps, progress ``{tasks_done, tasks_total}``, task counts by
        state and the tasks."""
        return summary(self.get(), self.tasks())

    def input(self) -> dict[str, Any]:
        """The execution's input."""
        return self.get()["input"]  # type: ignore[no-any-return]

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the end and return the output. Raises ExecutionFailed when the execution ends
        ERROR or CANCELLED, TimeoutError after ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in _poll_delays():
            ex = self.get()
            if ex["state"] in FINAL:
                return _outcome(ex)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"Execution {self.id} is still {ex['state']} after {timeout} s.")
            time.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
        raise AssertionError("unreachable")

    def pause(self) -> dict[str, Any]:
        """Ask the execution to pause."""
        return self.client.update_execution(self.id, "PAUSED")

    def resume(self, env: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume a paused execution (optionally with changes to its env)."""
        return self.client.update_execution(self.id, "RUNNING", env=env)

    def cancel(self, reason: str | None = None) -> dict[str, Any]:
        """Cancel the execution; ``reason`` becomes its state_info."""
        return self.client.update_execution(
            self.id, "CANCELLED", state_info=reason)

    def tasks(self) -> list[dict[str, Any]]:
        """The execution's task executions."""
        return self.client.list_tasks(self.id)

    def history(self) -> list[dict[str, Any]]:
        """The execution's event history, oldest first (``GET /v2/executions/<id>/history``):
        dicts with ``id``, ``execution_id``, ``task_execution_id``, ``action_execution_id``,
        ``created_at``, ``kind`` and ``payload``."""
        return self.client.get_execution_history(self.id)


class AsyncExecutionHandle:
    """One execution, through an :class:`~levante.client.AsyncClient`: the methods of
    :class:`ExecutionHandle`, as coroutines."""

    def __init__(self, client: AsyncClient, execution_id: str) -> None:
        self.client = client
        self.id = execution_id

    def __repr__(self) -> str:
        return f"AsyncExecutionHandle({self.id!r})"

    async def get(self) -> dict[str, Any]:
        """The execution as the API shows it (JSON fields decoded)."""
        return await self.client.get_execution(self.id)

    async def status(self) -> str:
        """The state."""
        return (await self.get())["state"]  # type: ignore[no-any-return]

    async def describe(self) -> dict[str, Any]:
        """See :meth:`ExecutionHandle.describe`."""
        ex, tasks = await asyncio.gather(self.get(), self.tasks())
        return summary(ex, tasks)

    async def input(self) -> dict[str, Any]:
        """The execution's input."""
        return (await self.get())["input"]  # type: ignore[no-any-return]

    async def result(self, timeout: float | None = None) -> Any:
        """See :meth:`ExecutionHandle.result`."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        for delay in _poll_delays():
            ex = await self.get()
            if ex["state"] in FINAL:
                return _outcome(ex)
            if deadline is not None and loop.time() >= deadline:
                raise TimeoutError(f"Execution {self.id} is still {ex['state']} after {timeout} s.")
            await asyncio.sleep(delay if deadline is None else max(0.0, min(delay, deadline - loop.time())))
        raise AssertionError("unreachable")

    async def pause(self) -> dict[str, Any]:
        """Ask the execution to pause."""
        return await self.client.update_execution(self.id, "PAUSED")

    async def resume(self, env: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume a paused execution."""
        return await self.client.update_execution(
            self.id, "RUNNING", env=env)

    async def cancel(self, reason: str | None = None) -> dict[str, Any]:
        """Cancel the execution."""
        return await self.client.update_execution(
            self.id, "CANCELLED", state_info=reason)

    async def tasks(self) -> list[dict[str, Any]]:
        """The execution's task executions."""
        return await self.client.list_tasks(self.id)

    async def history(self) -> list[dict[str, Any]]:
        """See :meth:`ExecutionHandle.history`."""
        return await self.client.get_execution_history(self.id)
