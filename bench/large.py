"""Large workflows in one process (issue 14: cost flat in workflow size): how long a chain or a
fan-out of N tasks takes to store (parse, validate, write, as an upload does, keeping the parsed
document for the start), to start, and at what rate its tasks then run.

    python bench/large.py [--shape fanout|chain] [--tasks 20000] [--store-only] [--json]

A node on a temporary SQLite file (the embedded installation), its executor pool in the process;
every task runs std.noop. Compare the rate with a small one (``--tasks 2000``): flat cost means the
same tasks per second. ``--store-only`` stops after the store and also reports its CPU time
(``store_cpu_s``) and CPU microseconds per task.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engine_scenarios import chain, fanout  # noqa: E402
from levante.config import load  # noqa: E402
from levante.db.session import transaction  # noqa: E402
from levante.engine.service.definitions import store  # noqa: E402
from levante.node import Node  # noqa: E402


def measure(shape: str, tasks: int, store_only: bool = False) -> dict[str, object]:
    text = fanout(tasks) if shape == "fanout" else chain(tasks)
    total = tasks + 2 if shape == "fanout" else tasks
    with tempfile.TemporaryDirectory(prefix="levante-large-") as tmp:
        with Node(load(env={}, db_url=f"sqlite:///{os.path.join(tmp, 'levante.db')}")) as node:
            began, began_cpu = time.perf_counter(), time.process_time()
            with transaction(node.session_factory) as session:
                store(session, "workflows", text, keep=node.service.catalog.cache.put)
            stored, stored_cpu = time.perf_counter(), time.process_time()
            if store_only:
                return {"shape": shape, "tasks": total, "store_s": round(stored - began, 3),
                        "store_cpu_s": round(stored_cpu - began_cpu, 3),
                        "store_us_per_task": round((stored_cpu - began_cpu) / total * 1e6, 1)}
            ex = node.service.start_execution("wf")
            started = time.perf_counter()
            done = node.service.wait(ex.id, 3600)
            ended = time.perf_counter()
    return {"shape": shape, "tasks": total, "state": str(done.state), "store_s": round(stored - began, 3),
            "start_s": round(started - stored, 3), "run_s": round(ended - started, 3),
            "tasks_per_s": round(total / (ended - started), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["fanout", "chain"], default="fanout")
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--store-only", action="store_true", help="stop after storing the definition")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.shape, args.tasks, args.store_only)
    if args.json or args.store_only:
        print(json.dumps(result))
    else:
        print(f"{result['shape']} of {result['tasks']} tasks: {result['state']}; stored in {result['store_s']} s, "
              f"started in {result['start_s']} s, ran at {result['tasks_per_s']} tasks/s ({result['run_s']} s)")


if __name__ == "__main__":
    main()
