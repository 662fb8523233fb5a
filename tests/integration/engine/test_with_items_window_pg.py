"""The lazy with-items tests of tests/functional/test_with_items_window.py on PostgreSQL (JSONB
chunks, the cascade from the task rows), in a database of each test's own."""

from collections.abc import Iterator

import pytest

from tests.functional.test_with_items_window import *  # noqa: F403 - the tests are collected here
from tests.integration.conftest import extra_database

pytestmark = pytest.mark.integration


@pytest.fixture
def db_url(pg_url: str) -> Iterator[str]:
    with extra_database(pg_url, "levante_items") as url:
        yield url
