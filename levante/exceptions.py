"""The one exception tree of Levante.

Every error raised across a package boundary is a :class:`LevanteError`. Each class carries the
HTTP status the API answers with (the mapping lives here so that ``api/errors.py`` needs a single
handler) and builds a message that names the offending thing.

This module is a flat catalogue: it may grow past the usual module size budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class LevanteError(Exception):
    """Root of every error Levante raises on purpose."""

    #: HTTP status the REST API answers with for this error.
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- the language ---------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class SpecError:
    """One problem found in a definition.

    Instances sort by position, then path, so reports are deterministic.
    """

    #: 1-based line of the offending node (0 when unknown).
    line: int
    #: 1-based column of the offending node (0 when unknown).
    column: int
    #: Where in the document, e.g. ``wf.tasks.task1.on-success[0]`` ('' for the whole document).
    path: str
    #: What is wrong, naming the offending value.
    message: str
    #: ``syntax`` (YAML or JSON Schema), ``semantics`` or ``expression``.
    kind: str = "syntax"

    def format(self, filename: str = "<string>") -> str:
        """Render as ``FILE:LINE:COL: PATH: MESSAGE`` (the ``levante validate`` contract)."""
        path = self.path or "<document>"
        return f"{filename}:{self.line}:{self.column}: {path}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (used by the API and ``--json`` outputs)."""
        return {
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "kind": self.kind,
        }


class DSLError(LevanteError):
    """A definition cannot be accepted."""

    http_status = 400


class ParseError(DSLError):
    """The text is not a YAML document of the expected shape."""

    def __init__(self, message: str, line: int = 0, column: int = 0) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.errors = [SpecError(line, column, "", message)]


class ValidationError(DSLError):
    """A definition broke the language's rules; ``errors`` lists every problem found."""

    def __init__(self, errors: list[SpecError], filename: str = "<string>") -> None:
        self.errors = sorted(errors)
        self.filename = filename
        lines = [e.format(filename) for e in self.errors]
        count = len(self.errors)
        head = f"Invalid definition ({count} error{'s' if count != 1 else ''}):"
        super().__init__("\n".join([head, *lines]))


class ExpressionError(LevanteError):
    """An expression failed to compile or to evaluate.

    The message is Mistral's, which users and tools match on: ``Can not evaluate YAQL expression
    [expression=task().result / $.n, error=..., data=...]``. A YAQL expression is named as written
    between its delimiters (Mistral evaluates each ``<% %>`` alone); a Jinja one by the whole string
    (Mistral renders it whole). ``data`` is the evaluation's data context, shown cut to
    :attr:`DATA_SHOWN` characters (absent when the error arose outside an evaluation).
    """

    http_status = 400
    #: How many characters of the data context the message shows at most.
    DATA_SHOWN = 2000

    def __init__(self, expression: str, reason: str, language: str | None = None, data: Any = None) -> None:
        self.expression = expression
        self.reason = reason
        self.language = language
        self.data = data
        what = f"{language} expression" if language else "expression"
        shown = "" if data is None else f", data={_shown(data, self.DATA_SHOWN)}"
        super().__init__(f"Can not evaluate {what} [expression={expression}, error={reason}{shown}]")


def _shown(data: Any, limit: int) -> str:
    """``data`` as Python prints a dict (Mistral's ``%s``), cut to ``limit`` characters."""
    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    try:
        text = str(plain(data))
    except (RecursionError, ValueError):
        text = "<not printable>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


class InputError(LevanteError):
    """Input given to a workflow or an action does not match its declared parameters."""

    http_status = 400


# --- lookups and state ----------------------------------------------------------------------


class NotFoundError(LevanteError):
    """Something named by id or name does not exist."""

    http_status = 404

    def __init__(self, kind: str, key: str) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f'{kind} "{key}" does not exist.')


class CallbackTokenError(LevanteError):
    """A callback presented a token that is not the one of its action execution."""

    http_status = 403

    def __init__(self, action_execution_id: str) -> None:
        super().__init__(f"The callback token is not the one of action execution {action_execution_id}.")


class ForbiddenError(LevanteError):
    """The request is understood but not allowed in the current state (deleting a running execution)."""

    http_status = 403


class ConflictError(LevanteError):
    """The request conflicts with what is stored (a duplicate name, a finished action)."""

    http_status = 409


class InvalidTransition(ConflictError):
    """A state change that the state machine does not allow."""

    def __init__(self, what: str, current: str, requested: str) -> None:
        self.current = current
        self.requested = requested
        super().__init__(f"Can't change {what} state from {current} to {requested}.")


# --- actions and transport ------------------------------------------------------------------


class ActionError(LevanteError):
    """An action could not be found, built or run."""

    http_status = 400

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ActionNotFoundError(ActionError):
    """No action is registered under the name."""

    def __init__(self, name: str) -> None:
        super().__init__(f'Action "{name}" is not registered (group levante.actions).')
        self.name = name


class EngineBusy(LevanteError):
    """Events could not be applied now because the database was busy or unreachable; nothing of them
    was written, and they are to be applied again later (``events``)."""

    http_status = 503

    def __init__(self, events: list[Any], cause: BaseException) -> None:
        super().__init__(f"The database could not apply {len(events)} event(s) now "
                         f"({type(cause).__name__}: {cause}); they will be applied again.")
        self.events = events
        self.cause = cause


class EngineFailure(LevanteError):
    """The engine could not apply a request, and never will: what it concerned was failed instead."""

    http_status = 500


class TransportError(LevanteError):
    """The message broker or the database could not be reached."""

    http_status = 503

    def __init__(self, message: str, recoverable: bool = True, unsent: bool = False) -> None:
        super().__init__(message)
        self.recoverable = recoverable
        #: What was being sent certainly did not reach the broker (no connection could be opened):
        #: sending it again is its first delivery, not a repeat.
        self.unsent = unsent
