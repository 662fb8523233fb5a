"""``/v2/api_keys``: API keys (admin keys only). A key is shown once, when it is created."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import auth, views
from levante.api.context import ApiContext
from levante.api.payloads import check_keys, json_body, text_field
from levante.db import repository as repo
from levante.exceptions import InputError


def api_key_view(row: Any) -> dict[str, Any]:
    """A stored key, without the key (only its hash is stored)."""
    return {"id": row.id, "name": row.name, "role": row.role, "created_at": views.timestamp(row.created_at)}


class ApiKeyCollection:
    """``GET`` (list) and ``POST {"name", "role"}`` (create, 201, with ``key``)."""

    admin_only = True

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with self.ctx.read() as session:
            resp.media = {"api_keys": [api_key_view(r) for r in repo.list_api_keys(session)]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req, self.ctx.max_body)
        check_keys(body, {"name", "role"}, "an API key")
        name = text_field(body, "name")
        if not name:
            raise InputError("An API key needs a 'name'.")
        role = text_field(body, "role") or auth.USER
        if role not in auth.ROLES:
            raise InputError(f"API key role must be one of {', '.join(auth.ROLES)}, not {role!r}.")
        key = auth.new_key()
        with self.ctx.write() as session:
            row = repo.create_api_key(session, name, auth.key_hash(key), role)
            view = api_key_view(row)
        resp.status = falcon.HTTP_201
        resp.media = {**view, "key": key}


class ApiKeyItem:
    """``DELETE /v2/api_keys/{identifier}`` (an id or a name)."""

    admin_only = True

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_delete(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        with self.ctx.write() as session:
            repo.delete_api_key(session, identifier)
        resp.status = falcon.HTTP_204
