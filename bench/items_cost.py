"""The cost of one with-items task over N std.noop items in one process (issue 14: the
``items_10000`` scenario), split in its two phases:

- ``start``: the start transaction (the task expanded into N action executions and N outbox rows),
  its commit and the hand-over of the rows to the executor pool;
- ``results``: the N results coming back, applied in batches, until the execution is SUCCESS.

    python bench/items_cost.py [--items 10000] [--runs 3] [--profile FILE] [--json]

For each phase: statements sent to the database by kind (as bench/step_cost.py counts them), commits,
and CPU seconds of this process (``time.process_time``: every thread, so executor threads running
actions while the start hands rows over count in ``start``). Each run after a warm-up; the figures
are medians. ``--profile`` writes a cProfile of the last run's main thread.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_scenarios import items  # noqa: E402
from bench.step_cost import Statements  # noqa: E402
from levante.config import load  # noqa: E402
from levante.db.session import transaction  # noqa: E402
from levante.engine.service.definitions import store  # noqa: E402
from levante.node import Node  # noqa: E402


def _run(node: Node, counted: Statements, profiler: cProfile.Profile | None) -> dict[str, Any]:
    node.wait_idle()
    counted.reset()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    ex = node.service.start_execution("wf")
    cpu1 = time.process_time()
    start = (sum(counted.kinds.values()), counted.commits, dict(counted.kinds))
    counted.reset()
    ex = node.service.wait(ex.id, 600)
    if profiler:
        profiler.disable()
    cpu2, wall2 = time.process_time(), time.perf_counter()
    if str(ex.state) != "SUCCESS":
        raise RuntimeError(f"the execution ended {ex.state}: {ex.state_info}")
    return {"wall_s": wall2 - wall0, "cpu_s": cpu2 - cpu0, "start_cpu_s": cpu1 - cpu0,
            "results_cpu_s": cpu2 - cpu1, "start_statements": start[0], "start_commits": start[1],
            "start_kinds": start[2], "results_statements": sum(counted.kinds.values()),
            "results_commits": counted.commits, "results_kinds": dict(counted.kinds)}


def measure(count: int, runs: int = 3, profile: str | None = None) -> dict[str, Any]:
    """Medians of ``runs`` runs (after a warm-up) of a with-items task over ``count`` items."""
    with tempfile.TemporaryDirectory(prefix="levante-items-") as tmp:
        with Node(load(env={}, db_url=f"sqlite:///{os.path.join(tmp, 'bench.db')}")) as node:
            counted = Statements(node.db)
            with transaction(node.session_factory) as session:
                store(session, "workflows", items(count))
            node.service.wait(node.service.start_execution("wf").id, 600)  # warm-up
            profiler = cProfile.Profile() if profile else None
            found = [_run(node, counted, profiler if i == runs - 1 else None) for i in range(runs)]
    if profiler and profile:
        profiler.dump_stats(profile)
    median = {k: round(statistics.median(r[k] for r in found), 3)
              for k in ("wall_s", "cpu_s", "start_cpu_s", "results_cpu_s")}
    last = found[-1]
    return {"items": count, "runs": runs, **median,
            "cpu_s_all": [round(r["cpu_s"], 3) for r in found],
            "start_statements": last["start_statements"], "start_commits": last["start_commits"],
            "results_statements": last["results_statements"], "results_commits": last["results_commits"],
            "statements_per_item": round((last["start_statements"] + last["results_statements"]) / max(count, 1), 4),
            "start_kinds": last["start_kinds"], "results_kinds": last["results_kinds"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", default=None, help="write a cProfile of the last run's main thread here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.items, args.runs, args.profile)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['items']} items, median of {result['runs']}: {result['wall_s']} s wall, {result['cpu_s']} s CPU "
          f"(start {result['start_cpu_s']}, results {result['results_cpu_s']}); all runs {result['cpu_s_all']}")
    print(f"  start: {result['start_statements']} statements, {result['start_commits']} commits: "
          + ", ".join(f"{k} {v}" for k, v in sorted(result["start_kinds"].items(), key=lambda kv: -kv[1])))
    print(f"  results: {result['results_statements']} statements, {result['results_commits']} commits: "
          + ", ".join(f"{k} {v}" for k, v in sorted(result["results_kinds"].items(), key=lambda kv: -kv[1])))


if __name__ == "__main__":
    main()
