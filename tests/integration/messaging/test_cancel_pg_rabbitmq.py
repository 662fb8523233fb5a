"""Cancel reaches what runs (issue 11, item 4) on PostgreSQL and RabbitMQ: a node with the engine,
the API and an executor worker that takes its requests from RabbitMQ and hears cancels through
the broker's fanout broadcast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from kombu import Connection

from levante.api.app import create_app
from levante.config import load
from levante.messaging.topology import Topology
from levante.node import Node
from tests.functional.api.helpers import Api
from tests.functional.api.test_cancel import (
    MANY_ITEMS,
    RECURSIVE_BODY,
    SLEEPS,
    TREE,
    TWO_WAITS,
    _counts,
    _tree,
    cancel_storm,
)

pytestmark = pytest.mark.integration
#: Executor threads of the node: fewer than the 8 sleeps of SLEEPS, so some wait in RabbitMQ.
THREADS = 2


@pytest.fixture
def api(pg_url: str, amqp_url: str, namespace: str) -> Iterator[Api]:
    config = load(env={}, db_url=pg_url, transport_url=amqp_url, namespace=namespace,
                  executor_threads=THREADS, engine_threads=2)
    with Node(config) as node:
        yield Api(falcon.testing.TestClient(create_app(config, node.services)), node)
    with Connection(amqp_url) as connection:
        Topology(namespace).cancel_exchange.bind(connection.default_channel).delete()


def _upload(api: Api, text: str, name: str) -> None:
    api.upload("workflows", text.format(name=name))


def test_cancel_of_a_tree_and_late_callbacks(api: Api) -> None:
    name = "cancel_tree_pg"
    _upload(api, TREE, name)
    ex = api.start(name)
    api.wait_for(lambda: _counts(api, _tree(api, ex["id"]))["actions"].get("RUNNING") == 7, timeout=60)
    tree = _tree(api, ex["id"])
    running = api.get("/v2/action_executions", workflow_execution_id=tree[-1])["action_executions"][0]
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED", "state_info": "tree down"})
    counts = _counts(api, tree)
    assert counts == {"executions": {"CANCELLED": 7}, "tasks": {"CANCELLED": 11}, "actions": {"CANCELLED": 7}}
    resp = api.client.simulate_put(f"/v2/action_executions/{running['id']}", json={"state": "SUCCESS"})
    assert resp.status_code == 409 and "was cancelled" in resp.json["faultstring"], resp.text
    beat = api.client.simulate_put(f"/v2/action_executions/{running['id']}/heartbeat", json={})
    assert beat.status_code == 409 and "was cancelled" in beat.json["faultstring"], beat.text
    again = api.client.simulate_put(f"/v2/executions/{ex['id']}", json={"state": "CANCELLED"})
    assert again.status_code == 409 and "CANCELLED" in again.json["faultstring"], again.text
    assert _counts(api, _tree(api, ex["id"])) == counts


def test_forced_success_abandons_the_running_work(api: Api) -> None:
    name = "cancel_forced_pg"
    _upload(api, TWO_WAITS, name)
    ex = api.start(name)
    api.running_action(ex["id"], "left")
    api.running_action(ex["id"], "right")
    done = api.put(f"/v2/executions/{ex['id']}", {"state": "SUCCESS"})
    assert done["state"] == "SUCCESS"
    assert _counts(api, [ex["id"]]) == {"executions": {"SUCCESS": 1}, "tasks": {"CANCELLED": 2},
                                        "actions": {"CANCELLED": 2}}


def test_cancel_of_a_self_recursive_workflow_stops_its_growth(api: Api) -> None:
    name = "cancel_recursive_pg"
    _upload(api, RECURSIVE_BODY, name)
    ex = api.start(name)
    api.wait_for(lambda: len(_tree(api, ex["id"])) >= 20, timeout=60)
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    tree = _tree(api, ex["id"])
    counts = _counts(api, tree)
    assert set(counts["executions"]) == {"CANCELLED"}
    assert set(counts["actions"]) <= {"SUCCESS", "CANCELLED"}
    time.sleep(1.0)  # the engine would have started the next levels by now
    assert _tree(api, ex["id"]) == tree
    assert _counts(api, tree) == counts


def test_cancel_of_a_big_with_items(api: Api) -> None:
    name = "cancel_items_pg"
    count = 1000
    _upload(api, MANY_ITEMS, name)
    ex = api.start(name, {"count": count})
    api.wait_for(lambda: _counts(api, [ex["id"]])["actions"].get("RUNNING") == count, timeout=120)
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    assert _counts(api, [ex["id"]]) == {"executions": {"CANCELLED": 1}, "tasks": {"CANCELLED": 1},
                                        "actions": {"CANCELLED": count}}


def test_queued_requests_are_skipped_and_running_sleeps_stop(api: Api, amqp_url: str, namespace: str) -> None:
    name = "cancel_sleeps_pg"
    runner = api.node.runner
    _upload(api, SLEEPS, name)
    ex = api.start(name)
    api.wait_for(lambda: len(runner.cancellations.running()) == THREADS, timeout=30)
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})

    def quiet() -> Any:
        with Connection(amqp_url) as connection:
            _, waiting, _ = connection.default_channel.queue_declare(f"{namespace}.executor", passive=True)
        return waiting == 0 and not runner.cancellations.running()

    # The two 60 s sleeps were told to stop (over RabbitMQ), and the six requests that waited in
    # the queue were taken and skipped.
    api.wait_for(quiet, timeout=30)
    assert {a["state"] for a in api.get("/v2/action_executions", workflow_execution_id=ex["id"])
            ["action_executions"]} == {"CANCELLED"}


def test_a_cancel_storm_on_a_growing_tree(api: Api) -> None:
    cancel_storm(api, "cancel_storm_pg")
