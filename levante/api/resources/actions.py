"""``/v2/actions``: the registered (system) actions and the ad-hoc actions defined in YAML."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import listing, views
from levante.api.context import ApiContext
from levante.api.resources import definitions as defs
from levante.engine.service.stored import ActionRecord
from levante.exceptions import ActionError, InputError, NotFoundError

FILTERS: dict[str, listing.Converter] = {
    "name": listing.as_text, "namespace": listing.as_text, "scope": listing.as_text,
    "is_system": listing.as_bool, "input": listing.as_text, "description": listing.as_text,
    "project_id": listing.as_text, "created_at": listing.as_time, "updated_at": listing.as_time,
}
_RAW_KEYS = ("name", "namespace", "scope", "is_system", "input", "description", "project_id")


def _raw(view: dict[str, Any], row: ActionRecord | None = None) -> dict[str, Any]:
    raw = {k: view[k] for k in _RAW_KEYS}
    raw.update(id=view["id"], created_at=row.created_at if row else None,
               updated_at=row.updated_at if row else None, view=view)
    return raw


class ActionCollection(defs.UploadResponders):
    """``GET`` (system and ad-hoc actions, by name), ``POST`` (create, 201), ``PUT`` ``/v2/actions``."""

    kind = "actions"

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def _system(self) -> list[dict[str, Any]]:
        out = []
        for name in self.ctx.registry.names():
            try:
                info = self.ctx.registry.find(name)
            except ActionError:  # a plug-in that does not load is left out of the list
                continue
            if info is not None:
                out.append(_raw(views.system_action_view(info)))
        return out

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        query = listing.parse(req, FILTERS, views.FIELDS["actions"], extra=("all_projects",),
                              default_sort="name")
        stored = [_raw(defs.action_view(a), a.row) for a in self.ctx.library.actions()]
        found = listing.in_memory(self._system() + stored, query)
        items = [views.pick(r["view"], query.fields) for r in found]
        resp.media = listing.page(req, "actions", items, query, found[-1]["id"] if found else None)


class ActionItem:
    """``GET`` and ``DELETE`` ``/v2/actions/{identifier}`` (a name or an id), also as
    ``/v2/actions/{identifier}/{namespace}`` (python-mistralclient puts the namespace in the path)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def _system_view(self, identifier: str) -> dict[str, Any] | None:
        for name in self.ctx.registry.names():
            if identifier in (name, views.system_action_id(name)):
                info = self.ctx.registry.find(name)
                return None if info is None else views.system_action_view(info)
        return None

    def on_get(self, req: falcon.Request, resp: falcon.Response, identifier: str,
               namespace: str | None = None) -> None:
        fields = listing.parse(req, {}, views.FIELDS["actions"], extra=("namespace",)).fields
        found = self.ctx.library.action(identifier, namespace or defs.namespace_of(req))
        view = defs.action_view(found) if found is not None else self._system_view(identifier)
        if view is None:
            raise NotFoundError("Action", identifier)
        resp.media = views.pick(view, fields)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, identifier: str,
                  namespace: str | None = None) -> None:
        if not self.ctx.library.delete_action(identifier, namespace or defs.namespace_of(req)):
            if self._system_view(identifier) is not None:
                raise InputError(f"Attempt to delete a system action: {identifier}")
            raise NotFoundError("Action", identifier)
        resp.status = falcon.HTTP_204


class ActionValidation:
    """``POST /v2/actions/validate``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = defs.validate(self.ctx, req, "actions")
