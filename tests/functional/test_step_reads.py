"""What one step of a wide execution reads: a completion loads the task it completes and the
joins the workflow has, not every task still running beside it (issue 14: the cost of a step does
not grow with the width of a fan-out), and the execution still ends when the last branch does."""

from __future__ import annotations

import time
from pathlib import Path

from levante.config import load
from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine import events as ev
from levante.engine.service.definitions import store
from levante.node import Node

WIDTH = 40


def _fanout() -> str:
    lines = ["version: '2.0'", "wf:", "  tasks:", "    start:", "      on-success:"]
    lines += [f"        - b{i}" for i in range(WIDTH)]
    for i in range(WIDTH):
        lines += [f"    b{i}:", "      action: std.async_noop", "      on-success: [done]"]
    lines += ["    done:", "      join: all"]
    return "\n".join(lines) + "\n"


def _waiting(node: Node, ex_id: str) -> list[str]:
    with transaction(node.read_factory) as session:
        tasks = [t for t in repo.tasks_of(session, ex_id) if t.name.startswith("b")]
        return [a.id for t in tasks for a in repo.action_executions_of(session, t.id) if str(a.state) == "RUNNING"]


def test_a_completion_reads_its_task_and_the_joins_not_the_other_branches(tmp_path: Path) -> None:
    with Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}")) as node:
        with transaction(node.session_factory) as session:
            store(session, "workflows", _fanout())
        ex = node.service.start_execution("wf")
        deadline = time.monotonic() + 30
        while len(waiting := _waiting(node, ex.id)) < WIDTH and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(waiting) == WIDTH
        node.service.complete_action(waiting[0], "SUCCESS", 0)  # the join now waits
        with transaction(node.session_factory) as session:
            event = ev.ActionCompleted(ex.id, waiting[1], "SUCCESS", 1)
            state = node.service.steps.load(session, ex.id, [event])
            assert state.partial
            assert sorted(t.name for t in state.tasks) == ["b1", "done"]
            pause = node.service.steps.load(session, ex.id, [ev.PauseRequested(ex.id)])
            assert not pause.partial and len(pause.tasks) == WIDTH  # b1..b39 and the join
        for i, action_id in enumerate(waiting[1:], start=1):
            node.service.complete_action(action_id, "SUCCESS", i)
        done = node.service.wait(ex.id, 30)
        assert str(done.state) == "SUCCESS", done.state_info
