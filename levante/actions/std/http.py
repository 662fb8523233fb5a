"""HTTP actions: ``std.http`` (synchronous) and ``std.mistral_http`` (asynchronous, with callback).

Both send one request with ``requests`` (on a session kept between calls, so that connections are
reused; see :mod:`levante.actions.std.http_sessions`) and describe the response as a JSON-ready dict::

    {"content": <parsed JSON, else text>, "status": 200, "headers": {...}, "url": "...",
     "history": [<url of each redirect>], "encoding": "utf-8", "reason": "OK",
     "cookies": {...}, "elapsed": 0.012}

A status outside 200..306 makes the action fail with that dict as the error (Mistral's range).
"""

from __future__ import annotations

import json as jsonlib
import logging
from typing import Any

import requests

from levante.actions.base import Action, ActionContext, Result
from levante.actions.std.http_sessions import SESSIONS
from levante.exceptions import ActionError

LOG = logging.getLogger(__name__)

#: Seconds to wait for the server when no ``timeout`` is given. Mistral has no default, so a
#: server that never answers blocks an executor thread forever.
DEFAULT_TIMEOUT = 60.0

#: Statuses that count as success (Mistral: ``range(200, 307)``).
OK_STATUSES = range(200, 307)


def _auth(auth: Any) -> Any:
    """``"user:password"`` -> ``("user", "password")``; a 2-item list -> tuple; None stays None."""
    if auth is None:
        return None
    if isinstance(auth, str):
        user, sep, password = auth.partition(":")
        if not sep:
            raise ActionError("auth must be a 'user:password' string")
        return (user, password)
    if isinstance(auth, (list, tuple)) and len(auth) == 2:
        return (str(auth[0]), str(auth[1]))
    raise ActionError(f"auth must be a 'user:password' string, not {type(auth).__name__}")


def _timeout(timeout: Any) -> Any:
    """None -> :data:`DEFAULT_TIMEOUT`; a ``[connect, read]`` list -> tuple; a number stays."""
    if timeout is None:
        return DEFAULT_TIMEOUT
    if isinstance(timeout, (list, tuple)):
        return tuple(timeout)
    return timeout


#: Bytes read from a response at a time.
_CHUNK = 64 * 1024


def read_body(resp: requests.Response, max_bytes: int | None) -> None:
    """Read a streamed response's body, stopping as soon as it passes ``max_bytes``.

    The size counted is the decoded body (after gzip), so a small compressed answer cannot expand
    past the limit. A ``Content-Length`` already over the limit is refused before reading.

    Raises:
        ActionError: The body is larger than ``max_bytes`` (the message names the setting).
    """
    if not max_bytes or max_bytes <= 0:
        resp.content  # noqa: B018 - reads the whole body
        return
    declared = resp.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes and not resp.headers.get("Content-Encoding"):
        resp.close()
        raise ActionError(_too_large(f"{int(declared):,} bytes", max_bytes))
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            resp.close()
            raise ActionError(_too_large(f"more than {max_bytes:,} bytes", max_bytes))
        chunks.append(chunk)
    resp._content = b"".join(chunks)  # what requests' own .content would have read
    resp._content_consumed = True


def _too_large(size: str, limit: int) -> str:
    return (f"HTTP response body of {size} exceeds the limit of {limit:,} bytes "
            "(raise it with LEVANTE_MAX_HTTP_RESPONSE_SIZE or --max-http-response-size)")


def describe_response(resp: requests.Response) -> dict[str, Any]:
    """The JSON-ready dict that is the result of the HTTP actions."""
    try:
        content: Any = resp.json()
    except ValueError:
        content = resp.text
    return {
        "content": content,
        "status": resp.status_code,
        "headers": dict(resp.headers),
        "url": resp.url,
        "history": [r.url for r in resp.history],
        "encoding": resp.encoding,
        "reason": resp.reason,
        "cookies": requests.utils.dict_from_cookiejar(resp.cookies),
        "elapsed": resp.elapsed.total_seconds(),
    }


