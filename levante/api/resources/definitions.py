"""What the workbook, workflow and action resources share: uploads, validation and the text shown
as a definition's ``definition``."""

from __future__ import annotations

import functools
import logging
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
from levante.workflows.specs import DocumentSpec

LOG = logging.getLogger(__name__)

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
        The views of what was stored: ``{"workbooks": [...], "workflows": [...], "actions": [...],
        "warnings": [...]}`` (see :func:`warnings_of`).
    """
    text = text_body(req, ctx.max_body)
    namespace = namespace_of(req)
    scope = scope_of(req)
    with ctx.write() as session:
        document, rows = store(session, kind, text, namespace, update=update)
        if scope is not None:
            for row in rows:
                row.scope = scope
        session.flush()
        stored = {
            "workbooks": [views.workbook_view(r) for r in rows if isinstance(r, WorkbookDefinition)],
            "workflows": [workflow_view(ctx, session, r) for r in rows if isinstance(r, WorkflowDefinition)],
            "actions": [action_view(ctx, session, r) for r in rows if isinstance(r, ActionDefinition)],
        }
    return {**stored, "warnings": warnings_of(document, namespace)}


def warnings_of(document: DocumentSpec, namespace: str = "") -> list[dict[str, Any]]:
    """The warnings of an accepted definition, logged (WARNING) and in the form an upload answer
    carries them: ``{line, column, path, message, kind: "warning", text}``, where ``text`` is the
    ``levante validate`` line (``<definition>:LINE:COL: PATH: MESSAGE``).

    Mistral's client reads only the keys it knows of an upload answer, so an extra ``warnings``
    beside them changes nothing for it.
    """
    what = document.name or ", ".join([*document.workflows, *document.actions])
    where = f" in namespace {namespace!r}" if namespace else ""
    out = []
    for warning in document.warnings:
        line = warning.format("<definition>")
        LOG.warning("Definition of %s %s%s: %s", document.kind, what, where, line)
        out.append({**warning.to_dict(), "text": line})
    return out


def validate(ctx: ApiContext, req: falcon.Request, kind: str) -> dict[str, Any]:
    """``POST /v2/<definitions>/validate``: ``{"valid": true}`` or ``{"valid": false, "error": ...,
    "errors": [{line, column, path, message, kind}, ...]}``."""
    try:
        text = text_body(req, ctx.max_body)
    except InputError as exc:
        return {"valid": False, "error": exc.message, "errors": []}
    validation = parser.check(text, kind)
    warnings = [{**w.to_dict(), "text": w.format("<definition>")} for w in validation.warnings]
    if not validation.errors and validation.document is not None:
        return {"valid": True, "warnings": warnings}
    lines = [e.format("<definition>") for e in validation.errors]
    return {"valid": False, "error": "\n".join(lines), "errors": [e.to_dict() for e in validation.errors],
            "warnings": warnings}


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
