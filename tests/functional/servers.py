"""Shared by the tests that start a real ``levante server`` subprocess."""

from __future__ import annotations

import re
import subprocess
import time
import urllib.request
from pathlib import Path

#: The line ``levante server`` prints when it serves.
READY = re.compile(r"serving on (http://\S+/v2)")


def wait_ready(proc: subprocess.Popen[bytes], out: Path, err: Path, timeout: float = 60.0) -> str:
    """The API URL the server printed (to ``out``), once ``/health`` answers.

    Raises:
        RuntimeError: the server exited, or was not ready in time (with what it wrote to ``err``).
    """
    deadline = time.monotonic() + timeout
    url = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"levante server exited with {proc.returncode}:\n{err.read_text()}")
        found = READY.search(out.read_text())
        if found:
            url = found.group(1)
            try:
                with urllib.request.urlopen(url.removesuffix("/v2") + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        return url
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError(f"levante server not ready after {timeout}s (url {url}):\n{err.read_text()}")
