"""``workflow-graph`` and ``execution-graph``: the task graph as Graphviz dot, Mermaid or SVG.

Edges come from the ``on-success`` (green), ``on-error`` (red), ``on-complete`` (blue) and
``on-skip`` clauses of direct workflows and from ``requires`` of reverse workflows (dashed). In an
execution's graph each task that ran is coloured by its state (of its latest run).

SVG is laid out by Graphviz (``dot -Tsvg``) when its ``dot`` command is installed, and otherwise by
the small layered layout of :mod:`levante.cli.svg`, so ``--format svg`` works everywhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

import click

from levante.cli.common import client, read_text
from levante.exceptions import LevanteError

if TYPE_CHECKING:
    from levante.workflows.specs import WorkflowSpec

EDGE_COLOURS = {"on-success": "green", "on-error": "red", "on-complete": "blue", "on-skip": "grey",
                "requires": "black"}
STATE_COLOURS = {"SUCCESS": "#a6e3a1", "ERROR": "#f38ba8", "RUNNING": "#89b4fa", "WAITING": "#f9e2af",
                 "DELAYED": "#f9e2af", "IDLE": "#e5e5e5", "PAUSED": "#fab387", "CANCELLED": "#bac2de",
                 "SKIPPED": "#cdd6f4"}


def edges(spec: WorkflowSpec) -> list[tuple[str, str, str, str]]:
    """``(from, to, kind, label)`` for each transition (label: the guard, if any)."""
    out = []
    for name, task in spec.tasks.items():
        for event, clause in task.clauses():
            for transition in clause.transitions:
                if transition.is_command:
                    continue
                label = "" if transition.condition in (None, True) else str(transition.condition)
                out.append((name, transition.target, event, label))
        for required in task.requires:
            out.append((required, name, "requires", ""))
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(spec: WorkflowSpec, states: dict[str, str] | None = None) -> str:
    """The graph in Graphviz's dot language."""
    lines = [f"digraph {_quote(spec.name)} {{", "  rankdir=TB;", '  node [shape=box, style="rounded,filled", '
             'fillcolor="#ffffff"];']
    for name in spec.tasks:
        attrs = []
        if states and name in states:
            attrs.append(f'fillcolor="{STATE_COLOURS.get(states[name], "#ffffff")}"')
            label = _quote(name)[:-1] + "\\n" + states[name] + '"'
            attrs.append(f"label={label}")
        lines.append(f"  {_quote(name)}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    for src, dst, kind, label in edges(spec):
        attrs = [f"color={EDGE_COLOURS[kind]}"]
        if kind == "requires":
            attrs.append("style=dashed")
        if label:
            attrs.append(f"label={_quote(label)}")
        lines.append(f"  {_quote(src)} -> {_quote(dst)} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines)


def _mermaid_id(name: str, ids: dict[str, str]) -> str:
    return ids.setdefault(name, f"t{len(ids)}")


def to_mermaid(spec: WorkflowSpec, states: dict[str, str] | None = None) -> str:
    """The graph as a Mermaid flowchart."""
    ids: dict[str, str] = {}
    lines = ["flowchart TD"]
    for name in spec.tasks:
        shown = f"{name}<br/>{states[name]}" if states and name in states else name
        lines.append(f'    {_mermaid_id(name, ids)}["{shown.replace(chr(34), "#quot;")}"]')
    for index, (src, dst, kind, label) in enumerate(edges(spec)):
        arrow = "-.->" if kind == "requires" else "-->"
        text = label or ("" if kind in ("on-success", "requires") else kind)
        text = text.replace('"', "#quot;").replace("|", "#124;")
        middle = f'{arrow}|"{text}"|' if text else arrow
        lines.append(f"    {_mermaid_id(src, ids)} {middle} {_mermaid_id(dst, ids)}")
        lines.append(f"    linkStyle {index} stroke:{EDGE_COLOURS[kind]}")
    for state, colour in STATE_COLOURS.items():
        if states and state in states.values():
            lines.append(f"    classDef {state.lower()} fill:{colour}")
    for name, state in (states or {}).items():
        if name in ids:
            lines.append(f"    class {ids[name]} {state.lower()}")
    return "\n".join(lines)


def to_svg(spec: WorkflowSpec, states: dict[str, str] | None = None) -> str:
    """The graph as an SVG document: Graphviz's layout when ``dot`` is installed, else ours."""
    dot = shutil.which("dot")
    if dot:
        try:
            return subprocess.run([dot, "-Tsvg"], input=to_dot(spec, states), capture_output=True, text=True,
                                  timeout=60, check=True).stdout
        except (OSError, subprocess.SubprocessError):
            pass  # a broken Graphviz: draw it ourselves
    return layered_svg(spec, states)


def layered_svg(spec: WorkflowSpec, states: dict[str, str] | None = None) -> str:
    """The graph as SVG, laid out without Graphviz."""
    from levante.cli import svg  # its XML escaping loads urllib.request and http.client

    edge_list = [svg.Edge(src, dst, EDGE_COLOURS[kind], kind == "requires", label, kind)
                 for src, dst, kind, label in edges(spec)]
    fills = {name: STATE_COLOURS.get(state, "#ffffff") for name, state in (states or {}).items()}
    return svg.render(spec.name, list(spec.tasks), edge_list, fills, states)


def render(spec: WorkflowSpec, fmt: str, states: dict[str, str] | None = None) -> str:
    """The graph in ``fmt``: ``dot``, ``mermaid`` or ``svg``."""
    if fmt == "svg":
        return to_svg(spec, states)
    return to_mermaid(spec, states) if fmt == "mermaid" else to_dot(spec, states)


def _spec_from(text: str, wanted: str | None, where: str) -> WorkflowSpec:
    from levante.workflows import parser  # YAQL, Jinja2 and JSON Schema: loaded only to draw

    try:
        document = parser.parse(text, filename=where)
    except LevanteError as exc:
        raise click.UsageError(f"{where}: {exc}") from None
    names = list(document.workflows)
    if wanted:
        for name in (wanted, f"{document.name}.{wanted}"):
            if name in document.workflows:
                return document.workflows[name]
        raise click.UsageError(f"no workflow {wanted!r} in {where} (workflows: {', '.join(names)})")
    if len(names) != 1:
        raise click.UsageError(f"{where} has {len(names)} workflows; say which with --workflow "
                               f"({', '.join(names)})")
    return document.workflows[names[0]]


def _format_option(func: Any) -> Any:
    return click.option("--format", "fmt", type=click.Choice(("dot", "mermaid", "svg")),
                        default="dot", show_default=True,
                        help="Graph language (svg: laid out by Graphviz's dot when installed).")(func)


@click.command("workflow-graph")
@click.argument("source")
@click.option("--workflow", "-w", "wanted", default=None, help="Workflow of the file to draw.")
@click.option("--namespace", default=None)
@_format_option
def workflow_graph(source: str, wanted: str | None, namespace: str | None, fmt: str) -> None:
    """Draw the task graph of a workflow: SOURCE is a YAML file, or the name or id of a stored
    workflow."""
    if os.path.isfile(source):
        spec = _spec_from(read_text(source), wanted, source)
    else:
        row = client().get_workflow(source, namespace)
        spec = _spec_from(row["definition"], wanted or row["name"], row["name"])
    click.echo(render(spec, fmt).rstrip("\n"))


@click.command("execution-graph")
@click.argument("execution_id")
@_format_option
def execution_graph(execution_id: str, fmt: str) -> None:
    """Draw an execution's task graph, the tasks coloured by their states."""
    api = client()
    ex = api.get_execution(execution_id)
    row = api.get_workflow(ex["workflow_id"] or ex["workflow_name"], ex.get("workflow_namespace") or None)
    spec = _spec_from(row["definition"], row["name"], row["name"])
    states: dict[str, str] = {}
    for task in api.list_tasks(execution_id, sort_keys="created_at", sort_dirs="asc"):
        states[task["name"]] = task["state"]
    click.echo(render(spec, fmt, states).rstrip("\n"))


commands = [workflow_graph, execution_graph]
