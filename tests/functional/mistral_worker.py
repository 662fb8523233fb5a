"""Runs python-mistralclient's ``mistral`` command many times in one process.

The ``mistral`` executable is ``mistralclient.shell:main``; starting it costs about a second of
imports (cliff, keystoneauth, oslo), so a test running sixty commands would spend a minute
importing. This worker imports it once and then, for each line of standard input (a JSON list:
the command line, without ``mistral``), calls ``main(argv)`` exactly as the executable does, with a
fresh shell each time, and writes one JSON line ``{"rc", "stdout", "stderr"}``. The environment
(``OS_AUTH_URL``, ``OS_AUTH_TOKEN``, ``OS_MISTRAL_URL``...) is the worker's own.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys

from mistralclient import shell


def run(argv: list[str]) -> dict[str, object]:
    """One ``mistral`` command: its exit status and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    # The shell configures logging (to the stderr of the moment) only when nothing is configured.
    logging.root.handlers.clear()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = shell.main(argv)
        except SystemExit as exc:  # argparse errors and --help
            code = exc.code if isinstance(exc.code, int) else 1
    return {"rc": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def main() -> None:
    """Serve commands from standard input until it closes."""
    for line in sys.stdin:
        sys.stdout.write(json.dumps(run(json.loads(line))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
