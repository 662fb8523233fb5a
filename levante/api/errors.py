"""Errors as Mistral's API answers them: ``{"faultcode", "faultstring", "debuginfo"}``.

One handler maps every :class:`~levante.exceptions.LevanteError` to its ``http_status`` (400 invalid
input or definition, 404 unknown id, 409 conflict...); a validation error also lists each problem
with its line, column and path under ``errors``. falcon's own errors (unknown route, 405, 413) get
the same body. Anything else is a bug: it is logged with its traceback and answered with a bare 500.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import falcon

from levante.engine.service.parts import DatabaseUnavailable
from levante.exceptions import LevanteError

LOG = logging.getLogger(__name__)


def fault(status: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Mistral's error body (``errors`` added for definitions that fail validation)."""
    body: dict[str, Any] = {
        "faultcode": "Client" if status < 500 else "Server",
        "faultstring": message,
        "debuginfo": None,
    }
    if errors is not None:
        body["errors"] = errors
    return body


def handle_levante_error(req: falcon.Request, resp: falcon.Response, exc: LevanteError,
                         params: dict[str, Any]) -> None:
    """LevanteError -> its status and message."""
    status = int(getattr(exc, "http_status", 500))
    if status >= 500:
        LOG.error("%s %s failed: %s", req.method, req.path, exc, exc_info=exc)
    errors = getattr(exc, "errors", None)
    resp.status = falcon.code_to_http_status(status)
    resp.media = fault(status, exc.message,
                       [e.to_dict() for e in errors] if errors is not None else None)


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception,
                      params: dict[str, Any]) -> None:
    """A bug: log it, answer 500 without the traceback."""
    LOG.exception("%s %s: unexpected error", req.method, req.path, exc_info=exc)
    resp.status = falcon.HTTP_500
    resp.media = fault(500, "Internal server error (see the server log).")


def handle_database_unavailable(req: falcon.Request, resp: falcon.Response, exc: Exception,
                                params: dict[str, Any]) -> None:
    """The database cannot be reached (restart, failover): 503 with Retry-After, not a bare 500."""
    LOG.warning("%s %s: database unavailable: %s", req.method, req.path, str(exc).splitlines()[0])
    resp.status = falcon.HTTP_503
    resp.set_header("Retry-After", "1")
    resp.media = fault(503, "The database is unavailable; retry shortly.")


def serialize_http_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """falcon's own errors (404 route, 405, 413, malformed media) in Mistral's shape."""
    message = exc.description or exc.title or str(exc.status)
    resp.content_type = falcon.MEDIA_JSON
    resp.media = fault(exc.status_code, message)


#: Built once: ``json.dumps`` with an argument builds an encoder per call.
_UTF8 = json.JSONEncoder(ensure_ascii=False)
_ASCII = json.JSONEncoder(ensure_ascii=True)


def dumps(value: Any) -> bytes:
    """The JSON body of an answer, for falcon's JSON handler: UTF-8 as it is, unless the value holds
    lone surrogates (YAML's ``"\\ud800"`` escapes let them into names and messages), which UTF-8
    cannot encode: then ASCII with ``\\u`` escapes, so that such an answer is still JSON and not a
    500. Bytes, which falcon sends as they are (from text it would encode them once more)."""
    try:
        return _UTF8.encode(value).encode("utf-8")
    except UnicodeEncodeError:
        return _ASCII.encode(value).encode("ascii")


def install(app: falcon.App) -> None:
    """Register the handlers on ``app`` (and the JSON handler of :func:`dumps`)."""
    handler = falcon.media.JSONHandler(dumps=dumps)
    app.req_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.resp_options.media_handlers[falcon.MEDIA_JSON] = handler
    app.add_error_handler(Exception, handle_unexpected)
    app.add_error_handler(LevanteError, handle_levante_error)
    app.add_error_handler(DatabaseUnavailable, handle_database_unavailable)
    app.set_error_serializer(serialize_http_error)
