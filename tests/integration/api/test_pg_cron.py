"""The cron trigger tests of Mistral's patterns and time zones (tests/functional/api/test_cron_triggers.py)
on PostgreSQL: the API and the engine in process on the run's database, the node's cron loop waiting
(the firing tests make their passes with a fake clock)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import falcon.testing
import pytest

from levante import config as config_mod
from levante.api.app import create_app
from levante.node import Node
from tests.functional.api.helpers import Api
from tests.functional.api.test_cron_triggers import (  # noqa: F401 (collected here again, on PostgreSQL)
    echo,
    test_a_bad_pattern_is_a_400_that_names_the_problem,
    test_a_stored_pattern_with_no_next_time_deletes_its_trigger,
    test_a_trigger_with_a_time_zone,
    test_an_unknown_time_zone_is_a_400_that_names_it,
    test_patterns_mistral_reads_with_croniter_are_accepted,
    test_the_firer_moves_a_trigger_on_in_its_zone,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node(pg_url: str) -> Iterator[Node]:
    config = config_mod.load(env={}, db_url=pg_url, executor_threads=4)
    running = Node(config)
    running.cron_loop.interval = 3600.0
    with running:
        yield running


@pytest.fixture
def api(node: Node) -> Api:
    return Api(falcon.testing.TestClient(create_app(node.config, node.services)), node)


@pytest.fixture
def own(api: Api) -> Api:
    return api


@pytest.fixture
def name() -> str:
    return f"wf_{uuid.uuid4().hex[:10]}"
