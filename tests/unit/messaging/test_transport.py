"""Publishing on the memory transport."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kombu import Connection

from levante.exceptions import TransportError
from levante.messaging import envelope as env
from levante.messaging.transport import Publisher, RetryPolicy, connect

from .conftest import URL, memory_names, queue_size
from .helpers import run_action


@pytest.fixture
def conn() -> Iterator[Connection]:
    with connect(URL) as connection:
        yield connection


def test_publish_declares_the_topology_and_routes_by_topic(transport: Publisher, namespace: str,
                                                            conn: Connection) -> None:
    body = env.encode(env.RUN_ACTION, run_action("ae-1").to_dict())
    transport.publish("executor", body)
    assert set(memory_names(namespace)) == {f"{namespace}.executor", f"{namespace}.dead"}
    message = transport.topology.executor_queue().bind(conn.default_channel).get(no_ack=True)
    assert message is not None
    assert message.content_type == "application/json"
    assert message.properties["delivery_mode"] == 2
    assert message.properties["message_id"] == body["id"]
    assert message.payload == body


def test_a_message_for_a_target_nobody_serves_yet_waits_in_its_queue(transport: Publisher,
                                                                     namespace: str) -> None:
    transport.publish("executor.gpu", env.encode(env.RUN_ACTION, run_action("ae-1").to_dict()))
    transport.publish("engine", env.encode(env.EVENT, {"kind": "pause_requested", "execution_id": "x"}))
    assert queue_size(f"{namespace}.executor.gpu") == 1
    assert queue_size(f"{namespace}.engine") == 1
    assert queue_size(f"{namespace}.executor") == 0


def test_unknown_topic(transport: Publisher) -> None:
    with pytest.raises(ValueError, match="Unknown topic"):
        transport.publish("elsewhere", env.encode(env.EVENT, {}))


def test_a_body_that_is_not_json_is_refused(transport: Publisher) -> None:
    body = env.encode(env.EVENT, {"when": object()})
    with pytest.raises(TransportError) as raised:
        transport.publish("engine", body)
    assert raised.value.recoverable is False


def test_publish_after_close_reconnects(transport: Publisher, namespace: str) -> None:
    transport.publish("engine", env.encode(env.EVENT, {}))
    transport.close()
    transport.publish("engine", env.encode(env.EVENT, {}))
    assert queue_size(f"{namespace}.engine") == 2


def test_url_hides_the_password() -> None:
    transport = Publisher("amqp://levante:s3cret@broker.example:5672/prod")
    assert "s3cret" not in transport.url
    assert transport.url.startswith("amqp://levante:**@broker.example:5672/prod")
    assert Publisher(URL).url == "memory://"


def test_retry_policy_maps_to_kombu() -> None:
    policy = RetryPolicy(max_retries=1, interval_start=0.0, interval_step=0.1, interval_max=0.3,
                         connect_timeout=2)
    assert policy.kombu_policy() == {"max_retries": 1, "interval_start": 0.0, "interval_step": 0.1,
                                     "interval_max": 0.3}
    connection = connect("amqp://guest:guest@127.0.0.1:5672//", policy, confirm_publish=True)
    assert connection.transport_options["max_retries"] == 1
    assert connection.transport_options["confirm_publish"] is True
    assert connection.connect_timeout == 2


def test_publish_many_on_memory_publishes_each_and_reports_each(transport: Publisher, namespace: str) -> None:
    items = [("engine", env.encode(env.EVENT, {"n": 1})), ("elsewhere", env.encode(env.EVENT, {})),
             ("engine", env.encode(env.EVENT, {"when": object()})), ("executor", env.encode(env.EVENT, {"n": 2}))]
    first, unknown, not_json, last = transport.publish_many(items)
    assert first is None and last is None
    assert isinstance(unknown, ValueError)
    assert isinstance(not_json, TransportError) and not not_json.recoverable and not_json.unsent
    assert queue_size(f"{namespace}.engine") == 1
    assert queue_size(f"{namespace}.executor") == 1
    assert transport.publish_many([]) == []
