"""Levante benchmarks: one JSON object per scenario on standard output.

    python bench/run.py [--scenario NAME] [--backend embedded|postgres-rabbitmq] [--repeat N]

Each line is ``{"scenario", "backend", "tasks", "seconds", "tasks_per_s", ...}`` where ``seconds`` is
the median of ``--repeat`` runs (DESIGN.md section 4). Scenarios that need parts not built yet are
listed by ``--list`` with the reason and skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import engine_scenarios  # noqa: E402
from levante.workflows import parse_workflow  # noqa: E402


def _chain_text(n: int) -> str:
    lines = ["version: '2.0'", "chain:", "  input:", "    - x: 1", "  tasks:"]
    for i in range(n):
        lines.append(f"    t{i}:")
        lines.append(f"      action: std.echo output=<% $.x + {i} %>")
        lines.append(f"      publish: {{r{i}: <% task().result %>}}")
        if i + 1 < n:
            lines.append(f"      on-success: [t{i + 1}]")
    return "\n".join(lines) + "\n"


def _fanout_text(n: int) -> str:
    lines = ["version: '2.0'", "fanout:", "  tasks:", "    start:", "      on-success:"]
    lines += [f"        - b{i}" for i in range(n)]
    for i in range(n):
        lines += [f"    b{i}:", "      action: std.echo output='{{ _.x }}'", "      on-success: [join]"]
    lines += ["    join:", "      join: all", "      action: std.noop"]
    return "\n".join(lines) + "\n"


def bench_parse_500() -> tuple[int, Callable[[], None]]:
    """Load, schema-check, build and semantically check a 500-task chain (every task has expressions)."""
    text = _chain_text(500)
    return 500, lambda: parse_workflow(text)


def bench_parse_fanout_500() -> tuple[int, Callable[[], None]]:
    """The same for a 500-branch fan-out joined by one task."""
    text = _fanout_text(500)
    return 502, lambda: parse_workflow(text)


SCENARIOS: dict[str, Callable[[], tuple[int, Callable[[], None]]]] = {
    "parse_500": bench_parse_500,
    "parse_fanout_500": bench_parse_fanout_500,
}
#: Engine scenarios: they run on a backend (a fresh database per scenario).
ENGINE = engine_scenarios.SCENARIOS
#: Scenarios of the DESIGN.md contract that need components still to be built.
PENDING: dict[str, str] = {}


def run(name: str, backend: str, repeat: int) -> dict[str, object]:
    tasks, fn = SCENARIOS[name]()
    fn()  # warm-up: imports, schema compilation, expression caches of a first parse
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"scenario": name, "backend": backend, "tasks": tasks, "seconds": round(seconds, 6),
            "tasks_per_s": round(tasks / seconds, 1), "runs": repeat, "min_seconds": round(min(times), 6)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", action="append", help="scenario name (repeatable; default: all)")
    parser.add_argument("--backend", default="embedded", choices=["embedded", "server", "postgres-rabbitmq"],
                        help="embedded: a node in this process; server: one `levante server` process (SQLite) "
                             "through its REST API; postgres-rabbitmq: the deployment through its REST API")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--list", action="store_true", help="list scenarios and exit")
    args = parser.parse_args(argv)
    if args.list:
        for name, fn in SCENARIOS.items():
            print(f"{name}: {(fn.__doc__ or '').strip()}")
        for name, (_, doc, _runs) in ENGINE.items():
            print(f"{name}: {doc}")
        for name, why in PENDING.items():
            print(f"{name}: not available yet ({why})")
        return 0
    names = args.scenario or [*ENGINE, *SCENARIOS]
    if not args.scenario and args.backend != "embedded":
        names = [n for n in names if n != "items_10000"]  # minutes over REST polling; ask for it by name
    for name in names:
        if name in PENDING:
            print(f"bench: scenario {name!r} is not available yet: {PENDING[name]}", file=sys.stderr)
            return 2
        if name not in SCENARIOS and name not in ENGINE:
            print(f"bench: unknown scenario {name!r}; see --list", file=sys.stderr)
            return 2
    if args.backend != "embedded":
        names = [n for n in names if n in ENGINE]  # parsing has no backend
    for name in names:
        if name in ENGINE:
            result = engine_scenarios.run(name, args.backend, args.repeat)
        else:
            result = run(name, args.backend, args.repeat)
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
