"""The client methods are visible to type checkers: ``levante/client/operations.py`` is what the
generator writes from ``Calls`` today, and mypy accepts right uses of ``Client`` and
``AsyncClient`` and rejects wrong ones."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

from levante.client import AsyncClient, Client, calls, stubgen

ROOT = Path(__file__).resolve().parents[3]

RIGHT = '''
from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, assert_type

from levante.client import AsyncClient, Client


def sync_use(client: Client) -> str:
    executions = client.list_executions(limit=5, state="RUNNING")
    assert_type(executions, list[dict[str, Any]])
    ex = client.get_execution(executions[0]["id"])
    assert_type(ex, dict[str, Any])
    assert_type(client.delete_execution(ex["id"], force=True), None)
    ran = client.run_action("std.echo", {"output": 1}, run_sync=True, target="edge")
    assert_type(client.create_workflows("version: '2.0'", namespace="ns"), list[dict[str, Any]])
    return str(ran["state"])


async def async_use(aclient: AsyncClient, execution_id: str) -> list[dict[str, Any]]:
    ex = await assert_type(aclient.get_execution(execution_id), Coroutine[Any, Any, dict[str, Any]])
    assert_type(ex, dict[str, Any])
    await aclient.update_execution(ex["id"], "PAUSED", state_info="why")
    return await aclient.list_tasks(execution_id, limit=10)
'''
#: Each misuse, with the mypy error code it must get (``# expect: CODE`` on its line).
WRONG = '''
from __future__ import annotations

from levante.client import AsyncClient, Client


def misuse(client: Client) -> None:
    client.get_execution(execution="x")  # expect: call-arg
    client.delete_execution("x", forse=True)  # expect: call-arg
    count: int = client.get_execution("x")  # expect: assignment
    client.run_action("std.echo", run_sync="yes")  # expect: arg-type
    client.run_action("std.echo", {}, True)  # expect: call-arg
    client.no_such_operation()  # expect: attr-defined


async def async_misuse(aclient: AsyncClient) -> None:
    aclient.get_execution("x")["state"]  # expect: index
    tasks: list[str] = await aclient.list_tasks("x")  # expect: assignment
'''


def test_operations_py_is_what_the_generator_writes() -> None:
    assert stubgen.TARGET.read_text(encoding="utf-8") == stubgen.render(), (
        "levante/client/operations.py is out of date: run python -m levante.client.stubgen")


def test_every_operation_is_declared_and_attached() -> None:
    text = stubgen.TARGET.read_text(encoding="utf-8")
    for name in calls.OPERATIONS:
        assert f"\n        def {name}(" in text and f"\n        async def {name}(" in text
        assert inspect.signature(getattr(Client, name)) == inspect.signature(getattr(calls.Calls, name))
        assert inspect.iscoroutinefunction(getattr(AsyncClient, name))


def test_mypy_accepts_right_uses_and_rejects_misuses(tmp_path: Path) -> None:
    (tmp_path / "right_use.py").write_text(RIGHT)
    (tmp_path / "wrong_use.py").write_text(WRONG)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--show-error-codes",
         "--no-error-summary", "--cache-dir", str(tmp_path / "cache"), str(tmp_path / "right_use.py"),
         str(tmp_path / "wrong_use.py"), "levante/client"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    errors = re.findall(r"^(\S+?):(\d+): error: .*\[([a-z-]+)\]$", done.stdout, re.MULTILINE)
    assert done.returncode == 1 and errors, done.stdout + done.stderr
    assert not [e for e in errors if "wrong_use" not in e[0]], done.stdout  # the right uses and the package pass
    expected = {(number, line.split("# expect: ")[1]) for number, line in enumerate(WRONG.splitlines(), 1)
                if "# expect: " in line}
    assert {(int(line), code) for _, line, code in errors} == expected, done.stdout
