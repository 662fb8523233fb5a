"""``levante server``: serve the REST API with the engine, scheduler and executor in one process.

Contract (DESIGN.md section 4): ``levante server [--host 127.0.0.1] [--port 8989] [--db URL]
[--transport URL] [--role all|api|engine|executor]``; the same settings come from
``LEVANTE_HOST``, ``LEVANTE_PORT``, ``LEVANTE_DB_URL``, ``LEVANTE_TRANSPORT_URL`` and
``LEVANTE_ROLE``. When it is ready it prints one line: ``levante: serving on http://HOST:PORT/v2
(db ..., role all)``. SIGINT and SIGTERM stop it gracefully: no new requests, requests in
progress finish, then the node stops.

Why the standard library's WSGI server and not gunicorn here: gunicorn forks worker processes, and
each would need its own engine; the embedded mode (role ``all``) keeps the engine, scheduler and
executor threads in the one process that serves the API, so a request and the engine share the
in-process queue and SQLite's single writer. A threaded ``wsgiref`` server is enough for that, with
a deep listen backlog, a read timeout and chunked bodies decoded (:mod:`levante.cli.httpserver`).
For production, run gunicorn with ``'levante.wsgi:application'`` and the engine and executor
roles as separate processes.
"""

from __future__ import annotations

import logging
import re
import signal
import sys
import threading
from dataclasses import replace
from typing import Any

import click

from levante import config as config_mod
from levante.cli.common import EXIT_OTHER, EXIT_USAGE, fail
from levante.config import ROLES, Config
from levante.exceptions import TransportError

LOG = logging.getLogger(__name__)
#: Roles of API keys (``--create-api-key NAME --role admin``).
KEY_ROLES = ("admin", "user")