class HTTPAction(Action):
    """Sends an HTTP request and returns the response (status, headers, content).

    Without ``timeout`` the request gives up after 60 seconds (Mistral waits forever, which would
    block an executor on a hung server).
    """

    def __init__(
        self,
        url: str,
        method: str = "GET",
        params: Any = None,
        body: Any = None,
        json: Any = None,
        headers: dict[str, Any] | None = None,
        cookies: dict[str, str] | None = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool | None = None,
        proxies: dict[str, str] | None = None,
        verify: bool | str | None = None,
    ) -> None:
        """Keep the request.

        Args:
            url: Where to send it.
            method: HTTP method (any case).
            params: Query parameters (a dict or a list of pairs).
            body: The body; anything but a string (a dict, a list, a number) is JSON-encoded
                and sent with ``Content-Type: application/json`` unless a header sets it.
            json: A value sent as JSON; exclusive with ``body``.
            headers: Request headers; values are turned into strings, None drops a header.
            cookies: Cookies to send.
            auth: ``"user:password"`` for HTTP basic authentication.
            timeout: Seconds (or ``[connect, read]``); 60 when not given.
            allow_redirects: Whether to follow redirects (``requests``' default when None).
            proxies: Map of scheme to proxy URL.
            verify: TLS verification (bool or CA bundle path); applied only to https URLs.

        Raises:
            ActionError: Both ``body`` and ``json`` are given, or ``auth`` cannot be read.
        """
        if body is not None and json is not None:
            raise ActionError("Only one of the parameters 'json' and 'body' can be given.")
        self.url = url
        self.method = str(method).upper()
        self.params = params
        self.json = json
        self.headers = {str(k): str(v) for k, v in (headers or {}).items() if v is not None}
        self.body = body
        if body is not None and not isinstance(body, (str, bytes)):
            self.body = jsonlib.dumps(body)
            if not any(k.lower() == "content-type" for k in self.headers):
                self.headers["Content-Type"] = "application/json"
        self.cookies = cookies
        self.auth = _auth(auth)
        self.timeout = _timeout(timeout)
        self.allow_redirects = allow_redirects
        self.proxies = proxies
        self.verify = verify

    def send(self, extra_headers: dict[str, str] | None = None, max_bytes: int | None = None) -> dict[str, Any]:
        """Send the request and describe the response.

        Args:
            extra_headers: Headers added over the configured ones.
            max_bytes: Largest body read (None: no limit); a larger one fails the action.

        Returns:
            The response as :func:`describe_response` gives it, whatever its status.

        Raises:
            ActionError: ``Failed to send HTTP request: <reason>`` when no response came, or the
                body is larger than ``max_bytes``.
        """
        kwargs: dict[str, Any] = {
            "stream": True,
            "params": self.params,
            "data": self.body,
            "json": self.json,
            "headers": {**self.headers, **(extra_headers or {})},
            "cookies": self.cookies,
            "auth": self.auth,
            "timeout": self.timeout,
            "proxies": self.proxies,
        }
        if self.allow_redirects is not None:
            kwargs["allow_redirects"] = bool(self.allow_redirects)
        if self.verify is not None and str(self.url).lower().startswith("https"):
            kwargs["verify"] = self.verify
        LOG.debug("HTTP action: %s %s", self.method, self.url)
        try:
            with SESSIONS.session() as session:
                resp = session.request(self.method, self.url, **kwargs)
                with resp:
                    read_body(resp, max_bytes)
        except (requests.RequestException, OSError) as exc:  # OSError: e.g. a missing CA bundle
            raise ActionError(f"Failed to send HTTP request: {exc}") from exc
        LOG.debug("HTTP action: %s %s -> %s", self.method, self.url, resp.status_code)
        return describe_response(resp)

    def run(self, context: ActionContext) -> Any:
        """Send the request.

        Returns:
            The response dict; ``Result(error=<response dict>)`` for a status outside 200..306.

        Raises:
            ActionError: The request could not be sent or no response came.
        """
        answer = self.send(max_bytes=context.max_response_size)
        if answer["status"] not in OK_STATUSES:
            return Result(error=answer)
        return answer


class MistralHTTPAction(HTTPAction):
    """Sends an HTTP request with callback headers; the result comes later through the API.

    Headers added (a header whose value is unknown is left out): ``Mistral-Workflow-Name``,
    ``Mistral-Workflow-Execution-Id``, ``Mistral-Task-Id``, ``Mistral-Action-Execution-Id``,
    ``Mistral-Callback-URL`` (the full URL to ``PUT`` the result to) and ``Levante-Callback-Token``
    (the secret that authorises that ``PUT``). They replace request headers of the same name.
    """

    def is_sync(self) -> bool:
        """Asynchronous: the called service completes the action through the API."""
        return False

    @staticmethod
    def callback_headers(context: ActionContext) -> dict[str, str]:
        """The headers that tell the called service how to report back."""
        values = {
            "Mistral-Workflow-Name": context.workflow_name,
            "Mistral-Workflow-Execution-Id": context.workflow_execution_id,
            "Mistral-Task-Id": context.task_execution_id,
            "Mistral-Action-Execution-Id": context.action_execution_id,
            "Mistral-Callback-URL": context.callback_url,
            "Levante-Callback-Token": context.callback_token,
        }
        return {k: str(v) for k, v in values.items() if v is not None}

    def run(self, context: ActionContext) -> Result | None:
        """Send the request with the callback headers.

        Returns:
            None when the service accepted the request (status 200..306); otherwise
            ``Result(error=<response dict>)``.

        Raises:
            ActionError: The request could not be sent or no response came.
        """
        answer = self.send(self.callback_headers(context), context.max_response_size)
        if answer["status"] not in OK_STATUSES:
            return Result(error=answer)
        return None
