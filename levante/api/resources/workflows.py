"""``/v2/workflows``: workflow definitions (YAML text in, JSON out)."""

from __future__ import annotations

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import text_body
from levante.api.resources import definitions as defs

FILTERS: dict[str, listing.Converter] = {
    "name": listing.as_text, "namespace": listing.as_text, "scope": listing.as_text,
    "input": listing.as_text, "definition": listing.as_text, "project_id": listing.as_text,
    "created_at": listing.as_time, "updated_at": listing.as_time,
}


class WorkflowCollection(defs.UploadResponders):
    """``GET``, ``POST`` (create, 201) and ``PUT`` (replace) ``/v2/workflows``."""

    kind = "workflows"

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = listing.parse(req, FILTERS, views.FIELDS["workflows"], extra=("all_projects",))
        found = self.ctx.library.workflows(query)
        items = [views.pick(defs.workflow_view(w), query.fields) for w in found]
        resp.media = listing.page(req, "workflows", items, query, found[-1].row.id if found else None)


class WorkflowItem:
    """``GET``, ``PUT`` and ``DELETE`` ``/v2/workflows/{identifier}`` (an id or a name)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["workflows"], extra=("namespace",)).fields
        found = self.ctx.library.workflow(identifier, defs.namespace_of(req))
        resp.media = views.pick(defs.workflow_view(found), fields)

    def on_put(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        """Replace the workflow with this id by the one workflow of the body (it may rename it)."""
        text = text_body(req, self.ctx.max_body)
        namespace = defs.namespace_of(req)
        found, document = self.ctx.library.replace_workflow(identifier, text, namespace, defs.scope_of(req))
        resp.media = {**defs.workflow_view(found), "warnings": defs.warnings_of(document, namespace)}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        self.ctx.library.delete_workflow(identifier, defs.namespace_of(req))
        resp.status = falcon.HTTP_204


class WorkflowValidation:
    """``POST /v2/workflows/validate``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = defs.validate(self.ctx, req, "workflows")
