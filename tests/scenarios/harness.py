"""Rehearsals: run a workflow on the in-memory engine with scripted action results.

A scenario names a workflow document, how to start it, scripted results per task (consumed in
order, the last one repeating; a task without a script runs a small built-in version of
std.noop/echo/fail/async_noop/http), optional steps, and the expected outcome.

Rehearsal files (tests/scenarios/cases/*.yaml, run by test_rehearsals.py) hold::

    description: one line saying what it shows
    xfail: "<reason>"            # optional: the engine differs from Mistral here (strict xfail)
    workflow: |                  # the YAML document (workflows document or workbook)
      version: '2.0'
      ...
    start: {workflow: wf, input: {...}, params: {...}}   # params.env, params.task_name...
    script: {task: [{state: SUCCESS, result: ...}, {async: true}, ...]}
    steps:                       # optional; without steps the engine runs to the end (timers too)
      - pause: {}                # also {resume: {env: ...}}, {cancel: {message: ...}}
      - rerun: {task: t1, reset: true, env: {...}}
      - skip: {task: t1}
      - complete: {task: t1, state: SUCCESS, result: ..., index: 2}   # an async action (item `index`);
                                 # state PAUSED or RUNNING only updates it
      - advance: 2.5             # move the virtual clock, firing each timer at its due time
      - run_to_end: true         # fire every timer until nothing is pending
      - check: {...}             # any expectation below, checked at that point
    expect: {...}

pause/resume/cancel/rerun/skip take ``sub_of: <task>`` to act on the newest sub-workflow execution
started by that task of the root execution (rerun/skip then name a task of that sub-workflow).

Expectation keys (about the root execution):
  start_error (the start is refused with a message containing this; nothing else expected),
  state, state_info, state_info_contains, state_info_regex (re.search), output, output_subset,
  published_global (subset of the workflow context), sequence (task names in creation order),
  action_calls ([task, action, input] in the runner's call order, all executions), elapsed (virtual
  seconds since the start), pending ({task: number of its actions still RUNNING}), sub_executions
  ({workflow: {count, state, state_info_contains, output, input, params_subset}}, every execution
  below the root), tasks ({name: task expectation}).
Task expectation keys (the newest execution of the task, except ``count`` and ``states``):
  count, state, state_info, state_info_contains, published, published_subset, result, retry_no,
  action_executions (a number, or the list of their states in creation order), accepted (number of
  accepted action executions), states (every state the task's executions went through, in order).
Expected strings may hold ``${execution.id}`` and ``${TASK.id}`` (newest execution of a root task).
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
from datetime import timedelta
from typing import Any

import yaml

from levante.engine import events as ev
from levante.engine.commands import RunAction
from levante.engine.loaded import SystemAction
from levante.engine.memory import MemoryCatalog, MemoryEngine
from levante.engine.records import TaskExecution, WorkflowExecution
from levante.exceptions import LevanteError
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
            return "ERROR", ("The action raised an exception [action=Fail action, action_ex_id="
                             f"{command.action_execution_id}, msg='Fail action expected exception.']")
        if name == "std.http":
            return "ERROR", "Failed to send HTTP request: no network in rehearsals"
        return "SUCCESS", None


def make_engine(text: str, script: dict[str, list[dict[str, Any]]] | None = None,
                ) -> tuple[MemoryEngine, ScriptedRunner]:
    """An in-memory engine with the document registered and a scripted runner."""
    catalog = MemoryCatalog(system=dict(SYSTEM))
    catalog.add(parse(text))
    ref: list[MemoryEngine] = []
    runner = ScriptedRunner(ref, script or {})
    engine = MemoryEngine(catalog, runner)
    ref.append(engine)
    return engine, runner


def complete(engine: MemoryEngine, execution_id: str, task: str, state: str = "SUCCESS",
             result: Any = None) -> None:
    """Complete the oldest pending (async) action of ``task``."""
    for command in list(engine.pending_actions):
        task_ex = next(t for t in engine.tasks[command.execution_id] if t.id == command.task_execution_id)
        if task_ex.name == task and engine.actions[command.action_execution_id].state == "RUNNING":
            engine.pending_actions.remove(command)
            engine.send(ev.ActionCompleted(command.execution_id or execution_id, command.action_execution_id,
                                           state, result))
            return
    raise AssertionError(f"no pending action for task {task}")


# --- rehearsals written as data (tests/scenarios/cases/*.yaml) -------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


@dataclasses.dataclass
class Rehearsal:
    """One rehearsal file, loaded."""

    name: str
    description: str
    workflow: str
    start: dict[str, Any]
    expect: dict[str, Any]
    script: dict[str, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    steps: list[dict[str, Any]] | None = None
    xfail: str | None = None

    def run(self) -> "Run":
        """Start the workflow, carry out the steps, and check the expectation."""
        run = Run.begin(self)
        if run.execution is None:  # refused at the start, as expected
            if set(self.expect) != {"start_error"} or self.steps:
                raise ValueError(f"{self.name}: with start_error, expect nothing else and no steps")
            return run
        run.perform(self.steps)
        run.check(self.expect, "expect")
        stalled = run.engine.stalled()
        if stalled:  # every execution must end: none may be left RUNNING with nothing to move it on
            raise AssertionError(f"{self.name}: executions left RUNNING with nothing to move them on: "
                                 f"{[(i, run.engine.executions[i].workflow_name) for i in stalled]}")
        return run


_KEYS = {"description", "xfail", "workflow", "start", "script", "steps", "expect"}
_STEP_KINDS = {"pause", "resume", "cancel", "rerun", "skip", "complete", "advance", "run_to_end", "check"}
_EXPECT_KEYS = {"start_error", "state", "state_info", "state_info_contains", "state_info_regex", "output",
                "output_subset", "published_global", "sequence", "action_calls", "elapsed", "pending",
                "sub_executions", "tasks"}
_TASK_KEYS = {"count", "state", "state_info", "state_info_contains", "published", "published_subset",
              "result", "retry_no", "action_executions", "accepted", "states"}


def load_rehearsal(path: pathlib.Path) -> Rehearsal:
    """Read and check a rehearsal file (unknown keys are errors, so a typo never weakens a test)."""
    data = yaml.safe_load(path.read_text())
    unknown = set(data) - _KEYS
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}")
    for step in data.get("steps") or []:
        if len(step) != 1 or next(iter(step)) not in _STEP_KINDS:
            raise ValueError(f"{path.name}: bad step {step!r}")
        if "check" in step:
            _check_keys(path.name, step["check"])
    _check_keys(path.name, data["expect"])
    return Rehearsal(
        name=path.stem, description=data.get("description", ""), workflow=data["workflow"],
        start=data["start"], expect=data["expect"], script=data.get("script") or {},
        steps=data.get("steps"), xfail=data.get("xfail"),
    )


def _check_keys(where: str, expect: dict[str, Any]) -> None:
    unknown = set(expect) - _EXPECT_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown expectation keys {sorted(unknown)}")
    for name, task in (expect.get("tasks") or {}).items():
        unknown = set(task) - _TASK_KEYS
        if unknown:
            raise ValueError(f"{where}: task {name}: unknown keys {sorted(unknown)}")


def complete_action(engine: MemoryEngine, task: str, state: str = "SUCCESS", result: Any = None,
                    index: int | None = None) -> None:
    """Report a new state for the oldest unfinished (RUNNING or PAUSED) action of ``task`` (of
    with-items item ``index`` if given), in whichever execution it runs. A terminal state completes
    it; PAUSED or RUNNING only updates it."""
    for command in list(engine.pending_actions):
        task_ex = _task_by_id(engine, command.task_execution_id or "")
        if task_ex is None or task_ex.name != task:
            continue
        if index is not None and command.info.get("index") != index:
            continue
        if engine.actions[command.action_execution_id].state not in ("RUNNING", "PAUSED"):
            continue
        if state not in ("RUNNING", "PAUSED"):
            engine.pending_actions.remove(command)
        engine.send(ev.ActionCompleted(command.execution_id or "", command.action_execution_id, state,
                                       result))
        return
    item = f" item {index}" if index is not None else ""
    raise AssertionError(f"no running action for task {task}{item}")


def running_actions(engine: MemoryEngine, task: str) -> list[RunAction]:
    """Actions of ``task`` (any execution) handed out and still RUNNING."""
    out = []
    for command in engine.pending_actions:
        task_ex = _task_by_id(engine, command.task_execution_id or "")
        if task_ex is not None and task_ex.name == task and \
                engine.actions[command.action_execution_id].state == "RUNNING":
            out.append(command)
    return out


def advance(engine: MemoryEngine, seconds: float) -> None:
    """Move the virtual clock by ``seconds``, firing each timer at its own due time, so that a
    timer set by an earlier one (retry after wait-before...) is due relative to when it was set.

    (``MemoryEngine.advance(seconds)`` jumps to the end first and fires everything due then, so
    timers set on the way are scheduled from the end of the window: see test_memory_clock.py.)
    """
    end = engine.now + timedelta(seconds=seconds)
    while engine.timers and engine.timers[0][0] <= end:
        engine.advance()
    engine.now = max(engine.now, end)


def _task_by_id(engine: MemoryEngine, task_ex_id: str) -> TaskExecution | None:
    for tasks in engine.tasks.values():
        for task_ex in tasks:
            if task_ex.id == task_ex_id:
                return task_ex
    return None


@dataclasses.dataclass
class Run:
    """A rehearsal in progress: the engine, the runner and the root execution."""

    rehearsal: Rehearsal
    engine: MemoryEngine
    runner: ScriptedRunner
    #: The root execution (None when the start was refused as expected).
    execution: WorkflowExecution | None
    started: Any

    @classmethod
    def begin(cls, rehearsal: Rehearsal) -> "Run":
        engine, runner = make_engine(rehearsal.workflow, rehearsal.script)
        started = engine.now
        start = rehearsal.start
        refused = rehearsal.expect.get("start_error")
        try:
            execution = engine.start(start["workflow"], start.get("input"), start.get("params"))
        except LevanteError as exc:
            if refused is None or refused not in str(exc):
                raise
            return cls(rehearsal, engine, runner, None, started)
        if refused is not None:
            raise AssertionError(f"{rehearsal.name}: the start was accepted, expected a refusal "
                                 f"containing {refused!r}")
        run = cls(rehearsal, engine, runner, execution, started)
        if rehearsal.steps is None:
            engine.run_to_end()
        return run

    @property
    def ex_id(self) -> str:
        assert self.execution is not None
        return self.execution.id

    def task_ex(self, name: str, execution_id: str | None = None) -> TaskExecution:
        """The newest execution of task ``name`` (in the root execution unless told)."""
        task_ex = self.engine.task(execution_id or self.ex_id, name)
        if task_ex is None:
            raise AssertionError(f"task {name} never ran")
        return task_ex

    def sub_execution(self, task: str) -> str:
        """Id of the newest sub-workflow execution started by the root's task ``task``."""
        subs = self.engine.sub_executions(self.task_ex(task).id)
        if not subs:
            raise AssertionError(f"task {task} started no sub-workflow")
        return subs[-1].id

    # --- steps ---------------------------------------------------------------------------------

    def perform(self, steps: list[dict[str, Any]] | None) -> None:
        for number, step in enumerate(steps or [], 1):
            (kind, args), = step.items()
            args = args if isinstance(args, dict) else {}
            target = self.sub_execution(args["sub_of"]) if "sub_of" in args else self.ex_id
            if kind == "pause":
                self.engine.send(ev.PauseRequested(target))
            elif kind == "resume":
                self.engine.send(ev.ResumeRequested(target, env=args.get("env")))
            elif kind == "cancel":
                self.engine.send(ev.CancelRequested(target, message=args.get("message")))
            elif kind == "rerun":
                self.engine.send(ev.RerunRequested(target, self.task_ex(args["task"], target).id,
                                                   reset=args.get("reset", True), env=args.get("env")))
            elif kind == "skip":
                self.engine.send(ev.SkipRequested(target, self.task_ex(args["task"], target).id))
            elif kind == "complete":
                complete_action(self.engine, args["task"], args.get("state", "SUCCESS"),
                                args.get("result"), args.get("index"))
            elif kind == "advance":
                advance(self.engine, float(step["advance"]))
            elif kind == "run_to_end":
                self.engine.run_to_end()
            elif kind == "check":
                self.check(step["check"], f"step {number} (check)")

    # --- expectations --------------------------------------------------------------------------

    def placeholders(self, value: Any) -> Any:
        """Replace ``${execution.id}`` and ``${TASK.id}`` (newest execution of the root's task TASK)
        inside expected strings."""
        if isinstance(value, str):
            return re.sub(r"\$\{([\w-]+)\.id\}", lambda m: self.ex_id if m.group(1) == "execution"
                          else self.task_ex(m.group(1)).id, value)
        if isinstance(value, dict):
            return {k: self.placeholders(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.placeholders(v) for v in value]
        return value

    def check(self, expect: dict[str, Any], where: str) -> None:
        """Compare the root execution with ``expect``; fail listing every difference."""
        ex = self.engine.execution(self.ex_id)
        cmp = _Comparer(self.placeholders)
        self._check_execution(expect, ex, cmp)
        for wf_name, sub in (expect.get("sub_executions") or {}).items():
            self._check_subs(wf_name, sub, cmp)
        for name, task in (expect.get("tasks") or {}).items():
            self._check_task(name, task, cmp)
        if cmp.problems:
            raise AssertionError(f"{self.rehearsal.name}: {where}:\n  " + "\n  ".join(cmp.problems)
                                 + f"\n  (tasks: {self.engine.task_states(self.ex_id)}, "
                                 f"state_info: {ex.state_info!r})")

    def _check_execution(self, expect: dict[str, Any], ex: WorkflowExecution, cmp: "_Comparer") -> None:
        actual = {
            "state": lambda: str(ex.state),
            "state_info": lambda: ex.state_info,
            "output": lambda: ex.output,
            "sequence": lambda: [t.name for t in self.engine.tasks[self.ex_id]],
            "action_calls": lambda: [list(c) for c in self.runner.calls],
            "elapsed": lambda: (self.engine.now - self.started).total_seconds(),
        }
        for key, get in actual.items():
            if key in expect:
                cmp.same(key, expect[key], get())
        if "state_info_contains" in expect:
            cmp.contains("state_info", expect["state_info_contains"], ex.state_info)
        if "state_info_regex" in expect:
            cmp.regex("state_info", expect["state_info_regex"], ex.state_info)
        if "output_subset" in expect:
            cmp.subset("output", expect["output_subset"], ex.output)
        if "published_global" in expect:
            cmp.subset("published_global", expect["published_global"], ex.context)
        for task, number in (expect.get("pending") or {}).items():
            cmp.same(f"pending.{task}", number, len(running_actions(self.engine, task)))

    def _check_subs(self, wf_name: str, sub: dict[str, Any], cmp: "_Comparer") -> None:
        found = [e for e in self.engine.executions.values()
                 if e.root_execution_id == self.ex_id and e.workflow_name == wf_name]
        if "count" in sub:
            cmp.same(f"sub_executions.{wf_name}.count", sub["count"], len(found))
        for i, sub_ex in enumerate(found):
            path = f"sub_executions.{wf_name}[{i}]"
            values = (("state", str(sub_ex.state)), ("output", sub_ex.output), ("input", sub_ex.input))
            for key, value in values:
                if key in sub:
                    cmp.same(f"{path}.{key}", sub[key], value)
            if "state_info_contains" in sub:
                cmp.contains(f"{path}.state_info", sub["state_info_contains"], sub_ex.state_info)
            if "params_subset" in sub:
                cmp.subset(f"{path}.params", sub["params_subset"], sub_ex.params)

    def _check_task(self, name: str, task: dict[str, Any], cmp: "_Comparer") -> None:
        executions = [t for t in self.engine.tasks[self.ex_id] if t.name == name]
        path = f"tasks.{name}"
        if "count" in task:
            cmp.same(f"{path}.count", task["count"], len(executions))
        if "states" in task:
            ids = {t.id for t in executions}
            seen = [p["state"] for kind, p in self.engine.history.get(self.ex_id, [])
                    if kind == "task_state" and p.get("task_execution_id") in ids]
            cmp.same(f"{path}.states", task["states"], seen)
        if not set(task) - {"count", "states"}:
            return
        if not executions:
            cmp.same(path, "a task execution", None)
            return
        task_ex = executions[-1]
        actions = self.engine.action_executions(task_ex.id)
        expected_actions = task.get("action_executions")
        actual = {
            "state": lambda: str(task_ex.state),
            "state_info": lambda: task_ex.state_info,
            "published": lambda: task_ex.published,
            "result": lambda: task_ex.result,
            "retry_no": lambda: task_ex.runtime_context.get("retry_task_policy", {}).get("retry_no", 0),
            "action_executions": lambda: len(actions) if isinstance(expected_actions, int)
            else [str(a.state) for a in actions],
            "accepted": lambda: sum(1 for a in actions if a.accepted),
        }
        for key, get in actual.items():
            if key in task:
                cmp.same(f"{path}.{key}", task[key], get())
        if "state_info_contains" in task:
            cmp.contains(f"{path}.state_info", task["state_info_contains"], task_ex.state_info)
        if "published_subset" in task:
            cmp.subset(f"{path}.published", task["published_subset"], task_ex.published)


class _Comparer:
    """Collects the differences between expected and actual values."""

    def __init__(self, placeholders: Any) -> None:
        self.placeholders = placeholders
        self.problems: list[str] = []

    def same(self, path: str, expected: Any, actual: Any) -> None:
        expected = self.placeholders(expected)
        if not _equal(expected, actual):
            self.problems.append(f"{path}: expected {expected!r}, got {actual!r}")

    def subset(self, path: str, expected: dict[str, Any], actual: Any) -> None:
        if not isinstance(actual, dict):
            self.problems.append(f"{path}: expected a map containing {expected!r}, got {actual!r}")
            return
        for key, value in expected.items():
            self.same(f"{path}.{key}", value, actual.get(key, _MISSING))

    def contains(self, path: str, part: str, actual: Any) -> None:
        if not isinstance(actual, str) or part not in actual:
            self.problems.append(f"{path}: expected text containing {part!r}, got {actual!r}")

    def regex(self, path: str, pattern: str, actual: Any) -> None:
        if not isinstance(actual, str) or not re.search(pattern, actual):
            self.problems.append(f"{path}: expected a match for {pattern!r}, got {actual!r}")


def _equal(expected: Any, actual: Any) -> bool:
    """JSON equality (1 == 1.0, but True != 1)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, dict):
        return isinstance(actual, dict) and expected.keys() == actual.keys() and \
            all(_equal(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, (list, tuple)) and len(expected) == len(actual) and \
            all(_equal(e, a) for e, a in zip(expected, actual, strict=True))
    return expected == actual
