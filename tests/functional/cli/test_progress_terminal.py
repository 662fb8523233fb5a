"""``levante execution-create WF --wait`` as a person sees it: under a pseudo-terminal the progress
bar advances frame by frame; through a pipe it prints one plain line per change."""

from __future__ import annotations

import errno
import fcntl
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
    f"    t{i:02d}:\n      action: std.sleep seconds=0.2\n"
    + (f"      on-success: t{i + 1:02d}\n" if i < TASKS else "")
    for i in range(1, TASKS + 1))
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
FRAME = re.compile(r"chain (RUNNING|SUCCESS)\s.*?(\d+)/(\d+) tasks")
DEADLINE = 60.0


@pytest.fixture(scope="module")
def chain_url(server_url: str) -> str:
    with Client(server_url) as client:
        client.create_workflows(CHAIN)  # type: ignore[attr-defined]
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


def test_the_progress_bar_advances_on_a_terminal(chain_url: str) -> None:
    code, screen = run_in_terminal(_command(chain_url), _env())
    text = ANSI.sub("", screen).replace("\r", "\n")  # the frames, without colours and cursor moves
    frames = [(state, int(done), int(total)) for state, done, total in FRAME.findall(text)]
    assert code == 0, screen
    assert "\x1b[" in screen  # drawn with terminal escapes (the live panel), not plain lines
    intermediate = [done for state, done, _ in frames if state == "RUNNING" and 0 < done < TASKS]
    assert len(set(intermediate)) >= 2, frames
    assert intermediate == sorted(intermediate), frames  # the bar never goes back
    assert ("SUCCESS", TASKS, TASKS) in frames
    assert re.search(r"running: t\d\d", text)  # the panel names the running task
    assert re.search(r"State\s*│\s*SUCCESS", text)  # then the execution's table


def test_plain_lines_off_a_terminal(chain_url: str) -> None:
    done = subprocess.run(_command(chain_url), env=_env(), cwd=ROOT, capture_output=True, text=True,
                          timeout=DEADLINE)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "\x1b[" not in done.stderr
    pattern = re.compile(r"^[0-9a-f-]{36} (RUNNING|SUCCESS) tasks (\d+)/(\d+)( running: t\d\d)?$")
    assert all(pattern.match(line) for line in lines), lines
    counts = [int(pattern.match(line).group(2)) for line in lines]  # type: ignore[union-attr]
    assert len({c for c in counts if 0 < c < TASKS}) >= 2 and counts == sorted(counts), lines
    assert lines[-1].endswith(f"SUCCESS tasks {TASKS}/{TASKS}")
    assert "SUCCESS" in done.stdout and "\x1b[" not in done.stdout
