"""The definition snapshot tests of tests/functional/test_definition_snapshots.py on PostgreSQL:
restarts are new nodes on one database, and the last test runs two nodes on it at once. The module
gets a database of its own (created from the run's), so the rows it leaves bother no other test."""

from collections.abc import Iterator

import pytest

from tests.functional.test_definition_snapshots import *  # noqa: F403 - the tests are collected here
from tests.integration.conftest import extra_database

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def own_database(pg_url: str) -> Iterator[str]:
    with extra_database(pg_url, "levante_snap") as url:
        yield url


@pytest.fixture
def db_url(own_database: str) -> str:
    return own_database
