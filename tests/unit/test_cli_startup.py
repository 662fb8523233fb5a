"""``levante`` starts fast because parsing its arguments imports nothing heavy: the database, the
queue, the API, the workflow language and the HTTP client are imported by the command that uses
them, when it runs (issue 14). Checked in a fresh interpreter, after the help of the group and of
every command has been printed, so a command module that imports one of them at its top fails here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: What ``levante --help`` and ``levante COMMAND --help`` must not import (a prefix covers its submodules).
HEAVY = ("sqlalchemy", "alembic", "kombu", "falcon", "gunicorn", "yaql", "jinja2", "jsonschema", "httpx",
         "rich", "wsgiref", "levante.db", "levante.node", "levante.api", "levante.engine", "levante.executor",
         "levante.messaging", "levante.workflows", "levante.client", "levante.actions", "levante.cli.httpserver")

#: Runs in the fresh interpreter: prints the help of the group and of every command (to
#: /dev/null), then the names of the modules loaded, as JSON on stdout.
PROBE = """
import contextlib, json, os, sys
from levante.cli.main import cli
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
    for args in [["--help"], *([name, "--help"] for name in cli.list_commands(None))]:
        try:
            cli.main(args, prog_name="levante")
        except SystemExit as exc:
            assert exc.code == 0, (args, exc.code)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded(names: list[str]) -> list[str]:
    return [n for n in names if any(n == h or n.startswith(h + ".") for h in HEAVY)]


def test_help_imports_nothing_heavy() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "levante.cli.run" in modules and "levante.cli.server" in modules  # every command was loaded
    assert _loaded(modules) == []


def test_the_check_sees_a_heavy_import() -> None:
    assert _loaded(["click", "sqlalchemy.orm", "levante.dbx", "levante.db", "richer"]) == ["sqlalchemy.orm",
                                                                                           "levante.db"]


#: What ``levante run`` on the embedded defaults must not import: the broker's client (an
#: embedded node has no broker), Alembic (a new SQLite file gets its schema without it: see
#: levante/db/fresh_schema.py), the API and the HTTP client.
NOT_FOR_RUN = ("kombu", "amqp", "alembic", "mako", "falcon", "httpx", "levante.messaging.transport", "levante.api")

RUN_PROBE = """
import contextlib, json, os, sys
from levante.cli.main import cli
with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
    try:
        cli.main(["run", "examples/hello.yaml"], prog_name="levante")
    except SystemExit as exc:
        assert exc.code == 0, exc.code
print(json.dumps(sorted(sys.modules)))
"""


def test_run_on_the_embedded_defaults_loads_no_broker_client_and_no_alembic() -> None:
    done = subprocess.run([sys.executable, "-c", RUN_PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    modules = json.loads(done.stdout)
    assert "levante.node" in modules and "levante.db.fresh_schema" in modules  # it did run a node
    assert [n for n in modules if any(n == h or n.startswith(h + ".") for h in NOT_FOR_RUN)] == []
