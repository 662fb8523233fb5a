"""A broker outage longer than the publisher's retries, on PostgreSQL and RabbitMQ (through a link
the test cuts): a task started during the outage runs once the broker is back, even when it is not
safe to re-run. Its action request never reached the broker, so the sweeper's copy is its first
delivery; before, the sweeper flagged every row left unsent as a repeat, and the executor failed
the task ("redelivered, but it cannot be re-run safely")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from sqlalchemy import select

from levante.api.app import create_app
from levante.config import load
from levante.db.models import OutboxMessage
from levante.db.session import transaction
from levante.exceptions import TransportError
from levante.messaging import envelope as env
from levante.messaging.transport import Publisher
from levante.node import Node
from tests.functional.api.helpers import Api

from .conftest import FAST_RETRY
from .cuttable import CuttableLink

pytestmark = pytest.mark.integration

ECHO = """\
version: '2.0'
{name}:
  input: [n]
  tasks:
    say:
      action: std.echo output=<% $.n %>
"""


@pytest.fixture
def link(amqp_url: str) -> Iterator[CuttableLink]:
    link = CuttableLink.to(amqp_url)
    yield link
    link.close()


@pytest.fixture
def api(pg_url: str, amqp_url: str, namespace: str, link: CuttableLink) -> Iterator[Api]:
    config = load(env={}, db_url=pg_url, transport_url=link.url(amqp_url), namespace=namespace,
                  executor_threads=2, engine_threads=2)
    node = Node(config)
    node.sweeper.age = 1.0  # sweep every half second the rows older than a second
    with node:
        yield Api(falcon.testing.TestClient(create_app(config, node.services)), node)


def _rows(api: Api, execution_id: str) -> list[Any]:
    with transaction(api.node.read_factory) as session:
        owner = OutboxMessage.payload["execution_id"].as_string()
        return list(session.execute(select(OutboxMessage.sent_at, OutboxMessage.unpublished)
                                    .where(owner == execution_id)))


def test_a_task_started_during_an_outage_runs_once_the_broker_is_back(api: Api, link: CuttableLink) -> None:
    api.upload("workflows", ECHO.format(name="outage_echo"))
    # A first execution opens the publisher's connection: the outage then closes it under the
    # publisher, which must see that before it publishes.
    assert api.wait(api.start("outage_echo", {"n": 1})["id"], timeout=30)["state"] == "SUCCESS"
    link.cut()
    during = api.start("outage_echo", {"n": 2})
    assert during["state"] == "RUNNING"
    # The first publish failed without reaching the broker; the sweeps during the outage fail too.
    api.wait_for(lambda: _rows(api, during["id"]) == [(None, True)], timeout=30)
    time.sleep(2)  # sweeps: each takes the mark off, fails to publish, and puts it back
    assert [sent for sent, _ in _rows(api, during["id"])] == [None]
    link.restore()
    done = api.wait(during["id"], timeout=60)
    assert done["state"] == "SUCCESS", done.get("state_info")
    task = api.task(during["id"], "say")
    assert task is not None
    actions = api.get(f"/v2/tasks/{task['id']}/action_executions")["action_executions"]
    assert [a["state"] for a in actions] == ["SUCCESS"]
    assert api.get(f"/v2/action_executions/{actions[0]['id']}")["output"] == '{"result": 2}'
    assert [sent is not None for sent, _ in _rows(api, during["id"])] == [True]


def test_a_publish_on_a_connection_the_broker_closed_says_nothing_went_out(
        amqp_url: str, namespace: str, link: CuttableLink) -> None:
    with Publisher(link.url(amqp_url), namespace, FAST_RETRY) as publisher:
        publisher.publish("executor", env.encode(env.RUN_ACTION, {"n": 1}))
        link.cut()
        with pytest.raises(TransportError) as raised:
            publisher.publish("executor", env.encode(env.RUN_ACTION, {"n": 2}))
        assert raised.value.recoverable and raised.value.unsent
        link.restore()
        publisher.publish("executor", env.encode(env.RUN_ACTION, {"n": 3}))
    assert link.refused >= 1
