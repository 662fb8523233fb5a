"""Resources as Mistral's v2 API shows them: field names, JSON-typed fields as JSON strings,
timestamps as ``YYYY-MM-DD HH:MM:SS``.

Each ``*_view`` takes a record (plus what it needs from related records) and returns a dict ready
for ``resp.media``. Which fields exist is declared in ``FIELDS`` so that ``?fields=`` can be
checked.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Iterable

from levante.actions.registry import ActionInfo
from levante.engine.records import ActionExecution, TaskExecution, WorkflowExecution
from levante.engine.service.stored import (
    ActionRecord,
    CronTriggerRecord,
    Defined,
    EnvironmentRecord,
    Owned,
    WorkbookRecord,
    WorkflowRecord,
)
from levante.workflows.specs import WorkflowSpec, thaw

#: What Mistral shows as ``project_id`` when authentication is off.
PROJECT_ID = "<default-project>"
#: Context keys that ``published_global`` leaves out (Mistral's list).
_NOT_PUBLISHED = ("__execution", "openstack", "vars")
#: Namespace of the stable ids given to system actions.
_SYSTEM_ACTION_NS = uuid.UUID("6b1d3c4e-2f5a-4c1b-9a7e-1c0de5a7e001")

FIELDS: dict[str, tuple[str, ...]] = {
    "executions": (
        "id", "workflow_id", "workflow_name", "workflow_namespace", "description", "tags", "params",
        "task_execution_id", "root_execution_id", "state", "state_info", "input", "output",
        "created_at", "updated_at", "project_id", "published_global", "progress",
    ),
    "tasks": (
        "id", "name", "type", "workflow_name", "workflow_namespace", "workflow_id", "workflow_execution_id",
        "tags", "state", "state_info", "project_id", "runtime_context", "result", "published",
        "published_global", "processed", "created_at", "updated_at", "started_at", "finished_at",
        "progress",
    ),
    "action_executions": (
        "id", "name", "description", "workflow_name", "workflow_namespace", "task_name", "task_execution_id",
        "state", "state_info", "tags", "project_id", "accepted", "input", "output", "params",
        "created_at", "updated_at", "last_heartbeat", "progress",
    ),
    "workflows": (
        "id", "name", "namespace", "input", "interface", "definition", "checksum", "tags", "scope",
        "project_id", "created_at", "updated_at",
    ),
    "workbooks": ("id", "name", "namespace", "definition", "tags", "scope", "project_id", "created_at",
                  "updated_at"),
    "actions": ("id", "name", "namespace", "is_system", "input", "description", "tags", "definition",
                "scope", "project_id", "created_at", "updated_at"),
    "environments": ("id", "name", "description", "variables", "scope", "project_id", "created_at",
                     "updated_at"),
    "cron_triggers": (
        "id", "name", "workflow_name", "workflow_id", "workflow_input", "workflow_params", "project_id",
        "scope", "pattern", "timezone", "remaining_executions", "first_execution_time", "next_execution_time",
        "created_at", "updated_at",
    ),
}


def timestamp(value: datetime | None) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` in UTC, as Mistral shows times."""
    if value is None:
        return None
    if value.tzinfo is not None:
        if value.utcoffset():
            value = value.astimezone(timezone.utc)
        value = value.replace(tzinfo=None)
    if value.year < 1000:
        return value.strftime("%Y-%m-%d %H:%M:%S")  # the year as strftime writes it: not padded
    return value.isoformat(" ", "seconds")  # the same text, in a third of the time


def _plain(value: Any) -> Any:
    """What :data:`_ENCODER` writes for a value JSON has no type for: a mapping that is not a dict
    (a YAQL result's frozen dict) as an object, anything else as its ``str``."""
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


#: One encoder for every JSON-typed field. ``json.dumps`` with arguments builds an encoder per
#: call (a third of the cost of a small value), and the encoder writes dicts, their frozen
#: subclass, lists and tuples as they are: only other mappings need :func:`_plain`, which is what
#: a copy through :func:`~levante.workflows.specs.thaw` before every encoding gave, at twice the cost.
_ENCODER = json.JSONEncoder(ensure_ascii=False, default=_plain)


def json_text(value: Any) -> str:
    """A JSON-typed field as Mistral sends it: JSON text."""
    try:
        return _ENCODER.encode(value)
    except RecursionError:  # nested deeper than Python's stack (an action's result can be)
        return deep_json_text(value)


class _Token(str):
    """Text :func:`deep_json_text` writes as it is."""


def _key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool) or key is None:
        return json.dumps(key)
    return str(key)


