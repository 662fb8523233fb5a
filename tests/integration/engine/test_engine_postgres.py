"""The engine end to end on the real PostgreSQL: several engine threads, real actions, the
scheduler, joins decided exactly once under concurrency."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from levante.config import load
from levante.db import repository as repo
from levante.db.session import transaction
from levante.engine.service.definitions import store
from levante.node import Node

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(pg_url: str) -> Iterator[Node]:
    with Node(load(env={}, db_url=pg_url, engine_threads=4, executor_threads=16)) as running:
        yield running


def _run(node: Node, text: str, name: str, wf_input: dict | None = None, timeout: float = 60) -> object:
    with transaction(node.session_factory) as session:
        store(session, "workflows", text, update=True)
    ex = node.service.start_execution(name, wf_input or {})
    return node.service.wait(ex.id, timeout)


def _tasks(node: Node, execution_id: str) -> list:
    with transaction(node.read_factory) as session:
        return repo.tasks_of(session, execution_id)


def test_fanout_join_fires_once(node: Node) -> None:
    name = f"fan_{uuid.uuid4().hex[:8]}"
    branches = 40
    lines = ["version: '2.0'", f"{name}:", "  tasks:", "    start:", "      on-success:"]
    lines += [f"        - b{i}" for i in range(branches)]
    for i in range(branches):
        lines += [f"    b{i}:", f"      action: std.echo output={i}", f"      publish: {{v{i}: <% task().result %>}}",
                  "      on-success: join"]
    lines += ["    join:", "      join: all", "      action: std.echo output=<% $.v0 + $.v39 %>",
              "      publish: {total: <% task().result %>}"]
    ex = _run(node, "\n".join(lines) + "\n", name)
    assert str(ex.state) == "SUCCESS", ex.state_info
    tasks = _tasks(node, ex.id)
    assert [t.name for t in tasks].count("join") == 1
    assert ex.output["total"] == 39
    assert all(ex.output[f"v{i}"] == i for i in range(branches))


def test_with_items_concurrency_retry_and_delays(node: Node) -> None:
    name = f"items_{uuid.uuid4().hex[:8]}"
    text = f"""
version: '2.0'
{name}:
  tasks:
    first:
      wait-before: 0.3
      action: std.noop
      on-success: items
    items:
      with-items: i in <% range(60) %>
      concurrency: 5
      action: std.echo output=<% $.i * 2 %>
      publish: {{doubled: <% task().result %>}}
      on-success: flaky
    flaky:
      action: std.fail
      retry: {{count: 2, delay: 0.2}}
      on-error: handled
    handled:
      action: std.noop
"""
    ex = _run(node, text, name)
    assert str(ex.state) == "SUCCESS", ex.state_info
    assert ex.output["doubled"] == [i * 2 for i in range(60)]
    flaky = next(t for t in _tasks(node, ex.id) if t.name == "flaky")
    assert flaky.runtime_context["retry_task_policy"] == {"retry_no": 2}
    with transaction(node.read_factory) as session:
        assert len(repo.action_executions_of(session, flaky.id)) == 3


def test_subworkflows_and_async_callbacks_from_many_threads(node: Node) -> None:
    name = f"parent_{uuid.uuid4().hex[:8]}"
    text = f"""
version: '2.0'
{name}:
  tasks:
    children:
      with-items: n in <% range(8) %>
      workflow: {name}_child n=<% $.n %>
      publish: {{results: <% task().result.select($.r) %>}}
{name}_child:
  input: [n]
  output: {{r: <% $.answer %>}}
  tasks:
    ask:
      action: std.async_noop
      publish: {{answer: <% task().result %>}}
"""
    with transaction(node.session_factory) as session:
        store(session, "workflows", text, update=True)
    ex = node.service.start_execution(name, {})
    waiting: list = []
    for _ in range(200):
        with transaction(node.read_factory) as session:
            waiting = [a for a in repo.list_action_executions(session, {"state": "RUNNING"}, limit=100)
                       if a.name == "std.async_noop"]
        if len(waiting) == 8:
            break
        threading.Event().wait(0.05)
    assert len(waiting) == 8
    children = {}
    with transaction(node.read_factory) as session:
        for action in waiting:
            children[action.id] = repo.get_execution(session, action.workflow_execution_id).input["n"]
    threads = [threading.Thread(target=node.service.complete_action, args=(a.id, "SUCCESS", children[a.id] * 10))
               for a in waiting]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ex = node.service.wait(ex.id, 30)
    assert str(ex.state) == "SUCCESS", ex.state_info
    assert ex.output["results"] == [n * 10 for n in range(8)]


def test_concurrent_callbacks_to_a_standalone_action_have_one_winner(node: Node) -> None:
    """An action run on its own (no workflow execution, so no execution lock) completed by 50
    PUTs at once: exactly one is accepted (200), the others get 409, and the stored output is the
    winner's (not the last writer's)."""
    import falcon.testing

    from levante.api.app import create_app

    client = falcon.testing.TestClient(create_app(node.config, node.services))
    created = client.simulate_post("/v2/action_executions", json={"name": "std.async_noop"})
    assert created.status_code == 201, created.text
    action_id = created.json["id"]
    callers = 50
    barrier = threading.Barrier(callers)
    statuses: dict[int, int] = {}

    def put(i: int) -> None:
        barrier.wait()
        answer = client.simulate_put(f"/v2/action_executions/{action_id}",
                                     json={"state": "SUCCESS", "output": {"caller": i}})
        statuses[i] = answer.status_code

    threads = [threading.Thread(target=put, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [i for i, status in statuses.items() if status == 200]
    assert len(winners) == 1, sorted(statuses.items())
    assert sorted(statuses.values()) == [200] + [409] * (callers - 1)
    stored = client.simulate_get(f"/v2/action_executions/{action_id}").json
    assert stored["state"] == "SUCCESS"
    import json
    assert json.loads(stored["output"]) == {"result": {"caller": winners[0]}}
