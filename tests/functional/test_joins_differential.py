"""Joins decided by the service, which loads only what a step names and skips joins that cannot
change (issue 14), end exactly as the in-memory engine ends them, which holds every task and
decides every join in full at every step: random graphs of asynchronous tasks with ``join: all``
and ``join: N``, on-success, on-error and on-complete routes, completed in a random order with
random outcomes."""

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

SEEDS = range(15)


def _workflow(rng: random.Random) -> str:
    """Layers of async tasks; each task leads to one or two tasks of later layers by random
    clauses; a task reached by two or more becomes a join (all, or a number)."""
    layers = [[f"l{layer}_{i}" for i in range(rng.randint(2, 4))] for layer in range(3)]
    layers.append(["end_a", "end_b"])
    edges: dict[str, list[tuple[str, str]]] = {}
    inbound: dict[str, int] = {}
    for depth, layer in enumerate(layers[:-1]):
        later = [t for upper in layers[depth + 1:] for t in upper]
        for name in layer:
            for target in rng.sample(later, rng.randint(1, 2)):
                clause = rng.choice(["on-success", "on-success", "on-error", "on-complete"])
                edges.setdefault(name, []).append((clause, target))
                inbound[target] = inbound.get(target, 0) + 1
    lines = ["version: '2.0'", "wf:", "  tasks:"]
    for layer in layers:
        for name in layer:
            lines += [f"    {name}:", "      action: std.async_noop"]
            if inbound.get(name, 0) >= 2:
                lines.append(f"      join: {rng.choice(['all', rng.randint(1, inbound[name])])}")
            by_clause: dict[str, list[str]] = {}
            for clause, target in edges.get(name, []):
                by_clause.setdefault(clause, []).append(target)
            for clause, targets in by_clause.items():
                lines.append(f"      {clause}: [{', '.join(targets)}]")
    return "\n".join(lines) + "\n"


def _choose(rng: random.Random, running: list[str], errors: float) -> tuple[str, str]:
    name = rng.choice(sorted(running))
    return name, "ERROR" if rng.random() < errors else "SUCCESS"


def _in_memory(text: str, seed: int) -> tuple[str, dict[str, tuple[str, int]], list[tuple[str, str]]]:
    engine, _ = make_engine(text)
    ex = engine.start("wf")
    rng = random.Random(seed)
    moves = []
    while True:
        running = {}
        for command in engine.pending_actions:
            task = next(t for ts in engine.tasks.values() for t in ts if t.id == command.task_execution_id)
            if engine.actions[command.action_execution_id].state == "RUNNING":
                running.setdefault(task.name, command)
        if not running:
            break
        name, state = _choose(rng, list(running), 0.0 if seed % 3 == 0 else 0.3)
        moves.append((name, state))
        command = running[name]
        engine.pending_actions.remove(command)
        engine.send(ev.ActionCompleted(command.execution_id or ex.id, command.action_execution_id, state, name))
    tasks: dict[str, tuple[str, int]] = {}
    for t in engine.tasks[ex.id]:
        tasks[t.name] = (str(t.state), tasks.get(t.name, ("", 0))[1] + 1)
    return str(engine.execution(ex.id).state), tasks, moves


def _key(t: Any, a: Any) -> str:
    return str(t.name)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Any:
    path = tmp_path_factory.mktemp("joins") / "levante.db"
    with Node(load(env={}, db_url=f"sqlite:///{path}")) as running:
        yield running


@pytest.mark.parametrize("seed", SEEDS)
def test_the_service_decides_joins_as_the_engine_holding_every_task_does(node: Node, seed: int) -> None:
    rng = random.Random(1000 + seed)
    text = _workflow(rng).replace("wf:", f"wf{seed}:", 1)
    expected_state, expected_tasks, moves = _in_memory(text.replace(f"wf{seed}:", "wf:", 1), seed)
    assert expected_state in ("SUCCESS", "ERROR"), (expected_tasks, text)  # every execution ends
    with transaction(node.session_factory) as session:
        store(session, "workflows", text)
    ex = node.service.start_execution(f"wf{seed}")
    for name, state in moves:
        running = settled(node, ex.id, _key)
        assert name in running, (name, sorted(running), text)
        node.service.complete_action(running[name], state, name)
    assert settled(node, ex.id, _key) == {}
    with transaction(node.read_factory) as session:  # ended as soon as it stopped moving: no join left waiting
        done = repo.get_execution(session, ex.id)
        tasks: dict[str, tuple[str, int]] = {}
        for t in repo.tasks_of(session, ex.id):
            tasks[t.name] = (str(t.state), tasks.get(t.name, ("", 0))[1] + 1)
    assert (str(done.state), tasks) == (expected_state, expected_tasks), text
