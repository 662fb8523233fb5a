"""Configuration: one frozen dataclass, built once per process from defaults, ``LEVANTE_*``
environment variables and command-line flags (in that order), then passed to constructors.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

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
    #: Level of the log records written to stderr: DEBUG, INFO, WARNING or ERROR.
    log_level: str = "WARNING"
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
    max_with_items: int = 1_000_000
    #: Most items of one with-items task running at once when its concurrency is not lower (the
    #: others start as those end).
    with_items_window: int = 10_000
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
                            with_items_window=self.with_items_window, result_size=self.max_result_size)

    @property
    def auth_enabled(self) -> bool:
        """Auth is on when asked for, or by default when binding beyond loopback."""
        if self.auth is not None:
            return self.auth
        return self.host not in ("127.0.0.1", "localhost", "::1")


#: The roles of a process (``--role``, ``LEVANTE_ROLE``).
ROLES = ("all", "api", "engine", "executor")
#: The logging levels ``LEVANTE_LOG_LEVEL`` and ``--log-level`` accept (any case).
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")

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
    "LEVANTE_LOG_LEVEL": "log_level",
    "LEVANTE_EXPRESSION_TIMEOUT": "expression_timeout",
    "LEVANTE_EXPRESSION_MEMORY": "expression_memory",
    "LEVANTE_MAX_SUBWORKFLOW_DEPTH": "max_subworkflow_depth",
    "LEVANTE_MAX_WITH_ITEMS": "max_with_items",
    "LEVANTE_WITH_ITEMS_WINDOW": "with_items_window",
    "LEVANTE_MAX_RESULT_SIZE": "max_result_size",
    "LEVANTE_MAX_HTTP_RESPONSE_SIZE": "max_http_response_size",
    "LEVANTE_READ_TIMEOUT": "read_timeout",
}
#: Variables the ``levante`` client commands read (not settings of a server process).
CLIENT_VARIABLES = ("LEVANTE_URL", "LEVANTE_API_KEY")
#: ``levante server`` flags whose names differ from the field's.
_FLAGS = {"db_url": "--db", "transport_url": "--transport", "executor_target": "--target"}


# --- parsing: each parser takes the raw text (or a value given in code) and raises ValueError
# --- with what it accepts; load() puts the variable's or flag's name in front.


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("give true or false (also 1 or 0, yes or no, on or off)")


def _integer(minimum: int, maximum: int | None = None) -> Callable[[Any], int]:
    bounds = f"from {minimum} to {maximum}" if maximum is not None else f"{minimum} or more"

    def parse(raw: Any) -> int:
        try:
            if isinstance(raw, bool) or isinstance(raw, float):
                raise ValueError
            value = raw if isinstance(raw, int) else int(str(raw).strip())
        except ValueError:
            raise ValueError(f"give a whole number, {bounds}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise ValueError(f"give a whole number, {bounds}")
        return value

    return parse


def _seconds(minimum: float = 0.0, off: bool = True) -> Callable[[Any], float]:
    what = f"a number of seconds, {minimum:g} or more" + (" (0 turns it off)" if off else "")

    def parse(raw: Any) -> float:
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = float(raw) if isinstance(raw, (int, float)) else float(str(raw).strip())
        except ValueError:
            raise ValueError(f"give {what}") from None
        if not math.isfinite(value) or value < minimum:
            raise ValueError(f"give {what}")
        return value

    return parse


def _choice(choices: tuple[str, ...], upper: bool = False) -> Callable[[Any], str]:
    def parse(raw: Any) -> str:
        text = str(raw).strip()
        text = text.upper() if upper else text
        if text not in choices:
            raise ValueError(f"give one of {', '.join(choices)}")
        return text

    return parse


def _http_url(raw: Any) -> str:
    text = str(raw).strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("give an http:// or https:// URL with a host, such as https://levante.example.com")
    return text


def _text(raw: Any) -> str:
    text = str(raw)
    if not text.strip():
        raise ValueError("give a non-empty value")
    return text


_PARSERS: dict[str, Callable[[Any], Any]] = {
    "db_url": _text,
    "transport_url": _text,
    "host": _text,
    "port": _integer(0, 65535),
    "public_url": _http_url,
    "role": _choice(ROLES),
    "executor_threads": _integer(1),
    "executor_target": _text,
    "engine_threads": _integer(1),
    "max_body_bytes": _integer(1),
    "auth": _boolean,
    "admin_key": _text,
    "namespace": _text,
    "log_level": _choice(LOG_LEVELS, upper=True),
    "scheduler_interval": _seconds(0.001, off=False),
    "expression_timeout": _seconds(),
    "expression_memory": _integer(0),
    "max_subworkflow_depth": _integer(-(2**63)),  # its own message below: it cannot be turned off
    "max_with_items": _integer(0),
    "with_items_window": _integer(0),
    "max_result_size": _integer(0),
    "max_http_response_size": _integer(0),
    "read_timeout": _seconds(),
}


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def _parse(name: str, raw: Any, source: str) -> Any:
    if name not in _PARSERS:
        raise ValueError(f"{source}: unknown setting {name!r}")
    try:
        return _PARSERS[name](raw)
    except ValueError as exc:
        raise ValueError(f"{source}={raw!r} is not valid: {exc}") from None


def load(env: Mapping[str, str] | None = None, **overrides: Any) -> Config:
    """Defaults, then ``LEVANTE_*`` variables from ``env`` (os.environ by default), then the
    non-None ``overrides`` (command-line flags).

    Every value is checked: a boolean must say on or off (``LEVANTE_AUTH=ture`` is an error, not
    "off"), a role or level must be one of the known ones, a number must be whole where a count
    is meant and within its bounds. An empty variable counts as unset.

    Raises:
        ValueError: a variable or flag has a value that is not valid; the message names it and
            says what it accepts.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    for var, name in _ENV.items():
        if var in env and env[var] != "":
            values[name] = _parse(name, env[var], var)
    values.update({k: _parse(k, v, _flag(k)) for k, v in overrides.items() if v is not None})
    config = replace(Config(), **values)
    if config.max_subworkflow_depth < 1:
        # Off, a workflow that starts itself as its first task would start children for ever
        # inside one transaction: the request that starts it would never return.
        raise ValueError(f"max_subworkflow_depth must be at least 1, not {config.max_subworkflow_depth} "
                         "(LEVANTE_MAX_SUBWORKFLOW_DEPTH, --max-subworkflow-depth): it cannot be turned off")
    return config


def unknown_variables(env: Mapping[str, str] | None = None) -> list[str]:
    """Warnings for ``LEVANTE_*`` variables that look like a misspelt setting (``LEVANTE_AUTHH``):
    such a variable is ignored, which is easy to miss."""
    env = os.environ if env is None else env
    known = [*_ENV, *CLIENT_VARIABLES]
    out = []
    for var in sorted(env):
        if var.startswith("LEVANTE_") and var not in known:
            close = difflib.get_close_matches(var, known, n=1, cutoff=0.85)
            if close:
                out.append(f"{var} is not a setting and is ignored; did you mean {close[0]}?")
    return out


def configure_logging(config: Config, fmt: str = "%(asctime)s %(levelname)s %(name)s: %(message)s") -> None:
    """Send log records of ``config.log_level`` and above to stderr (long-running commands)."""
    logging.basicConfig(level=config.log_level, format=fmt)
    logging.getLogger().setLevel(config.log_level)