def deep_json_text(value: Any) -> str:
    """:func:`json_text` without recursion, for values of any depth: a stack of what is left to
    write, each container pushed as its brackets with its members between them."""
    out: list[str] = []
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, _Token):
            out.append(item)
        elif isinstance(item, Mapping):
            stack.append(_Token("}"))
            for index, (key, member) in reversed(list(enumerate(item.items()))):
                stack.append(member)
                stack.append(_Token((", " if index else "") + json.dumps(_key_text(key), ensure_ascii=False) + ": "))
            stack.append(_Token("{"))
        elif isinstance(item, (list, tuple)):
            stack.append(_Token("]"))
            for index, member in reversed(list(enumerate(item))):
                stack.append(member)
                if index:
                    stack.append(_Token(", "))
            stack.append(_Token("["))
        else:
            out.append(json.dumps(item, default=str, ensure_ascii=False))
    return "".join(out)


def pick(view: dict[str, Any], fields: Iterable[str] | None) -> dict[str, Any]:
    """Only ``fields`` of a view (all when None); ``id`` is always kept."""
    if fields is None:
        return view
    wanted = set(fields) | {"id"}
    return {k: v for k, v in view.items() if k in wanted}


def state_text(state: Any) -> str:
    """A state as its string (``State.RUNNING`` -> ``RUNNING``)."""
    return str(getattr(state, "value", state))


# --- executions -----------------------------------------------------------------------------


def published_global(ex: WorkflowExecution) -> dict[str, Any]:
    """The execution's global context without the engine's own keys."""
    return {k: v for k, v in (ex.context or {}).items() if k not in _NOT_PUBLISHED}


def progress(counts: tuple[int, int]) -> dict[str, int]:
    """``{"tasks_done", "tasks_total"}`` from (tasks ended, task executions created so far)."""
    return {"tasks_done": counts[0], "tasks_total": counts[1]}


def execution_view(ex: WorkflowExecution, *, include_output: bool = True,
                   counts: tuple[int, int] | None = None) -> dict[str, Any]:
    """An execution. With ``counts`` (GET by id: tasks ended, tasks created) it also carries
    ``published_global`` and ``progress``; lists leave ``output`` out unless asked."""
    view: dict[str, Any] = {
        "id": ex.id,
        "workflow_id": ex.workflow_id,
        "workflow_name": ex.workflow_name,
        "workflow_namespace": ex.workflow_namespace or "",
        "description": ex.description or "",
        "tags": list(ex.tags or []),
        "params": json_text(ex.params or {}),
        "task_execution_id": ex.task_execution_id,
        "root_execution_id": ex.root_execution_id,
        "state": state_text(ex.state),
        "state_info": ex.state_info,
        "input": json_text(ex.input or {}),
        "created_at": timestamp(ex.created_at),
        "updated_at": timestamp(ex.updated_at),
        "project_id": PROJECT_ID,
    }
    if include_output:
        view["output"] = json_text(ex.output or {})
    if counts is not None:
        view["published_global"] = json_text(published_global(ex))
        view["progress"] = progress(counts)
    return view


def task_view(task: TaskExecution, ex: WorkflowExecution | None, detail: bool = False,
              action_progress: Any = None) -> dict[str, Any]:
    """A task execution; ``detail`` (GET by id) adds ``result`` and ``published_global``.
    ``progress`` is the last progress its running (asynchronous) action reported, or None."""
    view: dict[str, Any] = {
        "id": task.id,
        "name": task.name,
        "type": task.type,
        "workflow_name": task.workflow_name,
        "workflow_namespace": ex.workflow_namespace if ex is not None else "",
        "workflow_id": ex.workflow_id if ex is not None else None,
        "workflow_execution_id": task.workflow_execution_id,
        "tags": [],
        "state": state_text(task.state),
        "state_info": task.state_info,
        "project_id": PROJECT_ID,
        "runtime_context": json_text(task.runtime_context or {}),
        "published": json_text(task.published or {}),
        "processed": bool(task.processed),
        "created_at": timestamp(task.created_at),
        "updated_at": timestamp(task.updated_at),
        "started_at": timestamp(task.started_at),
        "finished_at": timestamp(task.finished_at),
        "progress": action_progress,
    }
    if detail:
        view["result"] = json_text(task.result)
        view["published_global"] = json_text(published_global(ex) if ex is not None else {})
    return view


