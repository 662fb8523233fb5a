"""What the commands that talk to a Levante server share: the connection, the output formats,
argument parsing and the mapping of errors to exit statuses.

Exit statuses: 0 success, 1 other server error, 2 bad usage (also a request the server rejects as
invalid, 400), 3 not found (404), 4 conflict (409), 5 server unreachable. A refused API key (401,
403) is an "other" error: 1.

Every ``levante`` run imports this module, ``--help`` too: the HTTP client (httpx) and Rich are
imported where a command first needs them (:attr:`Remote.client`, :func:`_print_table`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NoReturn

import click
import yaml

from levante.exceptions import (
    ConflictError,
    DSLError,
    ExpressionError,
    InputError,
    LevanteError,
    NotFoundError,
    TransportError,
)

if TYPE_CHECKING:
    from levante.client import Client

EXIT_OTHER, EXIT_USAGE, EXIT_NOT_FOUND, EXIT_CONFLICT, EXIT_UNREACHABLE = 1, 2, 3, 4, 5
FORMATS = ("table", "json", "yaml", "value")


def exit_status(exc: LevanteError) -> int:
    """The exit status for an error the client raised."""
    if isinstance(exc, TransportError) and getattr(exc, "status", 0) == 0:
        return EXIT_UNREACHABLE
    if isinstance(exc, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(exc, ConflictError):
        return EXIT_CONFLICT
    if isinstance(exc, (InputError, DSLError, ExpressionError)):
        return EXIT_USAGE
    return EXIT_OTHER


def fail(message: str, code: int = EXIT_OTHER) -> NoReturn:
    """Print ``levante COMMAND: error: MESSAGE`` (one line, on stderr) and exit with ``code``."""
    ctx = click.get_current_context(silent=True)
    name = ctx.command_path if ctx is not None else "levante"
    click.echo(f"{name}: error: {' '.join(message.split())}", err=True)
    raise SystemExit(code)


class LevanteGroup(click.Group):
    """The ``levante`` group: errors from the server become one line on stderr and an exit
    status (never a traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LevanteError as exc:
            # Here, not at the top: only the commands that talk to a server load the client.
            from levante.client.errors import ExecutionFailed

            if isinstance(exc, ExecutionFailed):
                click.echo(f"levante: {exc}", err=True)
                ctx.exit(EXIT_OTHER)
            message = " ".join(str(exc).split("\n", 1)[0].split()) if not isinstance(exc, DSLError) \
                else str(exc)
            if getattr(exc, "status", 0) == 401:
                message += " Give one with --api-key or LEVANTE_API_KEY."
            elif exit_status(exc) == EXIT_UNREACHABLE:
                message += ("" if message.endswith(".") else ".") + \
                    " Is the server running (levante server)? Its URL comes from --url or LEVANTE_URL."
            click.echo(f"levante: error: {message}", err=True)
            ctx.exit(exit_status(exc))
        except NotImplementedError as exc:
            click.echo(f"levante: error: {exc}", err=True)
            ctx.exit(EXIT_OTHER)


class Remote:
    """The connection settings of the group (``--url``, ``--api-key``), and the client made
    from them on first use."""

    def __init__(self, url: str | None, api_key: str | None) -> None:
        self.url = url
        self.api_key = api_key
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            from levante.client import Client

            self._client = Client(self.url, api_key=self.api_key)
        return self._client


def client() -> Client:
    """The client of the current command (from the group's options)."""
    ctx = click.get_current_context()
    remote = ctx.find_object(Remote)
    if remote is None:  # a command invoked outside the group (tests)
        remote = Remote(None, None)
        ctx.obj = remote
    return remote.client


def delete_each(identifiers: Iterable[str], delete: Callable[[str], object], kind: str) -> None:
    """Delete each of ``identifiers`` with ``delete``, saying so after each (the first failure stops)."""
    for identifier in identifiers:
        delete(identifier)
        click.echo(f"Request to delete {kind} {identifier} has been accepted.")


# --- arguments ---------------------------------------------------------------------------------


def read_text(path: str) -> str:
    """A file's text (UsageError when it cannot be read)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None


def json_arg(text: str | None, what: str) -> Any:
    """A JSON value given inline, or the path of a JSON or YAML file (None stays None)."""
    if text is None:
        return None
    if os.path.isfile(text):
        try:
            return yaml.safe_load(read_text(text))
        except yaml.YAMLError as exc:
            raise click.UsageError(f"{what}: {text} is not JSON or YAML: {exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.UsageError(f"{what} is neither valid JSON nor a file: {exc}") from None


def object_arg(text: str | None, what: str) -> dict[str, Any] | None:
    """:func:`json_arg` that must be a JSON object."""
    value = json_arg(text, what)
    if value is not None and not isinstance(value, dict):
        raise click.UsageError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def filters_arg(items: Iterable[str]) -> dict[str, str]:
    """``--filter key=value`` options as query parameters."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--filter wants key=value, not {item!r}")
        out[key] = value
    return out


# --- output ------------------------------------------------------------------------------------


