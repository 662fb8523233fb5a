"""Errors of the client: the API's answers mapped onto :mod:`levante.exceptions`.

Every error the client raises is a :class:`~levante.exceptions.LevanteError`: 404 gives
:class:`~levante.exceptions.NotFoundError`, 409 :class:`~levante.exceptions.ConflictError`, 400
:class:`~levante.exceptions.InputError` (or :class:`~levante.exceptions.DSLError` when the answer
lists the definition's errors), a server that cannot be reached
:class:`~levante.exceptions.TransportError`; any other status a plain ``LevanteError``. The message is
the server's ``faultstring``; ``status`` holds the HTTP status (0 when nothing answered).
"""

from __future__ import annotations

import json
from typing import Any

from levante.exceptions import (
    ConflictError,
    DSLError,
    InputError,
    LevanteError,
    NotFoundError,
    TransportError,
)

__all__ = ["ExecutionFailed", "error_for", "unreachable"]


class ExecutionFailed(LevanteError):
    """An execution the caller waited for ended ERROR or CANCELLED."""

    def __init__(self, execution_id: str, state: str, state_info: str | None,
                 output: Any = None) -> None:
        self.execution_id = execution_id
        self.state = state
        self.state_info = state_info
        self.output = output
        super().__init__(f"Execution {execution_id} ended {state}: {state_info or 'no details'}")


def _build(cls: type[LevanteError], message: str, status: int, body: Any) -> LevanteError:
    """An instance of ``cls`` holding the server's message (the classes' own ``__init__`` build
    messages from parts the client does not have)."""
    exc = cls.__new__(cls)
    LevanteError.__init__(exc, message)
    exc.status = status  # type: ignore[attr-defined]
    exc.body = body  # type: ignore[attr-defined]
    if isinstance(exc, NotFoundError):
        exc.kind, exc.key = "", ""
    if isinstance(exc, TransportError):
        exc.recoverable = status in (0, 502, 503, 504)
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        exc.errors = body["errors"]  # type: ignore[attr-defined]
    return exc


def error_for(status: int, text: str) -> LevanteError:
    """The exception for an HTTP error answer (``text``: its body)."""
    try:
        body: Any = json.loads(text) if text else None
    except ValueError:
        body = None
    message = body.get("faultstring") if isinstance(body, dict) else None
    message = str(message or text.strip() or f"HTTP {status}")
    cls: type[LevanteError] = LevanteError
    if status == 404:
        cls = NotFoundError
    elif status == 409:
        cls = ConflictError
    elif status == 400:
        cls = DSLError if isinstance(body, dict) and body.get("errors") else InputError
    elif status in (502, 503, 504):
        cls = TransportError
    return _build(cls, message, status, body)


def unreachable(url: str, reason: Exception) -> TransportError:
    """The error for a server that did not answer."""
    exc = _build(TransportError, f"Cannot reach the Levante API at {url}: {reason}", 0, None)
    assert isinstance(exc, TransportError)
    return exc