def action_execution_view(action: ActionExecution, *, task_name: str | None = None,
                          workflow_namespace: str = "", include_output: bool = True,
                          heartbeat: tuple[datetime | None, Any] | None = None) -> dict[str, Any]:
    """An action execution (``output`` is ``{"result": ...}`` once it completed).

    ``heartbeat`` is ``(last_heartbeat, progress)`` as a long asynchronous action last reported
    them (``PUT .../heartbeat``); ``progress`` is shown as the JSON value it is, not as JSON text."""
    last_heartbeat, reported = heartbeat or (None, None)
    view: dict[str, Any] = {
        "id": action.id,
        "name": action.name,
        "description": action.description or "",
        "workflow_name": action.workflow_name,
        "workflow_namespace": workflow_namespace,
        "task_name": task_name,
        "task_execution_id": action.task_execution_id,
        "state": state_text(action.state),
        "state_info": action.state_info,
        "tags": [],
        "project_id": PROJECT_ID,
        "accepted": bool(action.accepted),
        "input": json_text(action.input or {}),
        "params": "{}",
        "created_at": timestamp(action.created_at),
        "updated_at": timestamp(action.updated_at),
        "last_heartbeat": timestamp(last_heartbeat),
        "progress": reported,
    }
    if include_output:
        view["output"] = json_text(action.output or {})
    return view


# --- definitions ----------------------------------------------------------------------------


def interface_of(spec: WorkflowSpec | None) -> dict[str, Any]:
    """Mistral's workflow ``interface``: the declared input list and the output keys."""
    if spec is None:
        return {"input": [], "output": []}
    inputs: list[Any] = [{p.name: thaw(p.default)} if p.has_default else p.name for p in spec.input]
    output = list(spec.output.keys()) if isinstance(spec.output, dict) else []
    return {"input": inputs, "output": output}


def _owned(row: Owned) -> dict[str, Any]:
    """The fields every stored, scoped resource shows: id, name, scope, project and times."""
    return {
        "id": row.id,
        "name": row.name,
        "scope": row.scope,
        "project_id": row.project_id or PROJECT_ID,
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


def _definition(row: Defined) -> dict[str, Any]:
    """:func:`_owned` with the namespace and tags of a workflow, workbook or ad-hoc action."""
    return {**_owned(row), "namespace": row.namespace or "", "tags": list(row.tags or [])}


def workflow_view(row: WorkflowRecord, spec: WorkflowSpec | None, definition: str) -> dict[str, Any]:
    """A stored workflow; ``definition`` is the text shown for it."""
    return {
        **_definition(row),
        "input": row.input or "",
        "interface": json_text(interface_of(spec)),
        "definition": definition,
        "checksum": hashlib.md5(definition.encode("utf-8")).hexdigest(),  # noqa: S324 - Mistral's checksum
    }


def workbook_view(row: WorkbookRecord) -> dict[str, Any]:
    """A stored workbook."""
    return {**_definition(row), "definition": row.definition}


def adhoc_action_view(row: ActionRecord, definition: str) -> dict[str, Any]:
    """An ad-hoc action; ``definition`` is the text shown for it."""
    return {
        **_definition(row),
        "is_system": False,
        "input": row.input or "",
        "description": row.description or "",
        "definition": definition,
    }


def system_action_view(info: ActionInfo) -> dict[str, Any]:
    """A registered (Python) action, with a stable id derived from its name."""
    return {
        "id": str(uuid.uuid5(_SYSTEM_ACTION_NS, info.name)),
        "name": info.name,
        "namespace": "",
        "is_system": True,
        "input": info.input_text(),
        "description": info.description,
        "tags": [],
        "definition": None,
        "scope": "public",
        "project_id": None,
        "created_at": None,
        "updated_at": None,
    }


def system_action_id(name: str) -> str:
    """The id :func:`system_action_view` gives the action ``name``."""
    return str(uuid.uuid5(_SYSTEM_ACTION_NS, name))


# --- other resources ------------------------------------------------------------------------


def environment_view(row: EnvironmentRecord) -> dict[str, Any]:
    """An environment (``variables`` as JSON text)."""
    return {
        **_owned(row),
        "description": row.description or "",
        "variables": json_text(row.variables or {}),
    }


def cron_trigger_view(row: CronTriggerRecord) -> dict[str, Any]:
    """A cron trigger."""
    return {
        **_owned(row),
        "workflow_name": row.workflow_name,
        "workflow_id": row.workflow_id,
        "workflow_input": json_text(row.workflow_input or {}),
        "workflow_params": json_text(row.workflow_params or {}),
        "pattern": row.pattern,
        "timezone": row.timezone,
        "remaining_executions": row.remaining_executions,
        "first_execution_time": timestamp(row.first_execution_time),
        "next_execution_time": timestamp(row.next_execution_time),
    }
