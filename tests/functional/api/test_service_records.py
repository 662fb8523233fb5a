"""What the services hand the API holds no ORM object: every listing and get of the services, on a
node with one of each stored resource, returns records (issue 13)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from levante.api.listing import ListQuery
from levante.db import models
from levante.engine.service.services import Services
from levante.engine.service.stored import StoredWorkflow, WorkflowRecord
from levante.node import Node
from levante.states import State

WORKFLOWS = """\
version: '2.0'
{name}:
  input: [x]
  tasks:
    call:
      workflow: {name}_child
{name}_child:
  tasks:
    t:
      action: std.noop
"""

WORKBOOK = """\
version: '2.0'
name: {name}_wb
actions:
  greet:
    base: std.echo output="hi"
workflows:
  main:
    tasks:
      t:
        action: {name}_wb.greet
"""

CHILD = """\
version: '2.0'
{name}_child:
  description: replaced
  tasks:
    t:
      action: std.noop
"""

ACTIONS = """\
version: '2.0'
{name}_act:
  description: Says hello.
  base: std.echo output="hello"
"""


def orm_objects(value: Any, where: str = "result") -> list[str]:
    """Where in ``value`` (through dataclass fields, mappings, lists, tuples and sets) an object of
    a class of :mod:`levante.db.models`, or of SQLAlchemy, sits."""
    found = []
    stack: list[tuple[Any, str]] = [(value, where)]
    seen: set[int] = set()
    while stack:
        item, path = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        module = type(item).__module__
        if isinstance(item, models.Base) or module == models.__name__ or module.startswith("sqlalchemy"):
            found.append(f"{path}: {type(item).__name__}")
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend((getattr(item, f.name), f"{path}.{f.name}") for f in dataclasses.fields(item))
        elif isinstance(item, Mapping):
            stack.extend((member, f"{path}[{key!r}]") for key, member in item.items())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend((member, f"{path}[{index}]") for index, member in enumerate(item))
    return found


def test_the_walk_finds_a_row_however_deep_it_sits() -> None:
    row = models.WorkflowDefinition(id="w", name="w")
    record = WorkflowRecord(id="w", name="w", scope="private", project_id=None, created_at=None,
                            updated_at=None, namespace="", tags=[row], input="")
    nested = {"page": [(1, StoredWorkflow(record, None, ""))]}
    assert orm_objects(nested) == ["result['page'][0][1].row.tags[0]: WorkflowDefinition"]
    assert orm_objects(models.Environment(name="e")) == ["result: Environment"]
    assert orm_objects({"page": [(1, StoredWorkflow(dataclasses.replace(record, tags=["t"]), None, ""))]}) == []


@pytest.fixture
def stored(node: Node) -> Iterator[dict[str, Any]]:
    """One of each resource, in a namespace (and under names) of its own; removed afterwards."""
    services: Services = node.services
    name = f"rec_{uuid.uuid4().hex[:10]}"
    namespace = f"ns_{name}"
    library, resources = services.library, services.resources
    made: dict[str, Any] = {"name": name, "namespace": namespace}
    made["uploaded_workflows"] = library.upload("workflows", WORKFLOWS.format(name=name), namespace)
    made["uploaded_workbook"] = library.upload("workbook", WORKBOOK.format(name=name), namespace)
    made["uploaded_actions"] = library.upload("actions", ACTIONS.format(name=name), namespace)
    made["environment"] = resources.create_environment(f"{name}_env", variables={"a": 1})
    made["updated_environment"] = resources.update_environment(f"{name}_env", description="changed")
    made["cron_trigger"] = resources.create_cron_trigger(
        f"{name}_cron", "0 0 1 1 *", name, workflow_input={"x": 1}, workflow_params={"namespace": namespace},
        first_execution_time=None, next_execution_time=datetime.now(timezone.utc) + timedelta(days=1),
        remaining_executions=None, scope="private", timezone=None)
    made["api_key"] = services.credentials.create_api_key(f"{name}_key")
    made["execution"] = ex = services.engine.start_execution(name, {"x": 1}, {"namespace": namespace})
    made["finished"] = services.engine.wait(ex.id, 15)
    yield made
    services.credentials.delete_api_key(made["api_key"][0].id)
    resources.delete_cron_trigger(made["cron_trigger"].id)
    resources.delete_environment(f"{name}_env")
    library.delete_workbook(f"{name}_wb", namespace)
    for workflow in made["uploaded_workflows"].workflows:
        library.delete_workflow(workflow.row.id, namespace)
    library.delete_action(f"{name}_act", namespace)


def test_no_service_method_the_api_calls_returns_an_orm_row(node: Node, stored: dict[str, Any]) -> None:
    services: Services = node.services
    name, namespace = stored["name"], stored["namespace"]
    library, resources, reads = services.library, services.resources, services.reads
    assert stored["finished"].state == State.SUCCESS
    ex_id = stored["execution"].id
    tasks, _, _ = reads.tasks(ListQuery(), within=ex_id)
    task = tasks[0]
    in_namespace = ListQuery(filters={"namespace": namespace})
    results: dict[str, Any] = {
        **{key: value for key, value in stored.items() if key not in ("name", "namespace")},
        "workflows": library.workflows(in_namespace),
        "workflow": library.workflow(name, namespace),
        "replaced": library.replace_workflow(f"{name}_child", CHILD.format(name=name), namespace),
        "workbooks": library.workbooks(in_namespace),
        "workbook": library.workbook(f"{name}_wb", namespace),
        "actions": library.actions(),
        "action": library.action(f"{name}_act", namespace),
        "environments": resources.environments(ListQuery()),
        "environment_by_name": resources.environment(f"{name}_env"),
        "cron_triggers": resources.cron_triggers(ListQuery()),
        "cron_trigger_by_name": resources.cron_trigger(f"{name}_cron"),
        "api_keys": services.credentials.list_api_keys(),
        "role": services.credentials.role_of("not-a-key"),
        "execution_by_id": reads.execution(ex_id),
        "execution_with_progress": reads.execution_with_progress(ex_id),
        "executions": reads.executions(ListQuery()),
        "executions_below": reads.executions_below(ex_id),
        "executions_below_task": reads.executions_below_task(task.id),
        "history": reads.history(ex_id),
        "task": reads.task(task.id),
        "tasks": reads.tasks(ListQuery()),
        "action_executions": reads.action_executions(ListQuery()),
        "tree": services.trees.tree(ex_id),
        "updated_execution": services.engine.update_execution(ex_id, description="changed"),
        "action_run": services.engine.run_action("std.noop"),
    }
    actions = results["action_executions"]
    results["action_execution"] = reads.action_execution(actions[0].action.id)
    # Each listing holds what was stored, so the walk below has something to look at.
    for key in ("workflows", "workbooks", "actions", "environments", "cron_triggers", "api_keys",
                "executions_below", "history", "action_executions"):
        assert results[key], key
    assert len(results["uploaded_workflows"].workflows) == 2 and results["uploaded_workbook"].workbooks
    assert results["uploaded_actions"].actions and results["action"] is not None
    assert orm_objects(results) == []
