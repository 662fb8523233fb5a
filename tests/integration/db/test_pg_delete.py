"""The SQLite tests of tests/unit/db/test_delete.py, run on PostgreSQL."""

import pytest

from tests.unit.db.test_delete import *  # noqa: F403 - the tests are collected here with this conftest

pytestmark = pytest.mark.integration
