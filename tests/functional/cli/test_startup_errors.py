"""What a newcomer meets first: a database or broker that cannot be reached, a driver that is not
installed, a setting that is not valid. Each ends the command with one line on stderr that says
which and what to do, and a non-zero exit status; never a traceback. Run as real processes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from levante.cli.main import cli
from tests.functional.client.conftest import start_server

HELLO = """
version: '2.0'
hello:
  tasks:
    t:
      action: std.noop
"""
CLOSED_PG = "postgresql://postgres@127.0.0.1:1/levante"
CLOSED_AMQP = "amqp://guest:guest@127.0.0.1:1//"
#: Python code run before the command: psycopg cannot be imported, as on a machine without it.
NO_PSYCOPG = "sys.modules['psycopg'] = None"


def _levante(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
             before: str = "") -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{before}\nfrom levante.cli.main import main\nsys.argv = ['levante', *{list(args)!r}]\nmain()"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}
    return subprocess.run([sys.executable, "-c", code], env={**clean, **(env or {})}, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


class _InProcess:
    """What :func:`_in_process` ran, shaped like a finished process."""

    def __init__(self, returncode: int, stderr: str) -> None:
        self.returncode, self.stderr = returncode, stderr


def _in_process(*args: str, env: dict[str, str] | None = None) -> _InProcess:
    """``levante ARGS`` in this process (click's CliRunner), for what fails before any logging is
    set up or any part is started (faster than a process: the machine is shared)."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LEVANTE_")}
    result = CliRunner().invoke(cli, list(args), env={**clean, **(env or {})}, prog_name="levante")
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return _InProcess(result.exit_code, result.stderr)


def _one_line(done: subprocess.CompletedProcess[str] | _InProcess, code: int, prefix: str, *parts: str) -> str:
    """The command exited with ``code`` after printing one line that starts with ``prefix`` and
    holds each of ``parts``."""
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert done.returncode == code and len(lines) == 1, (done.returncode, done.stderr)
    assert lines[0].startswith(prefix), lines[0]
    for part in parts:
        assert part in lines[0]
    return lines[0]


@pytest.fixture
def hello(tmp_path: Path) -> str:
    path = tmp_path / "hello.yaml"
    path.write_text(HELLO)
    return str(path)


@pytest.fixture
def sqlite(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'levante.db'}"


# --- the database -------------------------------------------------------------------------------


