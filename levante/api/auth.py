"""Who may call the API: API keys with a role, and per-action callback tokens.

- **API keys** (``X-API-Key: <key>``, ``Authorization: Bearer <key>`` or ``X-Auth-Token: <key>``,
  the header OpenStack clients such as python-mistralclient send) have the role ``admin`` or
  ``user``. Only the SHA-256 of a key is stored (``api_keys``; hashing and checks are in
  :mod:`levante.engine.service.credentials`). ``LEVANTE_ADMIN_KEY`` (``Config.admin_key``), when
  set, is accepted as an admin key too; ``levante server --create-api-key NAME --role admin``
  stores a new key and prints it once.
- **Callback tokens**: every asynchronous action execution has its own token (see
  :func:`levante.engine.service.credentials._with_callback_tokens`); the third party sends it back in the
  ``Levante-Callback-Token`` header or as ``?token=`` on the callback URL. A resource that accepts it
  says so with ``callback = True`` (its URL carries ``action_execution_id``); it is accepted for
  ``PUT`` and ``POST`` there. It is checked here, before the resource runs, unless the resource also
  says ``verifies_callback_token = True``: then the token is in ``req.context.callback_token`` and the
  resource passes it to the engine, which checks it in the transaction that completes the action.

With auth on (``Config.auth_enabled``): every request but ``GET /``, ``GET /health``,
``GET /v2/openapi.json`` and the identity endpoints (:mod:`levante.api.resources.identity`, which
check the key they are given themselves) needs a valid
key (401 without one or with an unknown one), except a callback with its action's token. A ``user``
key may not ``DELETE`` (so neither force-delete an execution) nor use ``admin_only`` resources
(the API keys): 403. With auth off everything is open, but a callback that presents a wrong token
is still refused (403): a token is never ignored, it is right or the request is refused.
"""

from __future__ import annotations

from typing import Any

import falcon

from levante.api.context import ApiContext
from levante.engine.service.credentials import ADMIN, ROLES, USER

__all__ = ["ADMIN", "ROLES", "USER", "Guard", "presented_key", "presented_token"]
TOKEN_HEADER = "Levante-Callback-Token"
KEY_HEADER = "X-API-Key"
#: The header OpenStack clients put their token in.
OPENSTACK_TOKEN_HEADER = "X-Auth-Token"
#: Requests anyone may make.
PUBLIC = {("GET", "/"), ("GET", "/health"), ("GET", "/v2/openapi.json"),
          ("GET", "/identity/v3"), ("POST", "/identity/v3/auth/tokens")}
#: Methods a callback token allows on a ``callback`` resource.
CALLBACK_METHODS = ("PUT", "POST")


def presented_key(req: falcon.Request) -> str | None:
    """The API key of a request, if it carries one."""
    for header in (KEY_HEADER, OPENSTACK_TOKEN_HEADER):
        key = req.get_header(header)
        if key:
            return key.strip()
    authorization = req.get_header("Authorization") or ""
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def presented_token(req: falcon.Request) -> str | None:
    """The callback token of a request (header first, then ``?token=``), if any."""
    token = req.get_header(TOKEN_HEADER)
    if token:
        return token.strip()
    token = req.get_param("token")
    return token or None


def _unauthorized(message: str) -> falcon.HTTPUnauthorized:
    return falcon.HTTPUnauthorized(title="Unauthorized", description=message,
                                   challenges=['Bearer realm="levante"'])


class Guard:
    """falcon middleware enforcing the rules above; sets ``req.context.role`` (``admin``,
    ``user``, ``callback``, or None when auth is off and nothing was presented)."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def process_resource(self, req: falcon.Request, resp: falcon.Response, resource: Any,
                         params: dict[str, Any]) -> None:
        req.context.role = None
        req.context.callback_token = None
        if resource is None:
            return  # no route: falcon answers 404
        action_id = params.get("action_execution_id")
        if getattr(resource, "callback", False) and action_id and req.method in CALLBACK_METHODS:
            token = presented_token(req)
            if token is not None:
                if getattr(resource, "verifies_callback_token", False):
                    # The resource hands the token to the engine, which checks it in the
                    # transaction that completes the action (one read fewer per callback).
                    req.context.callback_token = token
                else:
                    self.ctx.credentials.check_callback_token(action_id, token)
                req.context.role = "callback"
                return
        if not self.ctx.config.auth_enabled:
            return
        if (req.method, req.path or "/") in PUBLIC:
            return
        key = presented_key(req)
        if key is None:
            raise _unauthorized("An API key is required (header X-API-Key, X-Auth-Token or Authorization: Bearer).")
        role = self.role_of(key)
        if role is None:
            raise _unauthorized("The API key is not valid.")
        req.context.role = role
        if role != ADMIN and (req.method == "DELETE" or getattr(resource, "admin_only", False)):
            raise falcon.HTTPForbidden(title="Forbidden",
                                       description=f"A '{role}' API key may not {req.method} {req.path}: "
                                                   "an admin key is needed.")

    @property
    def enabled(self) -> bool:
        """Whether API keys are required (auth on)."""
        return self.ctx.config.auth_enabled

    def role_of(self, key: str) -> str | None:
        """The role of an API key, or None when it is not valid."""
        return self.ctx.credentials.role_of(key, admin_key=self.ctx.config.admin_key)
