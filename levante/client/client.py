"""``Client`` (blocking) and ``AsyncClient`` (asyncio) of Levante's REST API.

Both are built on httpx, which offers a blocking and an asyncio client with one API: the operations
are described once (:mod:`levante.client.calls`) and each client only runs them. (requests has no
asyncio side; aiohttp has no blocking one.)

    client = Client("http://127.0.0.1:8989/v2", api_key="...")
    handle = client.start("my_workflow", {"x": 1})
    print(handle.result(timeout=60))

    async with AsyncClient(url) as client:
        handle = await client.start("my_workflow", {"x": 1})
        print(await handle.result(timeout=60))

Every method of :class:`~levante.client.calls.Calls` is a method of both clients (a coroutine on
``AsyncClient``), attached below; :mod:`levante.client.operations` declares them for type checkers
and IDEs. Errors are :class:`~levante.exceptions.LevanteError` subclasses
(:mod:`levante.client.errors`).
"""

from __future__ import annotations

import functools
import os
from typing import Any, TypeVar

import httpx

from levante.client import calls as calls_mod
from levante.client.call import Call
from levante.client.calls import Calls
from levante.client.errors import error_for, unreachable
from levante.client.handles import AsyncExecutionHandle, ExecutionHandle
from levante.client.operations import AsyncOperations, SyncOperations

T = TypeVar("T")

#: The API's address when neither the argument nor ``LEVANTE_URL`` gives one.
DEFAULT_URL = "http://127.0.0.1:8989/v2"
#: Seconds a request may take.
DEFAULT_TIMEOUT = 30.0


def _base(url: str | None) -> str:
    url = (url or os.environ.get("LEVANTE_URL") or DEFAULT_URL).rstrip("/")
    return url if url.endswith("/v2") else url + "/v2"


class _Common:
    """What both clients share: the address, headers and request building."""

    def __init__(self, url: str | None = None, api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.url = _base(url)
        self.api_key = api_key if api_key is not None else os.environ.get("LEVANTE_API_KEY")
        self.timeout = timeout
        self.calls = Calls()

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": "levante-client"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        return headers

    def _request_args(self, call: Call[Any]) -> dict[str, Any]:
        path = call.path
        url = self.url[: -len("/v2")] + path[3:] if path.startswith("/../") else self.url + path
        headers = dict(call.headers)
        args: dict[str, Any] = {"method": call.method, "url": url, "params": call.params or None,
                                "headers": headers}
        if call.text is not None:
            headers["Content-Type"] = "text/plain"
            headers["Accept"] = "*/*"
            args["content"] = call.text.encode()
        elif call.json is not None:
            args["json"] = call.json
        return args

    def _answer(self, call: Call[T], response: httpx.Response) -> T:
        if response.status_code >= 400:
            raise error_for(response.status_code, response.text)
        if response.status_code == 204 or not response.content:
            return call.read(None)
        try:
            body = response.json()
        except ValueError:
            body = response.text
        return call.read(body)


def _sync_method(name: str) -> Any:
    op = getattr(Calls, name)

    @functools.wraps(op)
    def method(self: Client, *args: Any, **kwargs: Any) -> Any:
        return self.run(op(self.calls, *args, **kwargs))

    return method


def _async_method(name: str) -> Any:
    op = getattr(Calls, name)

    @functools.wraps(op)
    async def method(self: AsyncClient, *args: Any, **kwargs: Any) -> Any:
        return await self.run(op(self.calls, *args, **kwargs))

    return method


class Client(SyncOperations, _Common):
    """Blocking client. ``url`` defaults to ``LEVANTE_URL`` then ``http://127.0.0.1:8989/v2``;
    ``api_key`` to ``LEVANTE_API_KEY`` (sent as ``X-API-Key``). Usable as a context manager."""

    def __init__(self, url: str | None = None, api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(url, api_key, timeout)
        self._http = httpx.Client(headers=self._headers(), timeout=timeout)

    def run(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer."""
        try:
            response = self._http.request(**self._request_args(call))
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from None
        return self._answer(call, response)

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self, workflow: str, input: dict[str, Any] | None = None,  # noqa: A002
              id: str | None = None, **options: Any) -> ExecutionHandle:  # noqa: A002
        """Start ``workflow`` with ``input`` and return its handle. With an ``id`` that exists
        already, the handle is of that execution (nothing new starts). ``options``: ``params``,
        ``description``, ``namespace``, ``env`` as :meth:`create_execution` takes them."""
        ex = self.create_execution(workflow, input or {}, id=id, **options)
        return ExecutionHandle(self, ex["id"])

    def handle(self, execution_id: str) -> ExecutionHandle:
        """A handle on an existing execution."""
        return ExecutionHandle(self, execution_id)


class AsyncClient(AsyncOperations, _Common):
    """asyncio client: the same methods as :class:`Client`, as coroutines. Its handles'
    methods are coroutines too (``await handle.result()``)."""

    def __init__(self, url: str | None = None, api_key: str | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        super().__init__(url, api_key, timeout)
        self._http = httpx.AsyncClient(headers=self._headers(), timeout=timeout)

    async def run(self, call: Call[T]) -> T:
        """Send ``call`` and read its answer."""
        try:
            response = await self._http.request(**self._request_args(call))
        except httpx.TransportError as exc:
            raise unreachable(self.url, exc) from None
        return self._answer(call, response)

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, workflow: str, input: dict[str, Any] | None = None,  # noqa: A002
                    id: str | None = None, **options: Any) -> AsyncExecutionHandle:  # noqa: A002
        """Start ``workflow`` and return its handle (see :meth:`Client.start`)."""
        ex = await self.create_execution(workflow, input or {}, id=id, **options)
        return AsyncExecutionHandle(self, ex["id"])

    def handle(self, execution_id: str) -> AsyncExecutionHandle:
        """A handle on an existing execution."""
        return AsyncExecutionHandle(self, execution_id)


for _name in calls_mod.OPERATIONS:
    setattr(Client, _name, _sync_method(_name))
    setattr(AsyncClient, _name, _async_method(_name))
del _name
