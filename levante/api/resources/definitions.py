"""What the workbook, workflow and action resources share: uploads, validation and the text shown
as a definition's ``definition``."""

from __future__ import annotations

import logging
from typing import Any

import falcon

from levante.api import views
from levante.api.context import ApiContext
from levante.api.payloads import text_body
from levante.engine.service.library import SCOPES, check_scope
from levante.engine.service.stored import StoredAction, StoredWorkflow
from levante.exceptions import InputError
from levante.workflows import parser
from levante.workflows.specs import DocumentSpec

__all__ = ["SCOPES", "UploadResponders", "action_view", "namespace_of", "scope_of", "upload", "validate", "warnings_of",
           "workflow_view"]

LOG = logging.getLogger(__name__)

def namespace_of(req: falcon.Request) -> str:
    """The ``namespace`` query parameter ('' by default)."""
    return req.get_param("namespace") or ""


def scope_of(req: falcon.Request) -> str | None:
    """The ``scope`` query parameter, checked."""
    return check_scope(req.get_param("scope"))


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
    stored = ctx.library.upload(kind, text, namespace, scope_of(req), update=update)
    return {
        "workbooks": [views.workbook_view(r) for r in stored.workbooks],
        "workflows": [workflow_view(w) for w in stored.workflows],
        "actions": [action_view(a) for a in stored.actions],
        "warnings": warnings_of(stored.document, namespace),
    }


class UploadResponders:
    """``POST`` (create, 201; 409 when one exists) and ``PUT`` (create or replace) of a YAML document
    on a collection of ``kind`` (``workflows`` or ``actions``): the answer is ``{kind: [views],
    "warnings": [...]}`` (a subclass may shape it otherwise in :meth:`_answer`)."""

    kind: str  # set by each subclass
    ctx: ApiContext

    def _answer(self, stored: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {self.kind: stored[self.kind], "warnings": stored["warnings"]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        media = self._answer(upload(self.ctx, req, self.kind, update=False))
        resp.status = falcon.HTTP_201
        resp.media = media

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = self._answer(upload(self.ctx, req, self.kind, update=True))


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


def workflow_view(stored: StoredWorkflow) -> dict[str, Any]:
    """The API view of a stored workflow (its spec gives the ``interface``)."""
    return views.workflow_view(stored.row, stored.spec, stored.definition)


def action_view(stored: StoredAction) -> dict[str, Any]:
    """The API view of an ad-hoc action."""
    return views.adhoc_action_view(stored.row, stored.definition)
