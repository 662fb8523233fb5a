"""``/v2/environments``: named variables an execution can use as its ``env``."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.payloads import check_keys, json_body, json_object, text_field
from levante.api.resources.definitions import SCOPES
from levante.exceptions import InputError
from levante.workflows.semantics import name_problem

FILTERS: dict[str, listing.Converter] = {
    "name": listing.as_text, "description": listing.as_text, "scope": listing.as_text,
    "project_id": listing.as_text, "created_at": listing.as_time, "updated_at": listing.as_time,
}
KEYS = {"name", "description", "variables", "scope"}
#: Read-only fields a client may send back unchanged (ignored).
_READ_ONLY = {"id", "project_id", "created_at", "updated_at"}


def _changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if body.get("description") is not None:
        changes["description"] = text_field(body, "description", free_text=True)
    if body.get("variables") is not None:
        changes["variables"] = json_object(body["variables"], "variables")
    scope = text_field(body, "scope")
    if scope is not None:
        if scope not in SCOPES:
            raise InputError(f"Scope must be one of {', '.join(SCOPES)}, not {scope!r}.")
        changes["scope"] = scope
    return changes


def _name(body: dict[str, Any], new: bool = False) -> str:
    name = text_field(body, "name")
    if not name:
        raise InputError("An environment needs a 'name'.")
    problem = name_problem("environment", name) if new else None
    if problem:
        raise InputError(problem[0].upper() + problem[1:] + ".")
    return name


class EnvironmentCollection:
    """``GET``, ``POST`` (create, 201) and ``PUT`` (update the one named in the body)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = listing.parse(req, FILTERS, views.FIELDS["environments"], extra=("all_projects",))
        rows = self.ctx.resources.environments(query)
        items = [views.pick(views.environment_view(r), query.fields) for r in rows]
        resp.media = listing.page(req, "environments", items, query, rows[-1].id if rows else None)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req, self.ctx.max_body)
        check_keys(body, KEYS, "an environment")
        row = self.ctx.resources.create_environment(_name(body, new=True), **_changes(body))
        resp.status = falcon.HTTP_201
        resp.media = views.environment_view(row)

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req, self.ctx.max_body)
        check_keys(body, KEYS | _READ_ONLY, "an environment")
        row = self.ctx.resources.update_environment(_name(body), **_changes(body))
        resp.media = views.environment_view(row)


class EnvironmentItem:
    """``GET`` and ``DELETE`` ``/v2/environments/{name}``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        fields = listing.parse(req, {}, views.FIELDS["environments"]).fields
        row = self.ctx.resources.environment(name)
        resp.media = views.pick(views.environment_view(row), fields)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        self.ctx.resources.delete_environment(name)
        resp.status = falcon.HTTP_204
