"""Bounds on an embedded node (SQLite, in-process executor): issue 11, item 5.

Each bound fails only the offending task, with a message naming the bound and its setting; the
execution ends; other work goes on.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from levante.config import load
from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine.service.definitions import store
from levante.node import Node
from levante.workflows import expressions

RECURSIVE = """
version: '2.0'
rec:
  tasks:
    again:
      workflow: rec
"""

RUNAWAY = """
version: '2.0'
runaway:
  tasks:
    spin:
      action: std.echo output=<% range(0, 400000).sum() %>
    other:
      action: std.echo output="fine"
      publish: {other: <% task().result %>}
waiting:
  tasks:
    wait:
      action: std.async_noop
      publish: {got: <% task().result %>}
"""

BIG = """
version: '2.0'
big:
  input: [text]
  tasks:
    echo:
      action: std.echo output=<% $.text %>
      on-error: [handled]
    handled:
      action: std.noop
"""


@pytest.fixture()
def node_factory(tmp_path: Path):
    """Nodes with given settings; the process-wide expression limits come back afterwards."""
    previous = expressions.current()
    nodes: list[Node] = []

    def make(text: str, **settings: Any) -> Node:
        node = Node(load(env={}, db_url=f"sqlite:///{tmp_path / 'levante.db'}", **settings)).start()
        nodes.append(node)
        with transaction(node.session_factory) as session:
            store(session, "workflows", text)
        return node

    yield make
    for node in nodes:
        node.stop()
    expressions.configure(previous)


def test_a_workflow_that_starts_itself_ends_in_error_at_the_depth_limit(node_factory) -> None:
    node = node_factory(RECURSIVE, max_subworkflow_depth=5)
    ex = node.service.start_execution("rec")
    done = node.service.wait(ex.id, 60)
    assert str(done.state) == "ERROR"
    assert "would run 6 levels deep, over the limit of 5 nested sub-workflows" in done.state_info
    assert "LEVANTE_MAX_SUBWORKFLOW_DEPTH" in done.state_info
    with transaction(node.read_factory) as session:
        family = repo.list_executions(session, {"root_execution_id": ex.id}, limit=100)
    assert len(family) == 5 and {str(e.state) for e in family} == {"ERROR"}


def test_a_runaway_expression_fails_its_task_while_a_callback_goes_through(node_factory) -> None:
    node = node_factory(RUNAWAY, expression_timeout=1.0)
    waiting = node.service.start_execution("waiting")
    with transaction(node.read_factory) as session:
        [action] = [a for t in repo.tasks_of(session, waiting.id) for a in repo.action_executions_of(session, t.id)]
    outcome: dict[str, Any] = {}

    def call_back() -> None:
        try:
            outcome["action"] = node.service.complete_action(action.id, "SUCCESS", {"v": 1})
        except Exception as exc:  # noqa: BLE001 - reported below
            outcome["error"] = exc

    started: list[Any] = []
    # The start evaluates the spin task's input: past the lock slice it does so off the lock.
    starter = threading.Thread(target=lambda: started.append(node.service.start_execution("runaway")))
    starter.start()
    time.sleep(0.3)
    began = time.monotonic()
    call_back()  # waits for the lock at most until the runaway evaluation is stopped
    print(f"the callback waited {time.monotonic() - began:.2f} s behind the runaway expression")
    starter.join(60)
    [runaway] = started
    done = node.service.wait(runaway.id, 60)
    assert "error" not in outcome, outcome.get("error")
    waited = node.service.wait(waiting.id, 30)
    assert str(waited.state) == "SUCCESS"
    assert str(done.state) == "ERROR"
    # The start was decided off the lock: the callback was written first (under the lock it would
    # have waited for the runaway start to be stopped and written).
    assert waited.finished_at < done.finished_at, (waited.finished_at, done.finished_at)
    # The workflow ended with the start ("spin" failed at once); "other" runs on, and its result is
    # applied after that.
    deadline = time.monotonic() + 30
    while True:
        with transaction(node.read_factory) as session:
            tasks = {t.name: t for t in repo.tasks_of(session, runaway.id)}
        if str(tasks["other"].state) != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert str(tasks["spin"].state) == "ERROR"
    assert "ran longer than the limit of 1 s and was stopped" in tasks["spin"].state_info
    assert "LEVANTE_EXPRESSION_TIMEOUT" in tasks["spin"].state_info
    assert str(tasks["other"].state) == "SUCCESS"


def test_a_result_over_the_size_limit_fails_the_action_not_the_engine(node_factory) -> None:
    node = node_factory(BIG, max_result_size=10_000)
    ex = node.service.start_execution("big", {"text": "b" * 20_000})
    done = node.service.wait(ex.id, 60)
    with transaction(node.read_factory) as session:
        tasks = {t.name: t for t in repo.tasks_of(session, ex.id)}
        [action] = repo.action_executions_of(session, tasks["echo"].id)
    assert str(action.state) == "ERROR"
    assert "the action's result of 20,002 bytes exceeds the limit of 10,000 bytes" in action.output["result"]
    assert str(tasks["handled"].state) == "SUCCESS"  # on-error ran
    assert str(done.state) == "SUCCESS"


def test_a_callback_output_over_the_size_limit_is_recorded_as_an_error(node_factory) -> None:
    node = node_factory(RUNAWAY, max_result_size=10_000)
    ex = node.service.start_execution("waiting")
    with transaction(node.read_factory) as session:
        [action] = [a for t in repo.tasks_of(session, ex.id) for a in repo.action_executions_of(session, t.id)]
    node.service.complete_action(action.id, "SUCCESS", {"blob": "c" * 20_000})
    done = node.service.wait(ex.id, 30)
    assert str(done.state) == "ERROR"
    with transaction(node.read_factory) as session:
        [stored] = repo.action_executions_by_id(session, [action.id])
    assert str(stored.state) == "ERROR"
    assert stored.output["result"].startswith("the action's result of 20,")
    assert "exceeds the limit of 10,000 bytes" in stored.output["result"]


def test_the_limits_come_from_settings() -> None:
    config = load(env={"LEVANTE_EXPRESSION_TIMEOUT": "1.5", "LEVANTE_EXPRESSION_MEMORY": "1000",
                       "LEVANTE_MAX_SUBWORKFLOW_DEPTH": "7", "LEVANTE_MAX_WITH_ITEMS": "50",
                       "LEVANTE_WITH_ITEMS_WINDOW": "9", "LEVANTE_MAX_RESULT_SIZE": "2048",
                       "LEVANTE_MAX_HTTP_RESPONSE_SIZE": "4096"})
    assert config.expression_limits() == expressions.ExpressionLimits(timeout=1.5, memory=1000)
    limits = config.engine_limits()
    assert (limits.subworkflow_depth, limits.with_items, limits.with_items_window, limits.result_size) == \
        (7, 50, 9, 2048)
    assert config.max_http_response_size == 4096
    defaults = load(env={})
    assert defaults.max_result_size >= 1024 * 1024  # DESIGN.md: at least Mistral's 1 MiB
    assert (defaults.expression_timeout, defaults.max_subworkflow_depth, defaults.max_with_items,
            defaults.with_items_window, defaults.max_http_response_size) == \
        (3.0, 100, 1_000_000, 10_000, 10 * 1024 * 1024)
