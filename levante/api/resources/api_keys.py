"""``/v2/api_keys``: API keys (admin keys only). A key is shown once, when it is created."""

from __future__ import annotations

from typing import Any

import falcon

from levante.api import auth, views
from levante.api.context import ApiContext
from levante.api.payloads import check_keys, json_body, text_field
from levante.engine.service.stored import ApiKeyRecord


def api_key_view(row: ApiKeyRecord) -> dict[str, Any]:
    """A stored key, without the key (only its hash is stored)."""
    return {"id": row.id, "name": row.name, "role": row.role, "created_at": views.timestamp(row.created_at)}


class ApiKeyCollection:
    """``GET`` (list) and ``POST {"name", "role"}`` (create, 201, with ``key``)."""

    admin_only = True

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"api_keys": [api_key_view(r) for r in self.ctx.credentials.list_api_keys()]}

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = json_body(req, self.ctx.max_body)
        check_keys(body, {"name", "role"}, "an API key")
        row, key = self.ctx.credentials.create_api_key(text_field(body, "name") or "",
                                                       text_field(body, "role") or auth.USER)
        resp.status = falcon.HTTP_201
        resp.media = {**api_key_view(row), "key": key}


class ApiKeyItem:
    """``DELETE /v2/api_keys/{identifier}`` (an id or a name)."""

    admin_only = True

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_delete(self, req: falcon.Request, resp: falcon.Response, identifier: str) -> None:
        self.ctx.credentials.delete_api_key(identifier)
        resp.status = falcon.HTTP_204
