"""``GET /`` (the API versions), ``GET /v2`` and ``GET /health``."""

from __future__ import annotations

import falcon

from levante import __version__
from levante.api.context import ApiContext


class Versions:
    """``GET /``: the versions, as Mistral lists them."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"versions": [{
            "id": "v2.0",
            "status": "CURRENT",
            "links": [{"href": f"{req.prefix}/v2", "target": "v2", "rel": "self"}],
        }]}


class V2Root:
    """``GET /v2``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"uri": f"{req.prefix}/v2"}


class Health:
    """``GET /health``: answers once the server serves and its database answers."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.ctx.reads.ping()
        resp.media = {"status": "ok", "version": __version__, "role": self.ctx.config.role}
