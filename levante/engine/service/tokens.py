"""Callback tokens of asynchronous actions: made, hashed and compared here alone (DESIGN.md:
"one concern, one place")."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import replace

from levante.engine.commands import RunAction
from levante.engine.model import ActionExecution


def callback_token_hash(token: str) -> str:
    """What is stored of a callback token: its SHA-256 (hex). The token is 256 random bits, so a
    fast hash is enough: there is nothing to brute-force."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str | None) -> bool:
    """Whether ``token`` is the callback token whose hash is stored (never for a sync action)."""
    return stored_hash is not None and hmac.compare_digest(stored_hash, callback_token_hash(token))


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
