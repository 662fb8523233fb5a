"""Secrets the API accepts: callback tokens of asynchronous actions and API keys, made, hashed,
stored and checked here alone (DESIGN.md: "one concern, one place").

Both are 256 random bits, so a fast hash (SHA-256, hex) is what is stored: there is nothing to
brute-force. :class:`Credentials` is the service the API's guard and the API-key resource call.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace
from typing import Any

from levante.db import repository as repo
from levante.db.session import SessionFactory, transaction
from levante.engine.commands import RunAction
from levante.engine.records import ActionExecution
from levante.engine.service.stored import ApiKeyRecord
from levante.exceptions import CallbackTokenError, InputError

ADMIN = "admin"
USER = "user"
#: The roles an API key may have.
ROLES = (ADMIN, USER)


def secret_hash(secret: str) -> str:
    """What is stored of a callback token or an API key: its SHA-256 (hex)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


#: The stored form of a callback token.
callback_token_hash = secret_hash
#: The stored form of an API key.
key_hash = secret_hash


def token_matches(token: str, stored_hash: str | None) -> bool:
    """Whether ``token`` is the callback token whose hash is stored (never for a sync action)."""
    return stored_hash is not None and hmac.compare_digest(stored_hash, secret_hash(token))


def new_key() -> str:
    """A new API key (shown once to whoever creates it)."""
    return "lvk_" + secrets.token_urlsafe(32)


def create_api_key(session: Any, name: str, role: str = USER) -> tuple[ApiKeyRecord, str]:
    """Store a new API key; returns its record and the key (which is not stored)."""
    if not name:
        raise InputError("An API key needs a 'name'.")
    if role not in ROLES:
        raise InputError(f"API key role must be one of {', '.join(ROLES)}, not {role!r}.")
    key = new_key()
    return ApiKeyRecord.of(repo.create_api_key(session, name, key_hash(key), role)), key


class Credentials:
    """Checks of API keys and callback tokens, and the stored API keys."""

    def __init__(self, writes: SessionFactory, reads: SessionFactory) -> None:
        self._writes = writes
        self._reads = reads

    def role_of(self, key: str, admin_key: str | None = None) -> str | None:
        """The role of an API key (``admin_key``, the configured ``LEVANTE_ADMIN_KEY``, or a stored
        one), or None when it is not valid."""
        if admin_key and hmac.compare_digest(key.encode("utf-8"), admin_key.encode("utf-8")):
            return ADMIN
        with transaction(self._reads) as session:
            row = repo.find_api_key(session, key_hash(key))
            return row.role if row is not None else None

    def check_callback_token(self, action_execution_id: str, token: str) -> None:
        """Raises CallbackTokenError (403) unless ``token`` is the action's callback token."""
        with transaction(self._reads) as session:
            stored = repo.callback_token_hash_of(session, action_execution_id)
        if not token_matches(token, stored):
            raise CallbackTokenError(action_execution_id)

    def list_api_keys(self) -> list[ApiKeyRecord]:
        with transaction(self._reads) as session:
            return [ApiKeyRecord.of(r) for r in repo.list_api_keys(session)]

    def create_api_key(self, name: str, role: str = USER) -> tuple[ApiKeyRecord, str]:
        """A new key named ``name`` with ``role``: its record and the key, shown once."""
        with transaction(self._writes) as session:
            return create_api_key(session, name, role)

    def delete_api_key(self, identifier: str) -> None:
        with transaction(self._writes) as session:
            repo.delete_api_key(session, identifier)


def _with_callback_tokens(runs: list[RunAction], new_actions: list[ActionExecution]
                          ) -> tuple[list[RunAction], dict[str, str | None]]:
    """Give every new asynchronous action execution its own callback token.

    The token (``secrets.token_urlsafe(32)``) goes to the executor in ``RunAction.info
    ["callback_token"]`` (``std.mistral_http`` sends it to the third party); only its hash is stored
    on the action execution. The outbox row, and then the broker message, hold the plain token
    until it is delivered, and the row keeps it afterwards. That is acceptable: the outbox lives in
    the same database as the action executions, so whoever can read it can already change any
    action directly, and the broker is infrastructure as trusted as the database. It is also what
    makes re-delivery work: a row the sweeper re-sends carries the same token. (A token derived as
    an HMAC of the action id would need a server secret shared by every API and engine process;
    a random token needs nothing.)

    Returns the commands to send (with their tokens) and ``{action id: token hash}`` for every new
    action execution (None for synchronous ones).
    """
    async_ids = {a.id for a in new_actions if not a.is_sync}
    hashes: dict[str, str | None] = {a.id: None for a in new_actions}
    if not async_ids:
        return runs, hashes
    out = []
    for run in runs:
        if run.action_execution_id in async_ids:
            token = secrets.token_urlsafe(32)
            hashes[run.action_execution_id] = callback_token_hash(token)
            run = replace(run, info={**run.info, "callback_token": token})
        out.append(run)
    return out, hashes
