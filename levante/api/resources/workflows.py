"""``/v2/workflows``: workflow definitions (YAML text in, JSON out)."""

from __future__ import annotations

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import text_body
from levante.api.resources import definitions as defs
from levante.db import repository as repo
from levante.engine.service.definitions import input_text
from levante.exceptions import InputError
from levante.workflows import parser

FILTERS: dict[str, listing.Converter] = {
    "name": listing.as_text, "namespace": listing.as_text, "scope": listing.as_text,
    "input": listing.as_text, "definition": listing.as_text, "project_id": listing.as_text,
    "created_at": listing.as_time, "updated_at": listing.as_time,
}


class WorkflowCollection:
    """``GET``, ``POST`` (create, 201) and ``PUT`` (replace) ``/v2/workflows``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = listing.parse(req, FILTERS, views.FIELDS["workflows"], extra=("all_projects",))
        with self.ctx.read() as session:
            rows = repo.list_workflow_definitions(
                session, filters=query.filters, limit=query.limit, marker=query.marker,
                sort_keys=query.sort_keys, sort_dirs=query.sort_dirs)
            items = [views.pick(defs.workflow_view(self.ctx, session, r), query.fields) for r in rows]
        resp.media = listing.page(req, "workflows", items, query, rows[-1].id if rows else None)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        stored = defs.upload(self.ctx, req, "workflows", update=False)
        resp.status = falcon.HTTP_201
        resp.media = {"workflows": stored["workflows"], "warnings": stored["warnings"]}

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        stored = defs.upload(self.ctx, req, "workflows", update=True)
        resp.media = {"workflows": stored["workflows"], "warnings": stored["warnings"]}


class WorkflowItem:
    """``GET``, ``PUT`` and ``DELETE`` ``/v2/workflows/{identifier}`` (an id or a name)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["workflows"], extra=("namespace",)).fields
        with self.ctx.read() as session:
            row = repo.get_workflow_definition(session, identifier, defs.namespace_of(req))
            resp.media = views.pick(defs.workflow_view(self.ctx, session, row), fields)

    def on_put(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        """Replace the workflow with this id by the one workflow of the body (it may rename it)."""
        text = text_body(req, self.ctx.max_body)
        document = parser.parse(text, "workflows")
        if len(document.workflows) != 1:
            raise InputError("Updating a workflow by id needs a definition of exactly one workflow, "
                             f"not {len(document.workflows)}.")
        spec = next(iter(document.workflows.values()))
        scope = defs.scope_of(req)
        with self.ctx.write() as session:
            row = repo.get_workflow_definition(session, identifier, defs.namespace_of(req))
            changes = {"name": spec.name, "definition": text, "tags": list(spec.tags),
                       "input": input_text(spec.input), "workbook_name": None}
            if scope is not None:
                changes["scope"] = scope
            row = repo.update_workflow_definition(session, row.id, row.namespace, **changes)
            resp.media = defs.workflow_view(self.ctx, session, row)
        resp.media["warnings"] = defs.warnings_of(document, defs.namespace_of(req))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        with self.ctx.write() as session:
            row = repo.get_workflow_definition(session, identifier, defs.namespace_of(req))
            triggers = [t.id for t in repo.list_cron_triggers(session, filters={"workflow_name": row.name})]
            if triggers:
                raise InputError("Can't delete workflow that has cron triggers associated. "
                                 f"[workflow_identifier={identifier}, "
                                 f"cron_trigger_id(s)={', '.join(triggers)}]")
            repo.delete_workflow_definition(session, row.id, row.namespace)
        resp.status = falcon.HTTP_204


class WorkflowValidation:
    """``POST /v2/workflows/validate``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = defs.validate(self.ctx, req, "workflows")
