"""Python client of Levante's REST API: :class:`Client` (blocking) and :class:`AsyncClient`
(asyncio), with execution handles (``client.start(...)`` -> :class:`ExecutionHandle`)."""

from levante.client.client import DEFAULT_URL, AsyncClient, Client
from levante.client.errors import ExecutionFailed
from levante.client.handles import AsyncExecutionHandle, ExecutionHandle

__all__ = ["DEFAULT_URL", "AsyncClient", "AsyncExecutionHandle", "Client", "ExecutionFailed",
           "ExecutionHandle"]
