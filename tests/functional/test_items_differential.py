"""With-items tasks run by the service, which writes only the result fields of the action executions
it completes and reads only the accepted results when a task completes (issue 14), end exactly as
the in-memory engine ends them, which holds every record: random item counts, concurrency, retries
and failures, the items completed in a random order with distinct results (so the order of the
task's result list is checked too)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from levante.config import load
from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.service.definitions import store
from levante.node import Node
from tests.functional.settling import settled
from tests.scenarios.harness import make_engine

SEEDS = range(16)
#: An action by task, item index and attempt: the same in both engines, whatever the ids.
Key = tuple[str, int, int]


def _workflow(rng: random.Random, name: str) -> str:
    count = rng.randint(1, 7) if rng.random() < 0.9 else 0
    lines = ["version: '2.0'", f"{name}:", "  tasks:", "    items:",
             f"      with-items: i in <% range({count}) %>", "      action: std.async_noop"]
    if rng.random() < 0.6:
        lines.append(f"      concurrency: {rng.randint(1, 3)}")
    if rng.random() < 0.5:
        lines += ["      retry:", f"        count: {rng.randint(1, 2)}", "        delay: 0"]
    lines += ["      publish:", "        got: <% task().result %>", "      on-complete: [after]",
              "    after:", "      action: std.noop"]
    return "\n".join(lines) + "\n"


def _outcomes(task: Any) -> tuple[str, str | None, Any]:
    return str(task.state), task.state_info, task.result


def _in_memory(text: str, seed: int) -> tuple[str, dict[str, Any], list[tuple[Key, str, Any]]]:
    engine, _ = make_engine(text)
    ex = engine.start("wf")
    rng = random.Random(seed)
    moves: list[tuple[Key, str, Any]] = []
    while True:
        names = {t.id: t.name for t in engine.tasks[ex.id]}
        running = {(names[c.task_execution_id or ""], c.info["index"], c.info["attempt"]): c
                   for c in engine.pending_actions if engine.actions[c.action_execution_id].state == "RUNNING"}
        if not running:
            break
        key = rng.choice(sorted(running))
        state = "ERROR" if rng.random() < (0.0 if seed % 3 == 0 else 0.25) else "SUCCESS"
        result = f"item {key[1]} attempt {key[2]} move {len(moves)}"
        moves.append((key, state, result))
        command = running[key]
        engine.pending_actions.remove(command)
        engine.send(ev.ActionCompleted(command.execution_id or ex.id, command.action_execution_id, state, result))
        while engine.timers:
            engine.advance()
    tasks = {t.name: _outcomes(t) for t in engine.tasks[ex.id]}
    return str(engine.execution(ex.id).state), tasks, moves


def _key(t: Any, a: Any) -> Key:
    return (t.name, a.runtime_context["index"], a.runtime_context["attempt"])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("items") / "levante.db"
    with Node(load(env={}, db_url=f"sqlite:///{path}", scheduler_interval=0.05)) as running:
        yield running


@pytest.mark.parametrize("seed", SEEDS)
def test_the_service_ends_with_items_tasks_as_the_engine_holding_every_record_does(node: Node, seed: int) -> None:
    rng = random.Random(2000 + seed)
    text = _workflow(rng, f"wf{seed}")
    expected_state, expected_tasks, moves = _in_memory(text.replace(f"wf{seed}:", "wf:", 1), seed)
    assert expected_state in ("SUCCESS", "ERROR"), (expected_tasks, text)
    with transaction(node.session_factory) as session:
        store(session, "workflows", text)
    ex = node.service.start_execution(f"wf{seed}")
    for key, state, result in moves:
        running = settled(node, ex.id, _key)
        assert key in running, (key, sorted(running), text)
        node.service.complete_action(running[key], state, result)
    assert settled(node, ex.id, _key) == {}
    with transaction(node.read_factory) as session:
        done = repo.get_execution(session, ex.id)
        tasks = {t.name: _outcomes(t) for t in repo.tasks_of(session, ex.id)}
    assert (str(done.state), tasks) == (expected_state, expected_tasks), text
