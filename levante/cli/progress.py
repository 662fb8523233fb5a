"""``execution-create --wait``: follow an execution to its end.

On a terminal: a live panel (tasks done / total, a progress bar, the running tasks). Otherwise one
plain line each time something changes (the state or the tasks done), for logs and pipes.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import click
from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from levante.client import Client
from levante.client.handles import FINAL, TASK_DONE

POLL = 0.25


def _snapshot(client: Client, execution_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    ex = client.get_execution(execution_id)  # type: ignore[attr-defined]
    tasks = client.list_tasks(execution_id)  # type: ignore[attr-defined]
    return ex, tasks


def _counts(tasks: list[dict[str, Any]]) -> tuple[int, int, list[str]]:
    done = sum(1 for t in tasks if t["state"] in TASK_DONE)
    running = [t["name"] for t in tasks if t["state"] not in TASK_DONE]
    return done, len(tasks), running


def wait(client: Client, execution_id: str, timeout: float | None, live: bool = True) -> dict[str, Any]:
    """Poll until the execution is final; return it. ``live`` allows the terminal panel (it is
    used only when stderr is a terminal)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    if live and sys.stderr.isatty():
        return _wait_live(client, execution_id, deadline)
    return _wait_plain(client, execution_id, deadline)


def _check_deadline(deadline: float | None, ex: dict[str, Any]) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise click.ClickException(f"execution {ex['id']} is still {ex['state']} (gave up waiting)")


def _wait_plain(client: Client, execution_id: str, deadline: float | None) -> dict[str, Any]:
    last = None
    while True:
        ex, tasks = _snapshot(client, execution_id)
        done, total, running = _counts(tasks)
        line = (f"{ex['state']} tasks {done}/{total}"
                + (f" running: {', '.join(running)}" if running else ""))
        if line != last:
            click.echo(f"{execution_id} {line}", err=True)
            last = line
        if ex["state"] in FINAL:
            return ex
        _check_deadline(deadline, ex)
        time.sleep(POLL)


def _wait_live(client: Client, execution_id: str, deadline: float | None) -> dict[str, Any]:
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("tasks"), TimeElapsedColumn())
    job = bar.add_task(execution_id, total=None)
    running_text = Text("")
    console = Console(stderr=True)
    with Live(Group(bar, running_text), console=console, refresh_per_second=8, transient=False):
        while True:
            ex, tasks = _snapshot(client, execution_id)
            done, total, running = _counts(tasks)
            bar.update(job, completed=done, total=max(total, 1),
                       description=f"{ex.get('workflow_name', '')} {ex['state']}")
            running_text.plain = f"running: {', '.join(running)}" if running else ""
            if ex["state"] in FINAL:
                return ex
            _check_deadline(deadline, ex)
            time.sleep(POLL)
