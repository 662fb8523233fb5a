"""A real ``levante server`` for the client's and the CLI's tests (one per test module)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

WORKFLOWS = """
version: '2.0'
greet:
  input: [name]
  output: {greeting: <% $.greeting %>}
  tasks:
    say:
      action: std.echo output="hi <% $.name %>"
      publish: {greeting: <% task().result %>}
      on-success: done
    done:
      action: std.noop
waiter:
  output: {answer: <% $.answer %>}
  tasks:
    wait:
      action: std.async_noop
      publish: {answer: <% task().result %>}
      on-success: done
    done:
      action: std.noop
failing:
  tasks:
    boom:
      action: std.fail
"""


def start_server(directory: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``levante server`` on a free port with a SQLite file in ``directory`` (``env``: extra
    variables, e.g. ``LEVANTE_AUTH``; the caller's ``LEVANTE_*`` ones are not passed on)."""
    log = directory / "server.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "levante", "server", "--port", "0", "--db",
             f"sqlite:///{directory / 'levante.db'}"],
            env={**{k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}, **(env or {})},
            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(rb"serving on (http://\S+/v2)", log.read_bytes())
        if found:
            return proc, found.group(1).decode()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError(f"the server did not start:\n{log.read_text()}")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The ``/v2`` URL of a server holding the workflows above."""
    proc, url = start_server(tmp_path_factory.mktemp("server"))
    try:
        from levante.client import Client

        with Client(url) as client:
            client.create_workflows(WORKFLOWS)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)
