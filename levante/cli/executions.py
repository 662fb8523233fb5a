"""``execution-*``, ``task-*`` and ``action-execution-*``: what runs on the server."""

from __future__ import annotations

from typing import Any

import click

from levante.cli import progress
from levante.cli.common import (
    client,
    delete_each,
    json_arg,
    list_options,
    list_query,
    object_arg,
    output_options,
    show_json,
    show_list,
    show_one,
    show_value,
)

EXECUTION_COLUMNS = ("id", "workflow_id", "workflow_name", "workflow_namespace", "description",
                     "task_execution_id", "root_execution_id", "state", "state_info", "created_at",
                     "updated_at")
TASK_COLUMNS = ("id", "name", "workflow_name", "workflow_namespace", "workflow_execution_id", "state",
                "state_info", "created_at", "started_at", "finished_at")
ACTION_EXECUTION_COLUMNS = ("id", "name", "workflow_name", "workflow_namespace", "task_name",
                            "task_execution_id", "state", "state_info", "accepted", "created_at",
                            "updated_at")
HISTORY_COLUMNS = ("id", "created_at", "kind", "task_execution_id", "action_execution_id", "payload")
EXECUTION_STATES = ("RUNNING", "PAUSED", "SUCCESS", "ERROR", "CANCELLED")

commands: list[click.Command] = []


def _register(name: str) -> Any:
    def wrap(func: Any) -> click.Command:
        cmd = click.command(name)(func)
        commands.append(cmd)
        return cmd
    return wrap


def _listed(items: list[dict[str, Any]], reverse: bool) -> list[dict[str, Any]]:
    return list(reversed(items)) if reverse else items


# --- executions --------------------------------------------------------------------------------


@_register("execution-create")
@click.argument("workflow")
@click.argument("workflow_input", required=False)
@click.argument("params", required=False)
@click.option("--namespace", default=None, help="Namespace of the workflow.")
@click.option("-d", "--description", default=None, help="Execution description.")
@click.option("-s", "--source-execution-id", "source", default=None, help="Copy this execution's workflow, "
              "input and params.")
