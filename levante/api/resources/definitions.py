"""What the workbook, workflow and action resources share: uploads, validation and the text shown
as a definition's ``definition``."""

from __future__ import annotations

import functools
from typing import Any

import falcon
import yaml

from levante.api import views
from levante.api.context import ApiContext
from levante.api.payloads import text_body
from levante.db import repository as repo
from levante.db.models import ActionDefinition, WorkbookDefinition, WorkflowDefinition
from levante.engine.service.definitions import store
from levante.exceptions import InputError, LevanteError
from levante.workflows import parser

#: Scopes a definition may have.
SCOPES = ("private", "public")


def namespace_of(req: falcon.Request) -> str:
    """The ``namespace`` query parameter ('' by default)."""
    return req.get_param("namespace") or ""


def scope_of(req: falcon.Request) -> str | None:
    """The ``scope`` query parameter, checked."""
    scope = req.get_param("scope")
    if scope is not None and scope not in SCOPES:
        raise InputError(f"Scope must be one of {', '.join(SCOPES)}, not {scope!r}.")
    return scope


def upload(ctx: ApiContext, req: falcon.Request, kind: str, update: bool) -> dict[str, list[dict[str, Any]]]:
    """Validate and store the YAML document of the request body (``kind``: workflows, workbook or
    actions). ``update`` replaces definitions that exist and creates the others (PUT); POST answers
    409 when one exists.

    Returns:
        The views of what was stored: ``{"workbooks": [...], "workflows": [...], "actions": [...]}``.
    """
    text = text_body(req, ctx.max_body)
    namespace = namespace_of(req)
    scope = scope_of(req)
    with ctx.write() as session:
        _document, rows = store(session, kind, text, namespace, update=update)
        if scope is not None:
            for row in rows:
                row.scope = scope
        session.flush()
        return {
            "workbooks": [views.workbook_view(r) for r in rows if isinstance(r, WorkbookDefinition)],
            "workflows": [workflow_view(ctx, session, r) for r in rows if isinstance(r, WorkflowDefinition)],
            "actions": [action_view(ctx, session, r) for r in rows if isinstance(r, ActionDefinition)],
        }


def validate(ctx: ApiContext, req: falcon.Request, kind: str) -> dict[str, Any]:
    """``POST /v2/<definitions>/validate``: ``{"valid": true}`` or ``{"valid": false, "error": ...,
    "errors": [{line, column, path, message, kind}, ...]}``."""
    try:
        text = text_body(req, ctx.max_body)
    except InputError as exc:
        return {"valid": False, "error": exc.message, "errors": []}
    document, errors = parser.inspect(text, kind)
    if not errors and document is not None:
        return {"valid": True}
    lines = [e.format("<definition>") for e in errors]
    return {"valid": False, "error": "\n".join(lines), "errors": [e.to_dict() for e in errors]}


@functools.lru_cache(maxsize=16)
def _loaded(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _cut(text: str, path: tuple[str, ...], name: str) -> str | None:
    """The document holding only the entry at ``path`` (with the version), as Mistral cuts it."""
    data = _loaded(text)
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    version = _loaded(text).get("version", "2.0")
    return yaml.safe_dump({"version": version, name: data}, sort_keys=False, allow_unicode=True)


def shown_definition(ctx: ApiContext, session: Any, row: Any, kind: str) -> str:
    """The ``definition`` of a workflow or action row (``kind``: ``workflows`` or ``actions``): the
    uploaded text when it defines only this one, else the part of it that does."""
    if row.workbook_name:
        workbook = repo.find_workbook_definition(session, row.workbook_name, row.namespace)
        if workbook is None:
            return row.definition
        local = row.name[len(row.workbook_name) + 1:]
        section = "workflows" if kind == "workflows" else "actions"
        return _cut(workbook.definition, (section, local), local) or row.definition
    data = _loaded(row.definition)
    entries = [k for k in data if k != "version"] if isinstance(data, dict) else []
    if len(entries) <= 1:
        return row.definition
    return _cut(row.definition, (row.name,), row.name) or row.definition


def workflow_view(ctx: ApiContext, session: Any, row: Any) -> dict[str, Any]:
    """The API view of a stored workflow (its spec gives the ``interface``)."""
    try:
        spec, _ = ctx.catalog.workflow_with_id(session, row.id, row.namespace)
    except LevanteError:  # a stored text that no longer parses (the language changed) still lists
        spec = None
    return views.workflow_view(row, spec, shown_definition(ctx, session, row, "workflows"))


def action_view(ctx: ApiContext, session: Any, row: Any) -> dict[str, Any]:
    """The API view of an ad-hoc action."""
    view = views.adhoc_action_view(row)
    view["definition"] = shown_definition(ctx, session, row, "actions")
    return view
