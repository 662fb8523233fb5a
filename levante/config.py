"""Configuration: one frozen dataclass, built once per process from defaults, ``LEVANTE_*``
environment variables and command-line flags (in that order), then passed to constructors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

DEFAULT_DB_URL = "sqlite:///levante.db"
DEFAULT_TRANSPORT_URL = "memory://"


@dataclass(frozen=True)
class Config:
    """Settings of a Levante process."""

    #: SQLAlchemy URL of the database (``sqlite:///levante.db`` or ``postgresql+psycopg://...``).
    db_url: str = DEFAULT_DB_URL
    #: kombu URL of the message queue (``memory://`` in one process, ``amqp://...`` for RabbitMQ).
    transport_url: str = DEFAULT_TRANSPORT_URL
    #: Address and port the API binds.
    host: str = "127.0.0.1"
    port: int = 8989
    #: Base URL third parties use to reach the API (callback URLs); None: derived from host/port.
    public_url: str | None = None
    #: ``all``, ``api``, ``engine`` or ``executor``.
    role: str = "all"
    #: Actions an executor runs at once.
    executor_threads: int = 16
    #: Executor group this executor serves (tasks route to it with ``target``); None: the default group.
    executor_target: str | None = None
    #: Engine worker threads applying events.
    engine_threads: int = 2
    #: Largest request body the API accepts, in bytes.
    max_body_bytes: int = 4 * 1024 * 1024
    #: Require an API key or callback token (default: on unless the API binds only to loopback).
    auth: bool | None = None
    #: A key accepted as an ``admin`` API key besides the stored ones (``LEVANTE_ADMIN_KEY``).
    admin_key: str | None = field(default=None, repr=False)
    #: Prefix of the broker's exchange and queue names (lets several deployments share a broker).
    namespace: str = "levante"
    #: How often the scheduler looks for due delayed calls when nothing wakes it, in seconds.
    scheduler_interval: float = 0.5
    # --- limits (README "Limits"); 0 turns one off -------------------------------------------
    #: Seconds one expression evaluation may run.
    expression_timeout: float = 3.0
    #: Largest value, in bytes, one expression operation may build (YAQL's memory quota too).
    expression_memory: int = 64 * 1024 * 1024
    #: How deep sub-workflows may nest.
    max_subworkflow_depth: int = 100
    #: Most items of one with-items task.
    max_with_items: int = 20_000
    #: Largest action result, published value or workflow output stored, in bytes of JSON
    #: (Mistral's ``execution_field_size_limit_kb`` = 1024).
    max_result_size: int = 1024 * 1024
    #: Largest response body ``std.http`` and ``std.mistral_http`` read, in bytes.
    max_http_response_size: int = 10 * 1024 * 1024
    #: How long ``levante server`` waits on a silent client (sending its request or reading the
    #: answer) before it closes the connection, in seconds (``LEVANTE_READ_TIMEOUT``).
    read_timeout: float = 30.0

    @property
    def api_base_url(self) -> str:
        """The public base URL of the API, without ``/v2``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def expression_limits(self) -> Any:
        """The :class:`~levante.workflows.expressions.ExpressionLimits` of these settings."""
        from levante.workflows.expressions.limits import ExpressionLimits

        return ExpressionLimits(timeout=self.expression_timeout, memory=self.expression_memory)

    def engine_limits(self) -> Any:
        """The :class:`~levante.engine.limits.EngineLimits` of these settings."""
        from levante.engine.limits import EngineLimits

        return EngineLimits(subworkflow_depth=self.max_subworkflow_depth, with_items=self.max_with_items,
                            result_size=self.max_result_size)

    @property
    def auth_enabled(self) -> bool:
        """Auth is on when asked for, or by default when binding beyond loopback."""
        if self.auth is not None:
            return self.auth
        return self.host not in ("127.0.0.1", "localhost", "::1")


_ENV = {
    "LEVANTE_DB_URL": "db_url",
    "LEVANTE_TRANSPORT_URL": "transport_url",
    "LEVANTE_HOST": "host",
    "LEVANTE_PORT": "port",
    "LEVANTE_PUBLIC_URL": "public_url",
    "LEVANTE_ROLE": "role",
    "LEVANTE_EXECUTOR_THREADS": "executor_threads",
    "LEVANTE_EXECUTOR_TARGET": "executor_target",
    "LEVANTE_ENGINE_THREADS": "engine_threads",
    "LEVANTE_AUTH": "auth",
    "LEVANTE_ADMIN_KEY": "admin_key",
    "LEVANTE_NAMESPACE": "namespace",
    "LEVANTE_EXPRESSION_TIMEOUT": "expression_timeout",
    "LEVANTE_EXPRESSION_MEMORY": "expression_memory",
    "LEVANTE_MAX_SUBWORKFLOW_DEPTH": "max_subworkflow_depth",
    "LEVANTE_MAX_WITH_ITEMS": "max_with_items",
    "LEVANTE_MAX_RESULT_SIZE": "max_result_size",
    "LEVANTE_MAX_HTTP_RESPONSE_SIZE": "max_http_response_size",
    "LEVANTE_READ_TIMEOUT": "read_timeout",
}


def _convert(name: str, raw: Any) -> Any:
    kind = {f.name: f.type for f in fields(Config)}[name]
    if raw is None:
        return None
    if "bool" in str(kind):
        return str(raw).lower() in ("1", "true", "yes", "on")
    if "int" in str(kind) and not isinstance(raw, int):
        return int(raw)
    if "float" in str(kind) and not isinstance(raw, float):
        return float(raw)
    return raw


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Defaults, then ``LEVANTE_*`` variables from ``env`` (os.environ by default), then the
    non-None ``overrides`` (command-line flags).

    Raises:
        ValueError: a variable or flag has a value of the wrong type.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for var, name in _ENV.items():
        if var in env and env[var] != "":
            try:
                values[name] = _convert(name, env[var])
            except ValueError:
                raise ValueError(f"{var}={env[var]!r} is not a valid value for {name}") from None
    values.update({k: _convert(k, v) for k, v in overrides.items() if v is not None})
    config = replace(Config(), **values)
    if config.max_subworkflow_depth < 1:
        # Off, a workflow that starts itself as its first task would start children for ever
        # inside one transaction: the request that starts it would never return.
        raise ValueError(f"max_subworkflow_depth must be at least 1, not {config.max_subworkflow_depth} "
                         "(LEVANTE_MAX_SUBWORKFLOW_DEPTH, --max-subworkflow-depth): it cannot be turned off")
    return config
