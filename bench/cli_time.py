"""How long the ``levante`` command takes to start: wall time of whole processes, and what they import.

    python bench/cli_time.py [--runs 10] [--top 15] [--json]

Each command runs ``--runs`` times as ``python -m levante ...`` (from this tree, with no
``LEVANTE_*`` variables); the best and the median wall time are printed:

- ``--help``: the group's help, which lists every command;
- ``execution-list --help``: the help of one command that talks to a server;
- ``run examples/hello.yaml``: a whole workflow on the embedded defaults (temporary SQLite file,
  in-process queue and executor).

Then, for ``--help`` and for ``run``, the imports that cost most, by cumulative time, from one run
under ``python -X importtime`` (a module's cumulative time holds the modules it imported first).
``--json`` prints one JSON object instead of the text.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "--help": ["--help"],
    "execution-list --help": ["execution-list", "--help"],
    "run examples/hello.yaml": ["run", "examples/hello.yaml"],
}
PROFILED = ("--help", "run examples/hello.yaml")


def _env() -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE (set on some machines) makes every run compile the package's modules
    # from source again (about 0.17 s of `levante run` here): an installed package has its bytecode.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_") and k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _argv(args: list[str], *options: str) -> list[str]:
    return [sys.executable, *options, "-m", "levante", *args]


def time_command(args: list[str], runs: int) -> list[float]:
    """Wall seconds of ``runs`` runs of ``levante ARGS`` (each must exit 0)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(_argv(args), cwd=ROOT, env=_env(), capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"levante {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return times


def top_imports(args: list[str], top: int) -> list[tuple[str, float]]:
    """The ``top`` modules with the longest cumulative import time (ms) in one run of ``levante ARGS``.
    A module imported inside another is listed too: the list shows where the time goes at each level."""
    done = subprocess.run(_argv(args, "-X", "importtime"), cwd=ROOT, env=_env(), capture_output=True, text=True)
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line[len("import time:"):].split("|")
        found.append((name.strip(), int(cumulative) / 1000))
    return sorted(found, key=lambda item: -item[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="Runs of each command (default 10).")
    parser.add_argument("--top", type=int, default=15, help="Imports listed per profiled command (default 15).")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    options = parser.parse_args()
    report: dict[str, dict[str, object]] = {}
    for label, args in COMMANDS.items():
        times = time_command(args, options.runs)
        report[label] = {"best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3),
                         "runs": options.runs}
        if not options.json:
            print(f"levante {label:<26} best {min(times):6.3f} s   median {statistics.median(times):6.3f} s"
                  f"   ({options.runs} runs)", flush=True)
    for label in PROFILED:
        imports = top_imports(COMMANDS[label], options.top)
        report[label]["top_imports_ms"] = {name: round(ms, 1) for name, ms in imports}
        if not options.json:
            print(f"\nlevante {label}: top imports by cumulative time")
            for name, ms in imports:
                print(f"  {ms:8.1f} ms  {name}")
    if options.json:
        print(json.dumps(report))


if __name__ == "__main__":
    main()