def masked(url: str) -> str:
    """A database URL without its password."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def _install_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def serve(config: Config, ready: Any = None) -> None:
    """Run a role that serves the API (``all`` or ``api``) until SIGINT or SIGTERM.

    Binds first (``port`` 0 picks a free port), so that callback URLs name the real port; then
    starts the node and serves.
    """
    from levante.api.app import create_app
    from levante.cli.httpserver import make_http_server
    from levante.node import Node

    httpd = make_http_server(config.host, config.port, config.read_timeout)
    port = httpd.server_address[1]
    config = replace(config, port=port)
    try:
        node = Node(config).start()
    except BaseException:
        httpd.server_close()
        raise
    stop = threading.Event()
    try:
        httpd.set_app(create_app(config, node.services))
        _install_signals(stop)
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                  name="levante-http", daemon=True)
        thread.start()
        click.echo(f"levante: serving on http://{config.host}:{port}/v2 "
                   f"(db {masked(config.db_url)}, role {config.role})")
        sys.stdout.flush()
        if ready is not None:
            ready(port)
        while not stop.wait(0.5):
            pass
        click.echo("levante: stopping", err=True)
        httpd.shutdown()
    finally:
        httpd.server_close()
        node.stop()


def run_headless(config: Config) -> None:
    """Run role ``engine`` or ``executor`` (no HTTP) until SIGINT or SIGTERM."""
    from levante.node import Node

    node = Node(config).start()
    stop = threading.Event()
    try:
        _install_signals(stop)
        where = f"db {masked(config.db_url)}, " if config.role == "engine" else ""
        click.echo(f"levante: {config.role} running ({where}transport {masked(config.transport_url)})")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
        click.echo("levante: stopping", err=True)
    finally:
        node.stop()


def make_api_key(name: str, role: str, db_url: str | None) -> None:
    """Store a new API key in the database and print it (the only time it is shown)."""
    if role not in KEY_ROLES:
        raise click.UsageError(f"--create-api-key needs --role admin or --role user, not {role!r}")
    from levante.db.session import make_session_factory, open_database, transaction
    from levante.engine.service.credentials import create_api_key

    config = _load(db_url=db_url)
    try:
        engine = open_database(config.db_url)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    except TransportError as exc:
        fail(str(exc), EXIT_OTHER)
    try:
        with transaction(make_session_factory(engine)) as session:
            key = create_api_key(session, name, role)[1]
    finally:
        engine.dispose()
    click.echo(key)
    click.echo(f"levante: stored {role} API key {name!r} in {masked(config.db_url)}; "
               "it is shown only this once.", err=True)


@click.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1; LEVANTE_HOST).")
@click.option("--port", type=int, default=None,
              help="Port to bind (default 8989, 0 = any free port; LEVANTE_PORT).")
@click.option("--db", "db_url", default=None,
              help="Database URL (default sqlite:///levante.db; LEVANTE_DB_URL).")
@click.option("--transport", "transport_url", default=None,
              help="Message queue URL (default memory://; LEVANTE_TRANSPORT_URL).")
@click.option("--role", type=click.Choice(ROLES + KEY_ROLES), default=None,
              help="What this process runs (default all; LEVANTE_ROLE); with --create-api-key: the "
                   "key's role, admin or user (default user).")
@click.option("--target", "executor_target", default=None,
              help="Executor group this executor serves (tasks route to it with 'target'; LEVANTE_EXECUTOR_TARGET).")
@click.option("--namespace", default=None, help="Prefix of the broker's queue names (LEVANTE_NAMESPACE).")
@click.option("--public-url", default=None,
              help="Base URL third parties reach the API at, for callback URLs (LEVANTE_PUBLIC_URL).")
@click.option("--create-api-key", "create_api_key", metavar="NAME", default=None,
              help="Store a new API key named NAME (role from --role admin|user), print it once, exit.")
@click.option("--log-level", default=None, type=click.Choice(config_mod.LOG_LEVELS, case_sensitive=False),
              help="Level of the log records written to stderr (default WARNING; LEVANTE_LOG_LEVEL).")
@click.option("--expression-timeout", type=float, default=None,
              help="Seconds one expression evaluation may run (default 3, 0 = no limit; LEVANTE_EXPRESSION_TIMEOUT).")
@click.option("--expression-memory", type=int, default=None,
              help="Largest value in bytes one expression operation may build (default 64 MiB; "
                   "LEVANTE_EXPRESSION_MEMORY).")
@click.option("--max-subworkflow-depth", type=int, default=None,
              help="How deep sub-workflows may nest (default 100; LEVANTE_MAX_SUBWORKFLOW_DEPTH).")
@click.option("--max-with-items", type=int, default=None,
              help="Most items of one with-items task (default 1000000; LEVANTE_MAX_WITH_ITEMS).")
@click.option("--with-items-window", type=int, default=None,
              help="Most items of one with-items task running at once when its concurrency is not lower "
                   "(default 10000, 0 = all at once; LEVANTE_WITH_ITEMS_WINDOW).")
@click.option("--max-result-size", type=int, default=None,
              help="Largest stored action result, publish or output in bytes (default 1 MiB; "
                   "LEVANTE_MAX_RESULT_SIZE).")
@click.option("--max-http-response-size", type=int, default=None,
              help="Largest response body std.http reads in bytes (default 10 MiB; LEVANTE_MAX_HTTP_RESPONSE_SIZE).")
@click.option("--read-timeout", type=float, default=None,
              help="Seconds a client may stay silent while sending its request or reading the answer "
                   "(default 30, 0 = no limit; LEVANTE_READ_TIMEOUT).")
def server(host: str | None, port: int | None, db_url: str | None, transport_url: str | None,
           role: str | None, executor_target: str | None, namespace: str | None, public_url: str | None,
           create_api_key: str | None, log_level: str | None, **limits: Any) -> None:
    """Serve the REST API (Mistral v2 compatible) with the engine and an executor."""
    if create_api_key is not None:
        make_api_key(create_api_key, role or "user", db_url)
        return
    if role in KEY_ROLES:
        raise click.UsageError(f"--role {role} is a role of API keys: use it with --create-api-key NAME")
    config = _load(host=host, port=port, db_url=db_url, transport_url=transport_url, role=role,
                   public_url=public_url, executor_target=executor_target, namespace=namespace,
                   log_level=log_level, **limits)
    config_mod.configure_logging(config)
    for warning in config_mod.unknown_variables():
        LOG.warning("%s", warning)
    try:
        if config.role in ("engine", "executor"):
            run_headless(config)
        else:
            serve(config)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    except TransportError as exc:
        fail(str(exc), EXIT_OTHER)
    except OSError as exc:
        fail(f"cannot serve on {config.host}:{config.port}: {exc}", EXIT_OTHER)


def _load(**settings: Any) -> Config:
    """The configuration (``LEVANTE_*`` variables, then the flags); a value that is not valid
    ends the command with one line that names the variable or flag (exit status 2)."""
    try:
        return config_mod.load(**settings)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
