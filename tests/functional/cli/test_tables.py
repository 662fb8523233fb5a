"""Tables print what the values hold (no Rich markup is read from them), and ``-c`` takes only
columns there are."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MARKUP = """
version: '2.0'
markup:
  description: "[bold]not bold[/bold] [red]"
  output: {said: "[bold]loud[/bold] :thumbs_up: [link=x]"}
  tasks:
    t:
      action: std.noop
"""


def _final(levante: Any, *args: str, code: int = 0) -> dict[str, Any]:
    return json.loads(levante("execution-create", *args, "--wait", "-f", "json", code=code).stdout)


def test_state_info_keeps_its_brackets_in_a_table(levante: Any) -> None:
    ex = _final(levante, "failing", code=1)
    assert ex["state"] == "ERROR" and "[task_ex_id=" in ex["state_info"]
    task_id = json.loads(levante("task-list", ex["id"], "-f", "json").stdout)[0]["id"]
    table = levante("execution-get", ex["id"]).stdout
    assert f"boom [task_ex_id={task_id}] -> The action raised an exception [action=Fail action" in table
    tasks = levante("task-list", ex["id"]).stdout
    assert "The action raised an exception [action=Fail action, action_ex_id=" in tasks


def test_a_users_markup_is_printed_as_text(levante: Any, tmp_path: Path) -> None:
    path = tmp_path / "markup.yaml"
    path.write_text(MARKUP)
    levante("workflow-create", str(path))
    created = levante("execution-create", "markup", "--wait", "-d", "[bold]mine[/bold]").stdout
    assert "[bold]loud[/bold] :thumbs_up: [link=x]" in created  # the output column
    assert "[bold]mine[/bold]" in created  # the description column
    ex_id = json.loads(levante("execution-list", "-f", "json", "--filter", "workflow_name=markup").stdout)[0]["id"]
    listed = levante("execution-list", "--filter", "workflow_name=markup", "-c", "id", "-c", "description").stdout
    assert ex_id in listed and "[bold]mine[/bold]" in listed
    definition = levante("workflow-get", "markup", "-c", "name", "-c", "definition").stdout
    assert 'description: "[bold]not bold[/bold] [red]"' in definition


def test_an_unknown_column_is_an_error_that_lists_the_columns(levante: Any) -> None:
    ex = _final(levante, "greet", '{"name": "cols"}')
    wrong = levante("execution-get", ex["id"], "-c", "stat", code=2)
    assert "no column 'stat'" in wrong.output
    assert "the columns are: id, workflow_id, workflow_name" in wrong.output and "state_info" in wrong.output
    for fmt in ("table", "json", "value", "yaml"):
        assert "no column 'nope'" in levante("execution-list", "-f", fmt, "-c", "id", "-c", "nope", code=2).output
    assert "no column 'Stat'" in levante("task-list", ex["id"], "-c", "Stat", code=2).output


def test_columns_by_field_name_by_header_or_returned_by_the_server(levante: Any) -> None:
    ex = _final(levante, "greet", '{"name": "cols"}')
    # Mistral's client names columns by their headers ("Workflow name", "ID"), in any case.
    values = levante("execution-get", ex["id"], "-f", "value", "-c", "ID", "-c", "Workflow name", "-c", "state")
    assert values.stdout.split() == [ex["id"], "greet", "SUCCESS"]
    # A field the server returns is a column too, though not shown by default.
    shown = json.loads(levante("execution-get", ex["id"], "-f", "json", "-c", "input").stdout)
    assert list(shown) == ["input"] and "cols" in str(shown["input"])
