"""Follow an execution to its end: ``execution-create --wait`` (over the REST API) and ``levante run``
(reading the in-process node's database).

On a terminal: a live panel on stderr (tasks done / total, a progress bar, the running tasks).
Otherwise one plain line on stderr each time something changes (the state or the tasks done), for
logs and pipes. Where the snapshots come from is a :data:`Source`: :func:`rest_source` here, and
``levante run`` has its own over the node. Rich is imported only for the panel.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from levante.states import COMPLETED, TASK_COMPLETED

if TYPE_CHECKING:
    from levante.client import Client

#: Seconds between two snapshots.
POLL = 0.25

#: An execution (``id``, ``workflow_name``, ``state``...) and its tasks (``name``, ``state``...).
Snapshot = tuple[dict[str, Any], list[dict[str, Any]]]
#: ``source(wait)``: wait up to ``wait`` seconds (less if the source learns the execution ended),
#: then take a snapshot.
Source = Callable[[float], Snapshot]


def rest_source(client: Client, execution_id: str) -> Source:
    """Snapshots read through the REST API (polled: the API has no way to announce the end)."""
    def snapshot(wait: float) -> Snapshot:
        time.sleep(wait)
        return client.get_execution(execution_id), client.list_tasks(execution_id)
    return snapshot


def _counts(tasks: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    done = sum(1 for t in tasks if t["state"] in TASK_COMPLETED)
    running = [t["name"] for t in tasks if t["state"] not in TASK_COMPLETED]
    return done, len(tasks), running


def wait(client: Client, execution_id: str, timeout: float | None, live: bool = True) -> dict[str, Any]:
    """Poll until the execution is final; return it (ClickException after ``timeout`` seconds).
    ``live`` allows the terminal panel (it is used only when stderr is a terminal)."""
    ex = follow(rest_source(client, execution_id), execution_id, timeout, live)
    if ex["state"] not in COMPLETED:
        raise click.ClickException(f"execution {ex['id']} is still {ex['state']} (gave up waiting)")
    return ex


def follow(source: Source, label: str, timeout: float | None, live: bool = True) -> dict[str, Any]:
    """Show the progress of an execution until it is final or ``timeout`` seconds have passed;
    return its last snapshot. The panel when ``live`` and stderr is a terminal, else plain lines
    prefixed with ``label``."""
    deadline = None if timeout is None else time.monotonic() + timeout
    if live and sys.stderr.isatty():
        return _follow_live(source, deadline)
    return _follow_plain(source, label, deadline)


def _over(ex: dict[str, Any], deadline: float | None) -> bool:
    return ex["state"] in COMPLETED or (deadline is not None and time.monotonic() > deadline)


def _follow_plain(source: Source, label: str, deadline: float | None) -> dict[str, Any]:
    last = None
    ex, tasks = source(0)
    while True:
        done, total, running = _counts(tasks)
        line = (f"{ex['state']} tasks {done}/{total}"
                + (f" running: {', '.join(running)}" if running else ""))
        if line != last:
            click.echo(f"{label} {line}", err=True)
            last = line
        if _over(ex, deadline):
            return ex
        ex, tasks = source(POLL)


def _follow_live(source: Source, deadline: float | None) -> dict[str, Any]:
    from rich.console import Console, Group
    from rich.live import Live
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.text import Text

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("tasks"), TimeElapsedColumn())
    running_text = Text("")
    ex, tasks = source(0)
    job = bar.add_task(ex["id"], total=None)
    with Live(Group(bar, running_text), console=Console(stderr=True), refresh_per_second=8, transient=False):
        while True:
            done, total, running = _counts(tasks)
            bar.update(job, completed=done, total=max(total, 1),
                       description=escape(f"{ex.get('workflow_name', '')} {ex['state']}"))
            running_text.plain = f"running: {', '.join(running)}" if running else ""
            if _over(ex, deadline):
                return ex
            ex, tasks = source(POLL)
