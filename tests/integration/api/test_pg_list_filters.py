"""The filter tests of tests/functional/api/test_list_filters.py on PostgreSQL: the API and the
engine in process on the run's database (``has`` runs as ``strpos`` there, ``instr`` on SQLite)."""

from __future__ import annotations

import pytest

from tests.functional.api.test_list_filters import (  # noqa: F401 (collected here again, on PostgreSQL)
    tag,
    test_a_bad_operator_or_value_is_a_400_naming_it,
    test_a_value_with_a_colon_is_taken_as_it_is,
    test_actions_listed_in_memory,
    test_cron_triggers,
    test_environments,
    test_executions_tasks_and_action_executions,
    test_workbooks,
    test_workflows,
)

pytestmark = pytest.mark.integration
