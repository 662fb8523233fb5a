"""``workbook-*``, ``workflow-*`` and ``action-*``: definitions stored on the server."""

from __future__ import annotations

from typing import Any

import click

from levante.cli.common import client, delete_each, output_options, read_text, show_list, show_one

WORKBOOK_COLUMNS = ("name", "namespace", "tags", "scope", "created_at", "updated_at")
WORKFLOW_COLUMNS = ("id", "name", "namespace", "project_id", "tags", "input", "scope", "created_at", "updated_at")
ACTION_COLUMNS = ("id", "name", "namespace", "is_system", "input", "description", "tags", "scope",
                  "created_at", "updated_at")

commands: list[click.Command] = []


def command(name: str, **kwargs: Any) -> Any:
    """Register a command of this module under ``name``."""
    def wrap(func: Any) -> click.Command:
        cmd = click.command(name, **kwargs)(func)
        commands.append(cmd)
        return cmd
    return wrap


def _scope(public: bool) -> str | None:
    return "public" if public else None


def _validation(result: dict[str, Any], fmt: str, columns: tuple[str, ...]) -> None:
    show_one({"valid": result.get("valid"), "error": result.get("error")}, ("valid", "error"), fmt, columns)
    for warning in result.get("warnings") or ():  # what the server accepts but Mistral would ignore
        click.echo(f"warning: {warning.get('text') or warning.get('message')}", err=True)
    if not result.get("valid"):
        raise click.exceptions.Exit(1)


# --- workbooks ---------------------------------------------------------------------------------


@command("workbook-create")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--namespace", default=None, help="Namespace of the workbook.")
@click.option("--public", is_flag=True, help="Make the workbook public.")
@output_options
def workbook_create(definition: str, namespace: str | None, public: bool, fmt: str, columns: tuple[str, ...]) -> None:
    """Create a workbook from a YAML file."""
    show_one(client().create_workbook(read_text(definition), namespace, _scope(public)), WORKBOOK_COLUMNS,
             fmt, columns)


@command("workbook-update")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--namespace", default=None, help="Namespace of the workbook.")
@click.option("--public", is_flag=True, help="Make the workbook public.")
@output_options
def workbook_update(definition: str, namespace: str | None, public: bool, fmt: str, columns: tuple[str, ...]) -> None:
    """Replace the workbook the YAML file names."""
    show_one(client().update_workbook(read_text(definition), namespace, _scope(public)), WORKBOOK_COLUMNS,
             fmt, columns)


@command("workbook-list")
@output_options
def workbook_list(fmt: str, columns: tuple[str, ...]) -> None:
    """List workbooks."""
    show_list(client().list_workbooks(), WORKBOOK_COLUMNS, fmt, columns)


