"""The SQLite tests of tests/unit/db/test_open_tasks.py, run on PostgreSQL."""

import pytest

from tests.unit.db.test_open_tasks import *  # noqa: F403 - the tests are collected here with this conftest

pytestmark = pytest.mark.integration
