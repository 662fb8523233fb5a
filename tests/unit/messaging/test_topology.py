"""Names, routing keys and durability of the exchange and queues."""

from __future__ import annotations

import pytest

from levante.messaging import topology
from levante.messaging.topology import Topology


def test_default_names() -> None:
    topo = Topology()
    assert topo.exchange.name == "levante"
    assert topo.exchange.type == "direct"
    assert topo.engine_queue.name == "levante.engine"
    assert topo.executor_queue().name == "levante.executor"
    assert topo.executor_queue("gpu").name == "levante.executor.gpu"
    assert topo.dead_queue.name == "levante.dead"


def test_routing_keys_are_the_outbox_topics() -> None:
    topo = Topology("ns")
    assert topo.engine_queue.routing_key == "engine"
    assert topo.executor_queue().routing_key == "executor"
    assert topo.executor_queue("gpu").routing_key == "executor.gpu"
    assert topo.queue_for("executor.gpu") is topo.executor_queue("gpu")
    assert topology.executor_topic(None) == "executor"
    assert topology.executor_topic("gpu") == "executor.gpu"


def test_every_name_carries_the_namespace() -> None:
    topo = Topology("levante_test_abc")
    queues = [topo.engine_queue, topo.executor_queue(), topo.executor_queue("x"), topo.dead_queue]
    assert topo.exchange.name == "levante_test_abc"
    assert all(q.name.startswith("levante_test_abc.") for q in queues)
    assert all(q.exchange is topo.exchange for q in queues)
    assert set(topo.known_queues()) == set(queues)


def test_everything_is_durable_and_persistent() -> None:
    topo = Topology()
    assert topo.exchange.durable
    assert topo.exchange.delivery_mode == topology.PERSISTENT == 2
    for queue in (topo.engine_queue, topo.executor_queue(), topo.executor_queue("x"), topo.dead_queue):
        assert queue.durable and not queue.auto_delete and not queue.exclusive


def test_work_queues_dead_letter_to_the_dead_queue() -> None:
    topo = Topology("ns")
    for queue in (topo.engine_queue, topo.executor_queue(), topo.executor_queue("x")):
        assert queue.queue_arguments == {"x-dead-letter-exchange": "ns", "x-dead-letter-routing-key": "dead"}
    assert topo.dead_queue.routing_key == topology.DEAD_TOPIC
    assert not topo.dead_queue.queue_arguments


def test_entities_are_built_once() -> None:
    topo = Topology()
    assert topo.executor_queue("a") is topo.executor_queue("a")
    assert topo.declarations("executor.a") == [topo.exchange, topo.dead_queue, topo.executor_queue("a")]


@pytest.mark.parametrize("topic", ["", "results", "executor.", "executor. ", "engine.x",
                                   "executor" + ".x" * 120])
def test_unknown_topics_are_refused(topic: str) -> None:
    with pytest.raises(ValueError):
        Topology().queue_for(topic)


@pytest.mark.parametrize("namespace", ["", "a b", "a/b", "x" * 101, ".hidden"])
def test_bad_namespaces_are_refused(namespace: str) -> None:
    with pytest.raises(ValueError, match="Invalid namespace"):
        Topology(namespace)


def test_blank_target_is_refused() -> None:
    with pytest.raises(ValueError, match="Invalid executor target"):
        topology.executor_topic("  ")
