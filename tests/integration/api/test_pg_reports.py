"""The report tests of tests/functional/api/test_reports.py on PostgreSQL (the tree is read with
chunked ``IN`` queries per level, the same statements on both backends)."""

from __future__ import annotations

import pytest

from tests.functional.api.test_reports import (  # noqa: F401 (collected here again, on PostgreSQL)
    failed,
    test_delete_an_action_execution_that_ran_on_its_own,
    test_errors_only_keeps_the_error_path_and_all_the_statistics,
    test_max_depth_lists_deeper_executions_without_their_tasks,
    test_statistics_only,
    test_task_sub_executions,
    test_the_whole_tree,
)

pytestmark = pytest.mark.integration
