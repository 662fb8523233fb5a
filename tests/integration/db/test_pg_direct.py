"""The SQLite tests of tests/unit/db/test_direct.py, run on PostgreSQL."""

import pytest

from tests.unit.db.test_direct import *  # noqa: F403 - the tests are collected here with this conftest

pytestmark = pytest.mark.integration
