"""The NUL tests of tests/functional/api/test_nul.py, on PostgreSQL: the API and the engine in
process (a Node on the run's database, actions run in process), driven through falcon's TestClient.

PostgreSQL refuses NUL in text and ``\\u0000`` in JSONB: these tests failed with 500s and with
executions left RUNNING (the engine's transaction failing on every try) before NULs were stored
escaped there (levante/db/nulsafe.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from levante.node import Node
from tests.functional.api.helpers import Api
from tests.functional.api.test_nul import (  # noqa: F401 (collected here again, on PostgreSQL)
    nul_server,
    test_body_names_with_nul_are_refused,
    test_callback_output_with_nul_completes_the_action,
    test_definition_names_with_nul_are_refused,
    test_dynamic_name_with_nul_fails_the_task,
    test_error_text_with_nul_is_kept_in_state_info,
    test_filters_and_ids_with_nul_are_refused,
    test_http_answer_with_nul,
    test_published_json_parse_nul_input_and_env_value,
    test_put_with_nul_in_the_path_is_refused,
    test_workbook_and_action_names_with_nul_are_refused,
)

pytestmark = pytest.mark.integration


def test_nul_is_stored_escaped_and_nothing_else_changes(api: Api, name: str, node: Node) -> None:
    """On disk the NUL is the escape (no NUL, no \\u0000), and a value without one is untouched."""
    api.upload("workflows", f"version: '2.0'\n{name}:\n  input: [x]\n  tasks:\n    t:\n      action: std.noop\n")
    with_nul = api.start(name, {"x": "a\x00b"}, description="d\x00")
    plain = api.start(name, {"x": "a\\u0000b \u00e9"}, description="d")
    with node.db.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, input::text || description FROM workflow_executions "
                                      "WHERE id IN (:a, :b)"), {"a": with_nul["id"], "b": plain["id"]}).all())
    stored: Any = rows[with_nul["id"]]
    assert "\x00" not in stored and "\\u0000" not in stored and "\U0010fffd0" in stored
    assert rows[plain["id"]] == '{"x": "a\\\\u0000b \u00e9"}d'
