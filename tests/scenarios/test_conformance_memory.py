"""The shared conformance cases that need no interaction, run in-process on the in-memory engine.

The same cases also run over REST against a real server (tests/functional/test_conformance.py);
this run shows the engine's decisions alone get them right, with no database, broker or HTTP.
Checks use the conformance kit's own matcher; the std actions are imitated by the rehearsal
runner (tests/scenarios/harness.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import re
from typing import Any

import pytest

from levante.engine.memory import MemoryCatalog, MemoryEngine
from levante.workflows import parse
from tests.scenarios.harness import SYSTEM, ScriptedRunner

KIT = pathlib.Path(__file__).resolve().parents[3] / "shared" / "conformance"
KIND = {"workflows": "workflows", "workbooks": "workbook", "actions": "actions"}


def _kit() -> Any:
    spec = importlib.util.spec_from_file_location("conformance_kit", KIT / "conformance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Placeholders:
    """${TASK.id} and ${execution.id} from the in-memory execution."""

    def __init__(self, engine: MemoryEngine, ex_id: str) -> None:
        self.engine, self.ex_id = engine, ex_id

    def sub(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            obj, _, attr = match.group(1).rpartition(".")
            if obj == "execution":
                return self.ex_id
            task = self.engine.task(self.ex_id, obj)
            if task is None:
                return match.group(0)
            if attr == "id":
                return task.id
            actions = self.engine.action_executions(task.id)
            return actions[-1].id if actions else match.group(0)

        return re.sub(r"\$\{([^}]+)\}", value, text)


def _runs() -> list[Any]:
    out = []
    for case_file in sorted(KIT.glob("cases/*.case.json")):
        case = json.loads(case_file.read_text())
        for i, run in enumerate(case["runs"]):
            if not run.get("steps"):
                out.append(pytest.param(case, run, id=f"{case_file.name[:-10]}[{run.get('label', i)}]"))
    return out


RUNS = _runs()


@pytest.mark.skipif(not KIT.is_dir() and not os.environ.get("CI"),
                    reason=f"the shared conformance kit is not beside this checkout ({KIT})")
def test_there_are_cases() -> None:
    assert len(RUNS) >= 60, f"expected the conformance cases under {KIT}"


@pytest.mark.parametrize("case, run", RUNS)
def test_case_in_memory(case: dict[str, Any], run: dict[str, Any]) -> None:
    kit = _kit()
    catalog = MemoryCatalog(system=dict(SYSTEM))
    uploads = case["upload"] if isinstance(case["upload"], list) else [{"resource": case["upload"]}]
    for upload in uploads:
        text = (KIT / "cases" / upload.get("file", case["definition"])).read_text()
        catalog.add(parse(text, KIND[upload["resource"]]))
    ref: list[MemoryEngine] = []
    engine = MemoryEngine(catalog, ScriptedRunner(ref, {}))
    ref.append(engine)
    start = run["start"]
    params = dict(start.get("params", {}))
    if "env" in start:
        params["env"] = start["env"]
    ex = engine.start(start["workflow"], start.get("input", {}), params)
    engine.run_to_end()
    expect, ph = run["expect"], _Placeholders(engine, ex.id)
    problems = kit.match(expect["state"], str(ex.state), "state", ph)
    for key in ("output", "input"):
        if key in expect:
            problems += kit.match(expect[key], ex.output if key == "output" else ex.input, key, ph)
    if "state_info_contains" in expect:
        if expect["state_info_contains"] not in (ex.state_info or ""):
            problems.append(f"state_info {ex.state_info!r} lacks {expect['state_info_contains']!r}")
    if "task_count" in expect:
        problems += kit.match(expect["task_count"], len(engine.tasks[ex.id]), "task_count", ph)
    for name, texp in expect.get("tasks", {}).items():
        task = engine.task(ex.id, name)
        if texp.get("count") == 0 or task is None:
            problems += kit.match(texp.get("count", 1), 0 if task is None else 1, f"tasks.{name}.count", ph)
            continue
        for key in ("state", "published", "result"):
            if key in texp:
                actual = str(task.state) if key == "state" else getattr(task, key)
                problems += kit.match(texp[key], actual, f"tasks.{name}.{key}", ph)
    assert problems == []
