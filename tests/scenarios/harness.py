"""Rehearsals: run a workflow on the in-memory engine with scripted action results.

A scenario names a workflow document, how to start it, scripted results per task (consumed in
order; a task without a script runs a small built-in version of std.noop/echo/fail/async_noop),
optional steps, and the expected outcome.
"""

from __future__ import annotations

from typing import Any

from levante.engine import events as ev
from levante.engine.commands import RunAction
from levante.engine.memory import MemoryCatalog, MemoryEngine
from levante.engine.state import SystemAction
from levante.workflows import parse

SYSTEM = {
    "std.noop": SystemAction("std.noop"),
    "std.echo": SystemAction("std.echo", required=("output",), optional=("delay",)),
    "std.fail": SystemAction("std.fail", optional=("error_data",)),
    "std.async_noop": SystemAction("std.async_noop", is_sync=False),
    "std.http": SystemAction("std.http", required=("url",), optional=None),
}


class ScriptedRunner:
    """Returns scripted results by task name, else imitates the std actions."""

    def __init__(self, engine_ref: list[MemoryEngine], script: dict[str, list[dict[str, Any]]]) -> None:
        self.engine_ref = engine_ref
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, command: RunAction) -> tuple[str, Any] | None:
        engine = self.engine_ref[0]
        task = next(t for ts in engine.tasks.values() for t in ts if t.id == command.task_execution_id)
        self.calls.append((task.name, command.action_name, command.input))
        queue = self.script.get(task.name)
        if queue:
            step = queue.pop(0) if len(queue) > 1 else queue[0]
            if step.get("async"):
                return None
            return step.get("state", "SUCCESS"), step.get("result")
        name = command.action_name
        if name == "std.async_noop":
            return None
        if name == "std.echo":
            return "SUCCESS", command.input["output"]
        if name == "std.fail":
            if command.input.get("error_data") is not None:
                return "ERROR", command.input["error_data"]
            return "ERROR", ("The action raised an exception [action=std.fail, action_ex_id="
                             f"{command.action_execution_id}, msg='Fail action expected exception.']")
        if name == "std.http":
            return "ERROR", "Failed to send HTTP request: no network in rehearsals"
        return "SUCCESS", None


def make_engine(text: str, script: dict[str, list[dict[str, Any]]] | None = None) -> tuple[MemoryEngine, ScriptedRunner]:
    """An in-memory engine with the document registered and a scripted runner."""
    catalog = MemoryCatalog(system=dict(SYSTEM))
    catalog.add(parse(text))
    ref: list[MemoryEngine] = []
    runner = ScriptedRunner(ref, script or {})
    engine = MemoryEngine(catalog, runner)
    ref.append(engine)
    return engine, runner


def complete(engine: MemoryEngine, execution_id: str, task: str, state: str = "SUCCESS", result: Any = None) -> None:
    """Complete the oldest pending (async) action of ``task``."""
    for command in list(engine.pending_actions):
        task_ex = next(t for t in engine.tasks[command.execution_id] if t.id == command.task_execution_id)
        if task_ex.name == task and engine.actions[command.action_execution_id].state == "RUNNING":
            engine.pending_actions.remove(command)
            engine.send(ev.ActionCompleted(command.execution_id or execution_id, command.action_execution_id,
                                           state, result))
            return
    raise AssertionError(f"no pending action for task {task}")
