"""``environment-*``, ``cron-trigger-*`` and ``api-key-*``."""

from __future__ import annotations

from typing import Any

import click

from levante.cli.common import client, delete_each, json_arg, object_arg, output_options, show_list, show_one

ENVIRONMENT_COLUMNS = ("name", "description", "scope", "created_at", "updated_at")
CRON_COLUMNS = ("name", "workflow_name", "workflow_params", "workflow_input", "pattern", "timezone",
                "next_execution_time", "remaining_executions", "created_at", "updated_at")

API_KEY_COLUMNS = ("id", "name", "role", "created_at")

commands: list[click.Command] = []


def _register(name: str) -> Any:
    def wrap(func: Any) -> click.Command:
        cmd = click.command(name)(func)
        commands.append(cmd)
        return cmd
    return wrap


def _environment_file(path: str) -> dict[str, Any]:
    data = json_arg(path, "environment")
    if not isinstance(data, dict) or not data.get("name"):
        raise click.UsageError(f"{path}: an environment is an object with a 'name' (and 'variables', "
                               "'description', 'scope')")
    return data


@_register("environment-create")
@click.argument("file")
@output_options
def environment_create(file: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Create an environment from a JSON or YAML file (or inline JSON)."""
    data = _environment_file(file)
    env = client().create_environment(data["name"], data.get("variables"), data.get("description"),
                                      data.get("scope"))
    show_one(env, ENVIRONMENT_COLUMNS + ("variables",), fmt, columns)


@_register("environment-update")
@click.argument("file")
@output_options
def environment_update(file: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Update the environment named in a JSON or YAML file."""
    data = _environment_file(file)
    env = client().update_environment(data["name"], data.get("variables"), data.get("description"),
                                      data.get("scope"))
    show_one(env, ENVIRONMENT_COLUMNS + ("variables",), fmt, columns)


@_register("environment-list")
@output_options
def environment_list(fmt: str, columns: tuple[str, ...]) -> None:
    """List environments."""
    show_list(client().list_environments(), ENVIRONMENT_COLUMNS, fmt, columns)


@_register("environment-get")
@click.argument("name")
@click.option("--export", is_flag=True, help="Print it as a file environment-create takes.")
@output_options
def environment_get(name: str, export: bool, fmt: str, columns: tuple[str, ...]) -> None:
    """Show an environment."""
    env = client().get_environment(name)
    if export:
        show_one(env, ("name", "description", "scope", "variables"), "json" if fmt == "table" else fmt, columns)
        return
    show_one(env, ENVIRONMENT_COLUMNS + ("variables",), fmt, columns)


@_register("environment-delete")
@click.argument("names", nargs=-1, required=True)
def environment_delete(names: tuple[str, ...]) -> None:
    """Delete environments."""
    delete_each(names, client().delete_environment, "environment")


@_register("cron-trigger-create")
@click.argument("name")
@click.argument("workflow")
@click.argument("workflow_input", required=False)
@click.option("--params", default=None, help="Workflow params (JSON or file).")
@click.option("--pattern", default=None, help='Cron pattern, e.g. "* * * * *".')
@click.option("--first-time", default=None, help='First run, "YYYY-MM-DD HH:MM" (UTC).')
@click.option("--count", type=int, default=None, help="Number of runs.")
@click.option("--utc", is_flag=True, help="Accepted for compatibility: --first-time is always UTC.")
@click.option("--timezone", "zone", default=None,
              help="IANA time zone whose wall clock the pattern follows, e.g. Europe/Madrid (default UTC).")
@output_options
def cron_trigger_create(name: str, workflow: str, workflow_input: str | None, params: str | None,
                        pattern: str | None, first_time: str | None, count: int | None, utc: bool,
                        zone: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Start WORKFLOW on a cron pattern and/or at a first time."""
    trigger = client().create_cron_trigger(name, workflow, object_arg(workflow_input, "input"),
                                           object_arg(params, "--params"), pattern=pattern,
                                           first_time=first_time, count=count, timezone=zone)
    show_one(trigger, CRON_COLUMNS, fmt, columns)


@_register("cron-trigger-list")
@output_options
def cron_trigger_list(fmt: str, columns: tuple[str, ...]) -> None:
    """List cron triggers."""
    show_list(client().list_cron_triggers(), CRON_COLUMNS, fmt, columns)


@_register("cron-trigger-get")
@click.argument("identifier")
@output_options
def cron_trigger_get(identifier: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Show a cron trigger."""
    show_one(client().get_cron_trigger(identifier), CRON_COLUMNS, fmt, columns)


@_register("cron-trigger-delete")
@click.argument("identifiers", nargs=-1, required=True)
def cron_trigger_delete(identifiers: tuple[str, ...]) -> None:
    """Delete cron triggers."""
    delete_each(identifiers, client().delete_cron_trigger, "cron trigger")


# --- API keys (admin keys only) ----------------------------------------------------------------


@_register("api-key-list")
@output_options
def api_key_list(fmt: str, columns: tuple[str, ...]) -> None:
    """List the stored API keys (never the keys themselves)."""
    show_list(client().list_api_keys(), API_KEY_COLUMNS, fmt, columns)


@_register("api-key-create")
@click.argument("name")
@click.option("--role", type=click.Choice(("user", "admin")), default=None,
              help="The key's role (default: user).")
@output_options
def api_key_create(name: str, role: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Create an API key; the key is shown this once only."""
    show_one(client().create_api_key(name, role), API_KEY_COLUMNS + ("key",), fmt, columns)


@_register("api-key-delete")
@click.argument("identifiers", nargs=-1, required=True)
def api_key_delete(identifiers: tuple[str, ...]) -> None:
    """Delete API keys (by id or name)."""
    delete_each(identifiers, client().delete_api_key, "API key")
