"""Running the corpus: the plug-in distribution of the doubles, and runs on the in-memory engine
with actions executed by the real executor runner through the real registry.

Each ``expectations/<workbook>.yaml`` holds ``runs``: a list of

    name: a word
    workflow: <workbook>.<workflow>          # the entry
    input: {...}                             # optional
    params: {...}                            # optional: env, task_name (reverse workflows) ...
    steps: [...]                             # optional: as in tests/scenarios/harness.py (complete an
                                             # async action, resume, advance the clock ...)
    on_node: true                            # optional: also run it with ``levante run --json``
    calls: [[task, action, input], ...]      # optional: actions that must have run with exactly this
                                             # input (in any order, among others)
    expect: {...}                            # as in tests/scenarios/harness.py (state, output ...)

Without ``steps`` the run goes on until nothing is pending (timers fire in virtual time).
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
from typing import Any

import yaml

from levante.actions.registry import Registry
from levante.engine.commands import RunAction
from levante.engine.loaded import SystemAction
from levante.engine.memory import MemoryCatalog, MemoryEngine
from levante.executor.runner import ActionRequest, ActionRunner
from levante.workflows import parse
from tests.corpus.doubles import ENTRY_POINTS
from tests.scenarios.harness import Rehearsal, Run, _check_keys

HERE = pathlib.Path(__file__).parent
WORKBOOKS = HERE / "workbooks"
EXPECTATIONS = HERE / "expectations"
DIST_NAME = "acme_levante_actions-1.0.dist-info"

_RUN_KEYS = {"name", "workflow", "input", "params", "steps", "on_node", "calls", "expect"}


def write_plugin_dist(root: pathlib.Path) -> pathlib.Path:
    """Write a ``*.dist-info`` declaring every double under ``levante.actions`` into ``root`` (the
    directory to put on ``sys.path``/``PYTHONPATH``), as installing a plug-in package would."""
    dist = root / DIST_NAME
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-levante-actions\nVersion: 1.0\n")
    lines = ["[levante.actions]"] + [f"{name} = {target}" for name, target in sorted(ENTRY_POINTS.items())]
    (dist / "entry_points.txt").write_text("\n".join(lines) + "\n")
    importlib.invalidate_caches()  # importlib.metadata's path cache would not see the new directory
    return dist


class RegistryCatalog(MemoryCatalog):
    """The in-memory catalog, with system actions described by a real :class:`Registry` (as the
    service's catalog does)."""

    def __init__(self, registry: Registry) -> None:
        super().__init__()
        self.registry = registry

    def system_action(self, name: str) -> SystemAction | None:
        info = self.registry.find(name)
        if info is None:
            return None
        return SystemAction(name=info.name, is_sync=info.is_sync, required=info.required, optional=info.optional)


class ExecutorRunner:
    """Runs each action with the executor's :class:`ActionRunner` (registry lookup, input check,
    the action's ``run``, result size checks) and records the calls."""

    def __init__(self, registry: Registry) -> None:
        self.executor = ActionRunner(registry, "http://levante.invalid:8989")
        self.engine: MemoryEngine | None = None
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, command: RunAction) -> tuple[str, Any] | None:
        assert self.engine is not None
        task = next((t.name for ts in self.engine.tasks.values() for t in ts if t.id == command.task_execution_id), "")
        self.calls.append((task, command.action_name, dict(command.input)))
        event = self.executor.run(ActionRequest(command))
        if event is None:  # an async action now waits for its callback (a ``complete`` step)
            return None
        return event.state, event.result


@dataclasses.dataclass
class CorpusRun:
    """One entry run of a workbook."""

    workbook: str
    name: str
    spec: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.workbook}:{self.name}"

    def execute(self, registry: Registry) -> Run:
        """Run it on the in-memory engine and check its expectation; return the finished run."""
        text = (WORKBOOKS / f"{self.workbook}.yaml").read_text()
        catalog = RegistryCatalog(registry)
        catalog.add(parse(text, "workbook"))
        runner = ExecutorRunner(registry)
        engine = MemoryEngine(catalog, runner)
        runner.engine = engine
        start = {"workflow": self.spec["workflow"], "input": self.spec.get("input"),
                 "params": self.spec.get("params")}
        rehearsal = Rehearsal(name=self.id, description="", workflow=text, start=start,
                              expect=self.spec["expect"], steps=self.spec.get("steps"))
        started = engine.now
        execution = engine.start(start["workflow"], start["input"], start["params"])
        run = Run(rehearsal, engine, runner, execution, started)  # type: ignore[arg-type]
        if rehearsal.steps is None:
            engine.run_to_end()
        run.perform(rehearsal.steps)
        run.check(rehearsal.expect, "expect")
        made = [[task, action, params] for task, action, params in runner.calls]
        missing = [call for call in self.spec.get("calls") or [] if call not in made]
        if missing:
            raise AssertionError(f"{self.id}: these actions did not run with this input: {missing}\n"
                                 f"  calls made: {made}")
        stalled = engine.stalled()
        if stalled:
            raise AssertionError(f"{self.id}: executions left RUNNING with nothing to move them on: "
                                 f"{[(i, engine.executions[i].workflow_name) for i in stalled]}")
        return run


def load_runs(workbook: str) -> list[CorpusRun]:
    """The runs of a workbook's expectation file (unknown keys are errors)."""
    data = yaml.safe_load((EXPECTATIONS / f"{workbook}.yaml").read_text())
    runs = []
    for spec in data["runs"]:
        unknown = set(spec) - _RUN_KEYS
        if unknown:
            raise ValueError(f"{workbook}: run {spec.get('name')}: unknown keys {sorted(unknown)}")
        _check_keys(f"{workbook}:{spec['name']}", spec["expect"])
        for step in spec.get("steps") or []:
            if "check" in step:
                _check_keys(f"{workbook}:{spec['name']}", step["check"])
        runs.append(CorpusRun(workbook, spec["name"], spec))
    names = [r.name for r in runs]
    if len(names) != len(set(names)):
        raise ValueError(f"{workbook}: run names repeat: {names}")
    return runs


def workbook_names() -> list[str]:
    return sorted(p.stem for p in WORKBOOKS.glob("*.yaml"))