def output_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``-f/--format`` and ``-c/--column`` (as Mistral's client has them)."""
    func = click.option("-c", "--column", "columns", multiple=True,
                        help="Show only this column (repeatable).")(func)
    return click.option("-f", "--format", "fmt", type=click.Choice(FORMATS), default="table",
                        show_default=True, help="Output format.")(func)


def list_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mistral's list options: ``--marker --limit --sort_keys --sort_dirs --filter --oldest``."""
    for decorator in reversed([
        click.option("--marker", help="Id of the last item of the previous page."),
        click.option("--limit", type=int, default=100, show_default=True,
                     help="Largest number of items (-1: all)."),
        click.option("--sort_keys", "--sort-keys", "sort_keys", default="created_at", show_default=True,
                     help="Comma-separated keys to sort by."),
        click.option("--sort_dirs", "--sort-dirs", "sort_dirs", default=None,
                     help="Comma-separated asc/desc (default: the latest items, shown oldest first)."),
        click.option("--filter", "filters", multiple=True, help="key=value or key=op:value (repeatable)."),
        click.option("--oldest", is_flag=True, help="Show the oldest items rather than the latest."),
    ]):
        func = decorator(func)
    return func


def list_query(marker: str | None, limit: int, sort_keys: str, sort_dirs: str | None,
               filters: Iterable[str], oldest: bool) -> tuple[dict[str, Any], bool]:
    """The query of a list command, and whether to reverse the answer (the latest ``limit``
    items are fetched newest first and shown oldest first, as Mistral's client does)."""
    query: dict[str, Any] = {"marker": marker, "limit": limit if limit and limit > 0 else None,
                             "sort_keys": sort_keys, **filters_arg(filters)}
    latest = sort_dirs is None and marker is None and not oldest and sort_keys == "created_at"
    query["sort_dirs"] = "desc" if latest else (sort_dirs or "asc")
    return query, latest


def title(column: str) -> str:
    """``workflow_name`` -> ``Workflow name`` (the headers of Mistral's tables)."""
    text = column.replace("_", " ")
    return "ID" if column == "id" else text[:1].upper() + text[1:]


def cell(value: Any) -> str:
    """A value as text for a table or ``value`` output."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _pick(item: dict[str, Any], columns: Iterable[str]) -> dict[str, Any]:
    return {c: item.get(c) for c in columns}


def _columns(default: Iterable[str], chosen: Iterable[str], items: Iterable[dict[str, Any]]) -> list[str]:
    """The columns to show: ``default``, or those chosen with ``-c``. A chosen column is a field
    name (``workflow_name``) or a header as Mistral's client shows it (``"Workflow name"``, any
    case); it must be a default column or a field the server returned, else it is a usage error
    that names it and lists the columns there are (not an empty column)."""
    default = list(default)
    chosen = list(chosen)
    if not chosen:
        return default
    known = list(dict.fromkeys([*default, *(key for item in items for key in item)]))
    by_name = {name.lower(): name for name in known} | {title(name).lower(): name for name in known}
    unknown = [c for c in chosen if c.lower() not in by_name]
    if unknown:
        names = ", ".join(repr(c) for c in unknown)
        raise click.UsageError(f"no column {names}; the columns are: {', '.join(known)}")
    return [by_name[c.lower()] for c in chosen]


def _print_table(headers: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Print a table drawn by Rich. Each cell prints exactly what its value holds: ``[bold]`` or
    ``[task_ex_id=...]`` inside a value is text, not Rich markup (nor an emoji code)."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for header in headers:
        table.add_column(Text(header))
    for row in rows:
        table.add_row(*(Text(cell(value)) for value in row))
    Console(soft_wrap=False, width=None if sys.stdout.isatty() else 10_000).print(table)


def show_one(item: dict[str, Any], columns: Iterable[str], fmt: str, chosen: Iterable[str] = ()) -> None:
    """Print one resource as Field/Value rows, JSON, YAML or bare values."""
    data = _pick(item, _columns(columns, chosen, [item]))
    if fmt == "json":
        click.echo(json.dumps(data, indent=4, sort_keys=False, default=str))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True).rstrip())
    elif fmt == "value":
        for value in data.values():
            click.echo(cell(value))
    else:
        _print_table(("Field", "Value"), ((title(key), value) for key, value in data.items()))


def show_list(items: list[dict[str, Any]], columns: Iterable[str], fmt: str,
              chosen: Iterable[str] = ()) -> None:
    """Print resources as a table, JSON, YAML or one line of bare values each."""
    cols = _columns(columns, chosen, items)
    rows = [_pick(i, cols) for i in items]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=4, default=str))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(rows, sort_keys=False, allow_unicode=True).rstrip())
    elif fmt == "value":
        for row in rows:
            click.echo(" ".join(cell(v) for v in row.values()))
    else:
        _print_table([title(column) for column in cols], (row.values() for row in rows))


def show_json(value: Any) -> None:
    """Print a JSON value indented (``*-get-output``, ``*-get-input``...)."""
    click.echo(json.dumps(value, indent=4, default=str))


def show_value(value: Any, fmt: str) -> None:
    """Print one JSON value (an action's output...) in an output format: indented JSON for
    ``table`` and ``json``, YAML, or bare for ``value``."""
    if fmt == "yaml":
        click.echo(yaml.safe_dump(value, sort_keys=False, allow_unicode=True).rstrip())
    elif fmt == "value":
        click.echo(cell(value))
    else:
        show_json(value)
