"""``/v2/workbooks``: workbooks (a named document of workflows and actions)."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.resources import definitions as defs

FILTERS: dict[str, listing.Converter] = {
    "name": listing.as_text, "namespace": listing.as_text, "scope": listing.as_text,
    "definition": listing.as_text, "project_id": listing.as_text,
    "created_at": listing.as_time, "updated_at": listing.as_time,
}


class WorkbookCollection(defs.UploadResponders):
    """``GET``, ``POST`` (create, 201) and ``PUT`` (replace) ``/v2/workbooks``."""

    kind = "workbook"

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = listing.parse(req, FILTERS, views.FIELDS["workbooks"], extra=("all_projects",))
        rows = self.ctx.library.workbooks(query)
        items = [views.pick(views.workbook_view(r), query.fields) for r in rows]
        resp.media = listing.page(req, "workbooks", items, query, rows[-1].id if rows else None)

    def _answer(self, stored: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        return {**stored["workbooks"][0], "warnings": stored["warnings"]}


class WorkbookItem:
    """``GET`` and ``DELETE`` ``/v2/workbooks/{name}``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["workbooks"], extra=("namespace",)).fields
        row = self.ctx.library.workbook(name, defs.namespace_of(req))
        resp.media = views.pick(views.workbook_view(row), fields)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        """Delete the workbook with the workflows and actions it defines."""
        self.ctx.library.delete_workbook(name, defs.namespace_of(req))
        resp.status = falcon.HTTP_204


class WorkbookValidation:
    """``POST /v2/workbooks/validate``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = defs.validate(self.ctx, req, "workbook")