@command("workbook-get")
@click.argument("name")
@click.option("--namespace", default=None)
@output_options
def workbook_get(name: str, namespace: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Show a workbook."""
    show_one(client().get_workbook(name, namespace), WORKBOOK_COLUMNS, fmt, columns)


@command("workbook-get-definition")
@click.argument("name")
@click.option("--namespace", default=None)
def workbook_get_definition(name: str, namespace: str | None) -> None:
    """Print a workbook's YAML."""
    click.echo(client().get_workbook(name, namespace)["definition"])


@command("workbook-delete")
@click.argument("names", nargs=-1, required=True)
@click.option("--namespace", default=None)
def workbook_delete(names: tuple[str, ...], namespace: str | None) -> None:
    """Delete workbooks."""
    delete_each(names, lambda name: client().delete_workbook(name, namespace), "workbook")


@command("workbook-validate")
@click.argument("definition", type=click.Path(dir_okay=False))
@output_options
def workbook_validate(definition: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Validate a workbook file on the server (exit 1 when invalid)."""
    _validation(client().validate_workbook(read_text(definition)), fmt, columns)


# --- workflows ---------------------------------------------------------------------------------


@command("workflow-create")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--namespace", default=None, help="Namespace of the workflows.")
@click.option("--public", is_flag=True, help="Make the workflows public.")
@output_options
def workflow_create(definition: str, namespace: str | None, public: bool, fmt: str, columns: tuple[str, ...]) -> None:
    """Create the workflows of a YAML file."""
    show_list(client().create_workflows(read_text(definition), namespace, _scope(public)), WORKFLOW_COLUMNS,
              fmt, columns)


@command("workflow-update")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--id", "workflow_id", default=None, help="Id of the one workflow to replace.")
@click.option("--namespace", default=None)
@click.option("--public", is_flag=True)
@output_options
def workflow_update(definition: str, workflow_id: str | None, namespace: str | None, public: bool, fmt: str,
                    columns: tuple[str, ...]) -> None:
    """Replace (or create) the workflows of a YAML file."""
    show_list(client().update_workflows(read_text(definition), namespace, _scope(public), id=workflow_id),
              WORKFLOW_COLUMNS, fmt, columns)


@command("workflow-list")
@click.option("--namespace", default=None, help="Only this namespace.")
@output_options
def workflow_list(namespace: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """List workflows."""
    query = {"namespace": namespace} if namespace is not None else {}
    show_list(client().list_workflows(**query), WORKFLOW_COLUMNS, fmt, columns)


@command("workflow-get")
@click.argument("identifier")
@click.option("--namespace", default=None)
@output_options
def workflow_get(identifier: str, namespace: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Show a workflow (by name or id)."""
    show_one(client().get_workflow(identifier, namespace), WORKFLOW_COLUMNS + ("interface",), fmt, columns)


@command("workflow-get-definition")
@click.argument("identifier")
@click.option("--namespace", default=None)
def workflow_get_definition(identifier: str, namespace: str | None) -> None:
    """Print a workflow's YAML."""
    click.echo(client().get_workflow(identifier, namespace)["definition"])


@command("workflow-delete")
@click.argument("identifiers", nargs=-1, required=True)
@click.option("--namespace", default=None)
def workflow_delete(identifiers: tuple[str, ...], namespace: str | None) -> None:
    """Delete workflows."""
    delete_each(identifiers, lambda identifier: client().delete_workflow(identifier, namespace), "workflow")


@command("workflow-validate")
@click.argument("definition", type=click.Path(dir_okay=False))
@output_options
def workflow_validate(definition: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Validate a workflow file on the server (exit 1 when invalid)."""
    _validation(client().validate_workflow(read_text(definition)), fmt, columns)


# --- ad-hoc actions ----------------------------------------------------------------------------


@command("action-create")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--namespace", default=None)
@click.option("--public", is_flag=True)
@output_options
def action_create(definition: str, namespace: str | None, public: bool, fmt: str, columns: tuple[str, ...]) -> None:
    """Create the ad-hoc actions of a YAML file."""
    show_list(client().create_actions(read_text(definition), namespace, _scope(public)), ACTION_COLUMNS,
              fmt, columns)


@command("action-update")
@click.argument("definition", type=click.Path(dir_okay=False))
@click.option("--namespace", default=None)
@click.option("--public", is_flag=True)
@output_options
def action_update(definition: str, namespace: str | None, public: bool, fmt: str, columns: tuple[str, ...]) -> None:
    """Replace (or create) the ad-hoc actions of a YAML file."""
    show_list(client().update_actions(read_text(definition), namespace, _scope(public)), ACTION_COLUMNS,
              fmt, columns)


@command("action-list")
@output_options
def action_list(fmt: str, columns: tuple[str, ...]) -> None:
    """List actions (system and ad-hoc)."""
    show_list(client().list_actions(), ACTION_COLUMNS, fmt, columns)


@command("action-get")
@click.argument("identifier")
@click.option("--namespace", default=None)
@output_options
def action_get(identifier: str, namespace: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Show an action."""
    show_one(client().get_action(identifier, namespace), ACTION_COLUMNS, fmt, columns)


@command("action-get-definition")
@click.argument("identifier")
@click.option("--namespace", default=None)
def action_get_definition(identifier: str, namespace: str | None) -> None:
    """Print an ad-hoc action's YAML."""
    click.echo(client().get_action(identifier, namespace).get("definition") or "")


@command("action-delete")
@click.argument("identifiers", nargs=-1, required=True)
@click.option("--namespace", default=None)
def action_delete(identifiers: tuple[str, ...], namespace: str | None) -> None:
    """Delete ad-hoc actions."""
    delete_each(identifiers, lambda identifier: client().delete_action(identifier, namespace), "action")


@command("action-validate")
@click.argument("definition", type=click.Path(dir_okay=False))
@output_options
def action_validate(definition: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Validate an actions file on the server (exit 1 when invalid)."""
    _validation(client().validate_action(read_text(definition)), fmt, columns)