def test_server_with_a_database_on_a_closed_port(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    done = _levante(tmp_path, "server", "--port", "0", "--db", CLOSED_PG)
    _one_line(done, 1, f"levante server: error: cannot reach the database at {CLOSED_PG}: ",
              "Connection refused", "is it running", "--db or LEVANTE_DB_URL")


def test_server_with_a_database_host_that_does_not_exist(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    done = _levante(tmp_path, "server", "--port", "0",
                    env={"LEVANTE_DB_URL": "postgresql://postgres:secret@nohost.invalid/levante"})
    line = _one_line(done, 1, "levante server: error: cannot reach the database at "
                              "postgresql://postgres:***@nohost.invalid/levante: ", "nohost.invalid")
    assert "secret" not in line


@pytest.mark.parametrize("command", ["server", "run"])
def test_a_postgresql_url_without_psycopg_says_what_to_install(tmp_path: Path, hello: str, command: str) -> None:
    args = ["server", "--port", "0"] if command == "server" else ["run", hello]
    done = _levante(tmp_path, *args, "--db", "postgresql://postgres@127.0.0.1:5432/levante", before=NO_PSYCOPG)
    _one_line(done, 1, f"levante {command}: error: the database postgresql://postgres@127.0.0.1:5432/levante "
                       "needs the psycopg driver, which is not installed: pip install 'levante[postgres]'")


def test_a_database_whose_driver_is_not_installed(tmp_path: Path) -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("MySQLdb is installed here")
    done = _levante(tmp_path, "server", "--port", "0", "--db", "mysql://levante@127.0.0.1/levante")
    _one_line(done, 1, "levante server: error: the database mysql://levante@127.0.0.1/levante needs the Python "
                       "module 'MySQLdb', which is not installed")


@pytest.mark.parametrize(("url", "says"), [("foo://x", "unknown kind of database 'foo'"),
                                           ("levante.db", "'levante.db' is not a database URL")])
def test_a_database_url_that_is_not_one_is_bad_usage(hello: str, url: str, says: str) -> None:
    done = _in_process("run", "--db", url, hello)
    _one_line(done, 2, f"levante run: error: {says}", "sqlite:///FILE or postgresql://")


def test_a_sqlite_file_in_a_folder_that_does_not_exist(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'missing' / 'levante.db'}"
    done = _levante(tmp_path, "server", "--port", "0", "--db", url)
    _one_line(done, 1, f"levante server: error: cannot reach the database at {url}: ", "does its folder exist")


def test_run_with_a_database_on_a_closed_port(tmp_path: Path, hello: str) -> None:
    pytest.importorskip("psycopg")
    done = _levante(tmp_path, "run", hello, "--db", CLOSED_PG)
    _one_line(done, 1, f"levante run: error: cannot reach the database at {CLOSED_PG}: ", "Connection refused")


# --- the broker ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["all", "api", "engine", "executor"])
def test_every_role_with_a_broker_on_a_closed_port(tmp_path: Path, sqlite: str, role: str) -> None:
    done = _levante(tmp_path, "server", "--port", "0", "--role", role, "--db", sqlite, "--transport", CLOSED_AMQP)
    _one_line(done, 1, "levante server: error: cannot reach the message broker at amqp://guest:**@127.0.0.1:1//: ",
              "Connection refused", "--transport or LEVANTE_TRANSPORT_URL")


def test_a_broker_host_that_does_not_exist(tmp_path: Path) -> None:
    done = _levante(tmp_path, "server", "--role", "executor",
                    env={"LEVANTE_TRANSPORT_URL": "amqp://guest:guest@nohost.invalid:5672//"})
    _one_line(done, 1, "levante server: error: cannot reach the message broker at amqp://guest:**@nohost.invalid:5672//")


def test_an_unknown_kind_of_broker_is_bad_usage(tmp_path: Path) -> None:
    done = _levante(tmp_path, "server", "--role", "executor", "--transport", "amqq://guest@127.0.0.1//")
    _one_line(done, 2, "levante server: error: unknown kind of message broker 'amqq'", "memory:// or amqp://")


def test_run_with_a_broker_on_a_closed_port(tmp_path: Path, hello: str) -> None:
    done = _levante(tmp_path, "run", hello, env={"LEVANTE_TRANSPORT_URL": CLOSED_AMQP})
    _one_line(done, 1, "levante run: error: cannot reach the message broker at amqp://guest:**@127.0.0.1:1//")


# --- the server, for the client commands ------------------------------------------------------------


@pytest.mark.parametrize("args", [("execution-list",), ("execution-create", "hello", "--wait"),
                                  ("workflow-get", "hello", "-f", "json")])
def test_client_commands_when_the_server_is_down(args: tuple[str, ...]) -> None:
    done = _in_process("--url", "http://127.0.0.1:1/v2", *args)
    _one_line(done, 5, "levante: error: Cannot reach the Levante API at http://127.0.0.1:1/v2: ",
              "Is the server running", "--url or LEVANTE_URL")


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("env", "says"), [
    ({"LEVANTE_AUTH": "ture", "LEVANTE_HOST": "0.0.0.0"}, "LEVANTE_AUTH='ture' is not valid: give true or false"),
    ({"LEVANTE_ROLE": "engien"}, "LEVANTE_ROLE='engien' is not valid: give one of all, api, engine, executor"),
    ({"LEVANTE_LOG_LEVEL": "loud"}, "LEVANTE_LOG_LEVEL='loud' is not valid: give one of DEBUG, INFO, WARNING, ERROR"),
    ({"LEVANTE_PORT": "89890"}, "LEVANTE_PORT='89890' is not valid: give a whole number, from 0 to 65535"),
])
def test_a_setting_that_is_not_valid_stops_the_server(env: dict[str, str], says: str) -> None:
    _one_line(_in_process("server", env=env), 2, f"levante server: error: {says}")


def test_a_setting_that_is_not_valid_stops_run(hello: str) -> None:
    done = _in_process("run", hello, env={"LEVANTE_EXECUTOR_THREADS": "many"})
    _one_line(done, 2, "levante run: error: LEVANTE_EXECUTOR_THREADS='many' is not valid: give a whole number")


def test_the_log_level_applies_to_run(tmp_path: Path, hello: str) -> None:
    quiet = _levante(tmp_path, "run", hello, "--json")
    assert quiet.returncode == 0 and quiet.stderr == ""
    chatty = _levante(tmp_path, "run", hello, "--json", env={"LEVANTE_LOG_LEVEL": "info"})
    # The new SQLite file's schema is made without Alembic (levante/db/fresh_schema.py), which says so.
    assert chatty.returncode == 0 and "INFO levante.db.fresh_schema" in chatty.stderr


def test_the_log_level_applies_to_the_server(tmp_path: Path) -> None:
    proc, _url = start_server(tmp_path, env={"LEVANTE_LOG_LEVEL": "INFO", "LEVANTE_AUTHH": "true"})
    proc.terminate()
    proc.wait(15)
    log = (tmp_path / "server.out").read_text()
    assert " INFO levante.db.fresh_schema" in log  # a new file's schema, made without Alembic
    assert "WARNING levante.cli.server: LEVANTE_AUTHH is not a setting and is ignored; did you mean LEVANTE_AUTH?" \
        in log