@click.option("--id", "execution_id", default=None, help="Id of the new execution (idempotent start).")
@click.option("--wait", is_flag=True, help="Wait for the end, showing progress; exit 1 unless SUCCESS.")
@click.option("--timeout", type=float, default=None, help="With --wait: give up after this many seconds.")
@output_options
def execution_create(workflow: str, workflow_input: str | None, params: str | None, namespace: str | None,
                     description: str | None, source: str | None, execution_id: str | None, wait: bool,
                     timeout: float | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Start WORKFLOW (a name or an id) with INPUT and PARAMS (JSON, or files of JSON or YAML)."""
    ex = client().create_execution(workflow, object_arg(workflow_input, "input"), object_arg(params, "params"),
                                   description=description, namespace=namespace, id=execution_id,
                                   source_execution_id=source)
    if not wait:
        show_one(ex, EXECUTION_COLUMNS, fmt, columns)
        return
    final = progress.wait(client(), ex["id"], timeout, live=fmt == "table")
    show_one(final, EXECUTION_COLUMNS + ("output",), fmt, columns)
    if final["state"] != "SUCCESS":
        raise click.exceptions.Exit(1)


@_register("execution-list")
@click.option("--task", "task_id", default=None, help="Only the sub-executions of this task.")
@click.option("--rootsonly", is_flag=True, help="Only top-level executions.")
@list_options
@output_options
def execution_list(task_id: str | None, rootsonly: bool, marker: str | None, limit: int, sort_keys: str,
                   sort_dirs: str | None, filters: tuple[str, ...], oldest: bool, fmt: str,
                   columns: tuple[str, ...]) -> None:
    """List executions (the latest 100 by default)."""
    query, reverse = list_query(marker, limit, sort_keys, sort_dirs, filters, oldest)
    if task_id:
        query["task_execution_id"] = task_id
    items = client().list_executions(**query)
    if rootsonly:
        items = [i for i in items if not i.get("root_execution_id") and not i.get("task_execution_id")]
    show_list(_listed(items, reverse), EXECUTION_COLUMNS, fmt, columns)


@_register("execution-get")
@click.argument("execution_id")
@output_options
def execution_get(execution_id: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Show an execution."""
    show_one(client().get_execution(execution_id), EXECUTION_COLUMNS, fmt, columns)


@_register("execution-get-input")
@click.argument("execution_id")
def execution_get_input(execution_id: str) -> None:
    """Print an execution's input (JSON)."""
    show_json(client().get_execution(execution_id)["input"])


@_register("execution-get-output")
@click.argument("execution_id")
def execution_get_output(execution_id: str) -> None:
    """Print an execution's output (JSON)."""
    show_json(client().get_execution(execution_id).get("output"))


@_register("execution-get-published")
@click.argument("execution_id")
def execution_get_published(execution_id: str) -> None:
    """Print an execution's global published variables (JSON)."""
    show_json(client().get_execution(execution_id).get("published_global"))


@_register("execution-update")
@click.argument("execution_id")
@click.option("-s", "--state", type=click.Choice(EXECUTION_STATES), default=None, help="New state.")
@click.option("-e", "--env", "env", default=None, help="Environment changes (JSON, YAML file).")
@click.option("-d", "--description", default=None, help="New description.")
@click.option("-i", "--state-info", "state_info", default=None, help="Why (e.g. the cancel reason).")
@output_options
def execution_update(execution_id: str, state: str | None, env: str | None, description: str | None,
                     state_info: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Pause (-s PAUSED), resume (RUNNING), cancel (CANCELLED) an execution, or change its
    description or env."""
    if state is None and env is None and description is None:
        raise click.UsageError("give at least one of --state, --env, --description")
    ex = client().update_execution(execution_id, state, state_info=state_info, description=description,
                                   env=object_arg(env, "--env"))
    show_one(ex, EXECUTION_COLUMNS, fmt, columns)


@_register("execution-delete")
@click.argument("execution_ids", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Delete even if it is not completed.")
def execution_delete(execution_ids: tuple[str, ...], force: bool) -> None:
    """Delete executions (only completed ones unless --force)."""
    delete_each(execution_ids, lambda one: client().delete_execution(one, force=force), "execution")


@_register("execution-get-sub-executions")
@click.argument("execution_id")
@click.option("--errors-only", is_flag=True)
@click.option("--max-depth", type=int, default=-1)
@output_options
def execution_get_sub_executions(execution_id: str, errors_only: bool, max_depth: int, fmt: str,
                                 columns: tuple[str, ...]) -> None:
    """List the executions below one."""
    show_list(client().list_sub_executions(execution_id, errors_only, max_depth), EXECUTION_COLUMNS, fmt,
              columns)


@_register("execution-get-history")
@click.argument("execution_id")
@output_options
def execution_get_history(execution_id: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Show an execution's event history, oldest first (every state change, with its details)."""
    show_list(client().get_execution_history(execution_id), HISTORY_COLUMNS, fmt, columns)


# --- tasks -------------------------------------------------------------------------------------


@_register("task-list")
@click.argument("workflow_execution_id", required=False)
@list_options
@output_options
def task_list(workflow_execution_id: str | None, marker: str | None, limit: int, sort_keys: str,
              sort_dirs: str | None, filters: tuple[str, ...], oldest: bool, fmt: str,
              columns: tuple[str, ...]) -> None:
    """List tasks (of one execution when its id is given)."""
    query, reverse = list_query(marker, limit, sort_keys, sort_dirs, filters, oldest)
    items = client().list_tasks(workflow_execution_id, **query)
    show_list(_listed(items, reverse), TASK_COLUMNS, fmt, columns)


@_register("task-get")
@click.argument("task_id")
@output_options
def task_get(task_id: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Show a task."""
    show_one(client().get_task(task_id), TASK_COLUMNS, fmt, columns)


@_register("task-get-result")
@click.argument("task_id")
def task_get_result(task_id: str) -> None:
    """Print a task's result (JSON)."""
    show_json(client().get_task(task_id).get("result"))


@_register("task-get-published")
@click.argument("task_id")
def task_get_published(task_id: str) -> None:
    """Print what a task published (JSON)."""
    show_json(client().get_task(task_id).get("published"))


@_register("task-rerun")
@click.argument("task_id")
@click.option("--resume", is_flag=True, help="Rerun only the failed with-items items (reset=false).")
@click.option("-e", "--env", "env", default=None, help="Environment changes (JSON, YAML file).")
@output_options
def task_rerun(task_id: str, resume: bool, env: str | None, fmt: str, columns: tuple[str, ...]) -> None:
    """Rerun a task in ERROR."""
    show_one(client().rerun_task(task_id, reset=not resume, env=object_arg(env, "--env")), TASK_COLUMNS, fmt,
             columns)


@_register("task-skip")
@click.argument("task_id")
@output_options
def task_skip(task_id: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Skip a task in ERROR (the workflow goes on as if it had succeeded)."""
    show_one(client().skip_task(task_id), TASK_COLUMNS, fmt, columns)


# --- action executions -------------------------------------------------------------------------


@_register("action-execution-list")
@click.argument("task_id", required=False)
@click.option("--include-output", is_flag=True, help="Add the output column.")
@list_options
@output_options
def action_execution_list(task_id: str | None, include_output: bool, marker: str | None, limit: int,
                          sort_keys: str, sort_dirs: str | None, filters: tuple[str, ...], oldest: bool,
                          fmt: str, columns: tuple[str, ...]) -> None:
    """List action executions (of one task when its id is given)."""
    query, reverse = list_query(marker, limit, sort_keys, sort_dirs, filters, oldest)
    if include_output:
        query["include_output"] = True
    items = client().list_action_executions(task_id, **query)
    default = ACTION_EXECUTION_COLUMNS + (("output",) if include_output else ())
    show_list(_listed(items, reverse), default, fmt, columns)


@_register("action-execution-get")
@click.argument("action_execution_id")
@output_options
def action_execution_get(action_execution_id: str, fmt: str, columns: tuple[str, ...]) -> None:
    """Show an action execution."""
    show_one(client().get_action_execution(action_execution_id), ACTION_EXECUTION_COLUMNS + ("output",), fmt,
             columns)


@_register("action-execution-get-input")
@click.argument("action_execution_id")
def action_execution_get_input(action_execution_id: str) -> None:
    """Print an action execution's input (JSON)."""
    show_json(client().get_action_execution(action_execution_id).get("input"))


@_register("action-execution-get-output")
@click.argument("action_execution_id")
def action_execution_get_output(action_execution_id: str) -> None:
    """Print an action execution's output (JSON)."""
    show_json(client().get_action_execution(action_execution_id).get("output"))


@_register("action-execution-update")
@click.argument("action_execution_id")
@click.option("--state", type=click.Choice(("PAUSED", "RUNNING", "SUCCESS", "ERROR", "CANCELLED")),
              default=None, help="New state.")
@click.option("--output", default=None, help="The result (any JSON value, or a file); a bare word is a string.")
@output_options
def action_execution_update(action_execution_id: str, state: str | None, output: str | None, fmt: str,
                            columns: tuple[str, ...]) -> None:
    """Complete an asynchronous action: --state SUCCESS --output 3."""
    if state is None and output is None:
        raise click.UsageError("give at least one of --state, --output")
    value: Any = None
    if output is not None:
        try:
            value = json_arg(output, "--output")
        except click.UsageError:
            value = output  # Mistral's client sends a non-JSON output as a string
    result = client().update_action_execution(action_execution_id, state or "SUCCESS", value)
    show_one(result, ACTION_EXECUTION_COLUMNS + ("output",), fmt, columns)


@_register("run-action")
@click.argument("name")
@click.argument("action_input", required=False)
@click.option("-s", "--save-result", is_flag=True,
              help="Show the action execution rather than its output (it is always kept).")
@click.option("--run-sync", is_flag=True, help="Wait for the result, even of an asynchronous action.")
@click.option("-t", "--target", default=None, help="Executor target to run the action on.")
@output_options
def run_action(name: str, action_input: str | None, save_result: bool, run_sync: bool, target: str | None,
               fmt: str, columns: tuple[str, ...]) -> None:
    """Run the action NAME on its own with INPUT (JSON, or a file of JSON or YAML).

    A synchronous action runs to its end and its output is printed (exit 1 when it failed). An
    asynchronous one, or any with --save-result, is shown as its action execution."""
    result = client().run_action(name, object_arg(action_input, "input"), run_sync=run_sync or None,
                                 save_result=save_result or None, target=target)
    if result["state"] == "RUNNING" or (save_result and not run_sync):
        show_one(result, ACTION_EXECUTION_COLUMNS + ("output",), fmt, columns)
    else:
        show_value(result.get("output"), fmt)
    if result["state"] == "ERROR":
        raise click.exceptions.Exit(1)
