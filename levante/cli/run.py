"""``levante run FILE.yaml``: run a workflow start to end on the embedded defaults.

Contract (DESIGN.md section 4): a temporary SQLite database unless ``--db`` is given; waits for the
end; ``--json`` prints one JSON object ``{"id", "workflow_name", "state", "state_info", "input",
"output", "tasks": [{"name", "state", "state_info", "published"}]}``. Exit status 0 when the
execution ends in SUCCESS, 1 when it ends otherwise, 2 for bad usage or an invalid workflow.

While it runs, progress goes to stderr (:mod:`levante.cli.progress`, reading the node's database):
the live panel when stderr is a terminal, otherwise plain lines, except with ``--json``, where
stderr stays quiet off a terminal so that scripts see nothing but the one JSON object.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any

import click

from levante import config as config_mod
from levante.cli import progress
from levante.cli.common import EXIT_OTHER, EXIT_USAGE, fail
from levante.exceptions import LevanteError, TransportError

if TYPE_CHECKING:
    from levante.node import Node


def _json_arg(text: str | None, what: str) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise click.UsageError(f"{what} is not valid JSON: {exc}") from None


def _pick_workflow(document: Any, wanted: str | None) -> str:
    names = list(document.workflows)
    if wanted:
        for name in (wanted, f"{document.name}.{wanted}" if document.name else wanted):
            if name in document.workflows:
                return name
        raise click.UsageError(f"no workflow {wanted!r} in the file (workflows: {', '.join(names)})")
    if len(names) == 1:
        return names[0]
    raise click.UsageError(f"the file has several workflows; say which with --workflow ({', '.join(names)})")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workflow", "-w", "workflow", help="Workflow to run when the file has several.")
@click.option("--input", "-i", "input_text", help="Workflow input as a JSON object.")
@click.option("--input-file", type=click.Path(dir_okay=False, exists=True), help="Workflow input from a JSON file.")
@click.option("--params", "params_text", help="Execution params as a JSON object (e.g. {\"task_name\": \"t\"}).")
@click.option("--env", "env_text", help="Execution environment as a JSON object.")
@click.option("--db", "db_url", help="Database URL (default: a temporary SQLite file).")
@click.option("--timeout", type=float, default=None, help="Give up waiting after this many seconds.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the outcome.")
def run(file: str, workflow: str | None, input_text: str | None, input_file: str | None,
        params_text: str | None, env_text: str | None, db_url: str | None, timeout: float | None,
        as_json: bool) -> None:
    """Run a workflow and wait for its end."""
    if input_text and input_file:
        raise click.UsageError("give --input or --input-file, not both")
    if input_file:
        with open(input_file, encoding="utf-8") as handle:
            input_text = handle.read()
    wf_input = _json_arg(input_text, "--input") or {}
    params = _json_arg(params_text, "--params") or {}
    if not isinstance(wf_input, dict) or not isinstance(params, dict):
        raise click.UsageError("--input and --params must be JSON objects")
    env = _json_arg(env_text, "--env")
    if env is not None:
        params["env"] = env
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as exc:
        raise click.UsageError(f"cannot read {file}: {exc.strerror}") from None
    from levante.workflows import parser

    document, errors = parser.inspect(text)
    if errors or document is None:
        for error in errors:
            click.echo(error.format(file), err=True)
        raise SystemExit(2)
    for warning in document.warnings:  # accepted, but probably not meant (see levante validate)
        click.echo(f"warning: {warning.format(file)}", err=True)
    name = _pick_workflow(document, workflow)
    with tempfile.TemporaryDirectory(prefix="levante-run-") as tmp:
        url = db_url or f"sqlite:///{os.path.join(tmp, 'levante.db')}"
        try:
            config = config_mod.load(db_url=url, executor_threads=16)
        except ValueError as exc:
            fail(str(exc), EXIT_USAGE)
        config_mod.configure_logging(config, "%(levelname)s %(name)s: %(message)s")
        try:
            code = _execute(config, document.kind, text, file, name, wf_input, params, timeout, as_json)
        except ValueError as exc:  # a database or broker URL that is not one
            fail(str(exc), EXIT_USAGE)
        except TransportError as exc:  # a database or broker that cannot be reached or used
            fail(str(exc), EXIT_OTHER)
    raise SystemExit(code)


def _execute(config: Any, kind: str, text: str, file: str, name: str, wf_input: dict[str, Any],
             params: dict[str, Any], timeout: float | None, as_json: bool) -> int:
    from levante.db import repository as repo
    from levante.db.session import transaction
    from levante.engine.service.definitions import store
    from levante.node import Node

    node = Node(config).start()
    try:
        with transaction(node.session_factory) as session:
            store(session, kind, text, update=True, filename=file, keep=node.service.catalog.cache.put)
        try:
            ex = node.service.start_execution(name, wf_input, params)
        except LevanteError as exc:
            click.echo(f"levante run: {exc}", err=True)
            return 2
        if as_json and not sys.stderr.isatty():
            ex = node.service.wait(ex.id, timeout)
        else:
            progress.follow(_node_source(node, ex.id), ex.id, timeout)
            ex = node.service.get_execution(ex.id)
        with transaction(node.read_factory) as session:
            tasks = repo.tasks_of(session, ex.id)
    finally:
        node.stop()
    outcome = {
        "id": ex.id, "workflow_name": ex.workflow_name, "state": str(ex.state), "state_info": ex.state_info,
        "input": ex.input, "output": ex.output,
        "tasks": [{"name": t.name, "state": str(t.state), "state_info": t.state_info, "published": t.published}
                  for t in tasks],
    }
    if as_json:
        click.echo(json.dumps(outcome, default=str))
    else:
        _print_human(outcome)
    return 0 if outcome["state"] == "SUCCESS" else 1


def _node_source(node: Node, execution_id: str) -> progress.Source:
    """Progress snapshots from the node's database; the node's engine tells when the execution
    ends, so the last snapshot comes as soon as it does."""
    from levante.db import repository as repo
    from levante.db.session import transaction

    def snapshot(wait: float) -> progress.Snapshot:
        if wait > 0:
            node.service.wait(execution_id, wait)
        with transaction(node.read_factory) as session:
            ex = repo.get_execution(session, execution_id)
            tasks = repo.tasks_of(session, execution_id)
        return ({"id": ex.id, "workflow_name": ex.workflow_name, "state": str(ex.state)},
                [{"name": t.name, "state": str(t.state)} for t in tasks])
    return snapshot


def _print_human(outcome: dict[str, Any]) -> None:
    click.echo(f"Execution {outcome['id']} ({outcome['workflow_name']}): {outcome['state']}")
    if outcome["state_info"]:
        click.echo(f"  {outcome['state_info']}")
    for task in outcome["tasks"]:
        info = f"  ({task['state_info'].splitlines()[0]})" if task["state_info"] else ""
        click.echo(f"  {task['state']:<9} {task['name']}{info}")
    click.echo("Output:")
    click.echo(json.dumps(outcome["output"], indent=2, default=str, ensure_ascii=False))

