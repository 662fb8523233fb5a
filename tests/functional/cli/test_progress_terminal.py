"""``levante execution-create WF --wait`` and ``levante run FILE`` as a person sees them: under a
pseudo-terminal the progress bar advances frame by frame; through a pipe they print one plain line
per change (``levante run --json`` prints nothing but its JSON object)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from levante.client import Client

ROOT = Path(__file__).resolve().parents[3]
TASKS = 20
CHAIN = "version: '2.0'\nchain:\n  tasks:\n" + "".join(
    f"    t{i:02d}:\n      action: std.sleep seconds=<% 0.2 %>\n"
    + (f"      on-success: t{i + 1:02d}\n" if i < TASKS else "")
    for i in range(1, TASKS + 1))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
FRAME = re.compile(r"chain (RUNNING|SUCCESS)\s.*?(\d+)/(\d+) tasks")
DEADLINE = 60.0


@pytest.fixture(scope="module")
def chain_url(server_url: str) -> str:
    with Client(server_url) as client:
        client.create_workflows(CHAIN)
    return server_url


def _command(url: str) -> list[str]:
    return [sys.executable, "-m", "levante", "--url", url, "execution-create", "chain", "--wait"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}
    env.update(PYTHONPATH=str(ROOT), TERM="xterm-256color", COLUMNS="120", LINES="40")
    env.pop("NO_COLOR", None)
    return env


def run_in_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``argv`` with a pseudo-terminal (120x40) as its stdin, stdout and stderr; return its
    exit status and everything it wrote to the terminal."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the terminal is already its controlling tty
        try:
            os.chdir(ROOT)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks: list[bytes] = []
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                data = os.read(fd, 65536)
            except OSError as exc:  # EIO: the child closed the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        else:
            os.kill(pid, 9)
            raise AssertionError("the command did not end:\n" + b"".join(chunks).decode(errors="replace"))
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode(errors="replace")


def _panel_advances(code: int, screen: str) -> str:
    """Check that the live panel was drawn and its bar advanced to the end; return the screen's
    text without colours and cursor moves."""
    text = ANSI.sub("", screen).replace("\r", "\n")
    frames = [(state, int(done), int(total)) for state, done, total in FRAME.findall(text)]
    assert code == 0, screen
    assert "\x1b[" in screen  # drawn with terminal escapes (the live panel), not plain lines
    intermediate = [done for state, done, _ in frames if state == "RUNNING" and 0 < done < TASKS]
    assert len(set(intermediate)) >= 2, frames
    assert intermediate == sorted(intermediate), frames  # the bar never goes back
    assert ("SUCCESS", TASKS, TASKS) in frames
    assert re.search(r"running: t\d\d", text)  # the panel names the running task
    return text


def _plain_lines_advance(stderr: str) -> None:
    lines = stderr.splitlines()
    assert "\x1b[" not in stderr
    pattern = re.compile(r"^[0-9a-f-]{36} (RUNNING|SUCCESS) tasks (\d+)/(\d+)( running: t\d\d)?$")
    assert lines and all(pattern.match(line) for line in lines), lines
    counts = [int(pattern.match(line).group(2)) for line in lines]  # type: ignore[union-attr]
    assert len({c for c in counts if 0 < c < TASKS}) >= 2 and counts == sorted(counts), lines
    assert lines[-1].endswith(f"SUCCESS tasks {TASKS}/{TASKS}")


def test_the_progress_bar_advances_on_a_terminal(chain_url: str) -> None:
    text = _panel_advances(*run_in_terminal(_command(chain_url), _env()))
    assert re.search(r"State\s*│\s*SUCCESS", text)  # then the execution's table


def test_plain_lines_off_a_terminal(chain_url: str) -> None:
    done = subprocess.run(_command(chain_url), env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    _plain_lines_advance(done.stderr)
    assert "SUCCESS" in done.stdout and "\x1b[" not in done.stdout


@pytest.fixture(scope="module")
def chain_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("run") / "chain.yaml"
    path.write_text(CHAIN)
    return str(path)


def _run(*args: str) -> list[str]:
    return [sys.executable, "-m", "levante", "run", *args]


def test_levante_run_shows_the_panel_on_a_terminal(chain_file: str) -> None:
    text = _panel_advances(*run_in_terminal(_run(chain_file), _env()))
    assert re.search(r"Execution [0-9a-f-]{36} \(chain\): SUCCESS", text)  # then the outcome
    # with --json too (stdout is the same terminal here): the panel, then the one JSON line
    text = _panel_advances(*run_in_terminal(_run(chain_file, "--json"), _env()))
    [line] = [line for line in text.splitlines() if line.startswith("{")]
    outcome = json.loads(line)
    assert outcome["state"] == "SUCCESS" and len(outcome["tasks"]) == TASKS


def test_levante_run_plain_lines_off_a_terminal(chain_file: str) -> None:
    done = subprocess.run(_run(chain_file), env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    _plain_lines_advance(done.stderr)
    assert done.stdout.startswith("Execution ") and "\x1b[" not in done.stdout


def test_levante_run_json_off_a_terminal_prints_only_the_object(chain_file: str, tmp_path: Path) -> None:
    short = tmp_path / "short.yaml"
    short.write_text(CHAIN.replace("seconds=0.2", "seconds=0.01"))
    done = subprocess.run(_run(str(short), "--json"), env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=DEADLINE)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.count("\n") == 1
    outcome = json.loads(done.stdout)
    assert outcome["state"] == "SUCCESS" and [t["name"] for t in outcome["tasks"]][-1] == f"t{TASKS}"
    # given up on: still one JSON object, exit status 1
    late = subprocess.run(_run(chain_file, "--json", "--timeout", "0.5"), env=_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=DEADLINE)
    assert late.returncode == 1 and late.stderr == "" and json.loads(late.stdout)["state"] == "RUNNING"
