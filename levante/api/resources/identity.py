"""``/identity/v3``: just enough of Keystone's token API for OpenStack clients to present an API key.

python-mistralclient's ``mistral`` command sends ``--os-auth-token`` (``OS_AUTH_TOKEN``) only
through keystoneauth: it first asks an identity service (``--os-auth-url``, by default
``http://localhost:35357/v3``) for a token, then sends that token as ``X-Auth-Token``. With
``OS_AUTH_URL=http://HOST:PORT/identity/v3`` the identity service is Levante itself: the token
it hands out is the API key it was given (method ``token``, or method ``password`` with the key as
the password and any user name), after checking it, so every later request carries the key as
``X-Auth-Token``, which :mod:`levante.api.auth` accepts. Nothing is stored, and there is no
catalog: the client must be given the API URL (``--os-mistral-url``).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import falcon

from levante.api.payloads import json_body
from levante.exceptions import InputError

#: Where the identity API is served.
PREFIX = "/identity/v3"
#: How long a client may reuse what it was given before asking again (the key itself never expires).
TOKEN_LIFETIME = timedelta(hours=12)


class KeyChecker(Protocol):
    """What tells the role of an API key (the API's :class:`~levante.api.auth.Guard`)."""

    def role_of(self, key: str) -> str | None:
        """The key's role, or None when it is not valid."""

    @property
    def enabled(self) -> bool:
        """Whether keys are required at all."""


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


class IdentityVersion:
    """``GET /identity/v3``: the version document keystoneauth discovers before asking for a token."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"version": {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{req.prefix}{PREFIX}/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
        }}


def _member(value: Any, key: str) -> dict[str, Any]:
    """``value[key]`` when both are JSON objects, else an empty one."""
    found = value.get(key) if isinstance(value, dict) else None
    return found if isinstance(found, dict) else {}


def presented(body: Any) -> tuple[str, str]:
    """``(method, key)`` of a Keystone v3 ``POST /auth/tokens`` body.

    Raises:
        InputError: the body holds neither a token nor a password.
    """
    identity = _member(_member(body, "auth"), "identity")
    methods = identity.get("methods")
    methods = methods if isinstance(methods, list) else []
    token = _member(identity, "token").get("id")
    if "token" in methods and isinstance(token, str):
        return "token", token.strip()
    password = _member(_member(identity, "password"), "user").get("password")
    if "password" in methods and isinstance(password, str):
        return "password", password.strip()
    raise InputError("Expected auth.identity with the method 'token' (token.id: an API key) or "
                     "'password' (password.user.password: an API key).")


class IdentityTokens:
    """``POST /identity/v3/auth/tokens``: the API key given, checked, handed back as the token."""

    def __init__(self, keys: KeyChecker, max_body: int) -> None:
        self.keys = keys
        self.max_body = max_body

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        method, key = presented(json_body(req, self.max_body))
        role = self.keys.role_of(key) if key else None
        if self.keys.enabled and role is None:
            raise falcon.HTTPUnauthorized(title="Unauthorized",
                                          description="The API key is not valid (given as the token or password).")
        role = role or "admin"  # auth off: everything is open anyway
        now = datetime.now(timezone.utc)
        resp.status = falcon.HTTP_201
        resp.set_header("X-Subject-Token", key)
        resp.media = {"token": {
            "methods": [method],
            "issued_at": _iso(now),
            "expires_at": _iso(now + TOKEN_LIFETIME),
            "user": {"id": f"levante-{role}", "name": role, "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": role, "name": role}],
            "catalog": [],
        }}
