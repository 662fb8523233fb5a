"""A with-items task over a huge list in one process (issue 14: "with-items over 1,000,000 items
starts in ≤ 10 s with memory that does not grow with the item count").

    python bench/huge_items.py [--items 1000000] [--source range|input] [--run] [--json]

A node on a temporary SQLite file, its executor pool in the process, every item std.noop. The
items come from ``range(N)`` in the workflow, or (``--source input``) from a list of N strings in
the execution's input. Reported:

- ``start_s``, ``start_cpu_s``: the start request (the task evaluates its items, keeps them in
  chunks and starts the first window of them) in wall and CPU seconds;
- ``rss_mb_before``, ``rss_mb_started``: the process's resident memory before the start and right
  after it (after a ``gc.collect``); ``rss_mb_peak``: its peak over the whole run;
- with ``--run``: ``run_s`` and ``items_per_s`` until the execution is SUCCESS.

Compare ``--items 100000`` with ``--items 1000000``: flat means the same memory after the start.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from levante.config import load  # noqa: E402
from levante.db.session import transaction  # noqa: E402
from levante.engine.service.definitions import store  # noqa: E402
from levante.node import Node  # noqa: E402

FROM_RANGE = """
version: '2.0'
wf:
  input: [count]
  tasks:
    t:
      with-items: i in <% range($.count) %>
      action: std.noop
"""

FROM_INPUT = """
version: '2.0'
wf:
  input: [names]
  tasks:
    t:
      with-items: name in <% $.names %>
      action: std.noop
"""


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def measure(count: int, source: str, run: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="levante-huge-items-") as tmp:
        config = load(env={"LEVANTE_MAX_WITH_ITEMS": str(max(count, 1))},
                      db_url=f"sqlite:///{os.path.join(tmp, 'levante.db')}")
        with Node(config) as node:
            with transaction(node.session_factory) as session:
                store(session, "workflows", FROM_INPUT if source == "input" else FROM_RANGE)
            given: dict[str, Any] = ({"names": [f"item-{i}" for i in range(count)]} if source == "input"
                                     else {"count": count})
            gc.collect()
            before = _rss_mb()
            cpu0, wall0 = time.process_time(), time.perf_counter()
            ex = node.service.start_execution("wf", given)
            cpu1, wall1 = time.process_time(), time.perf_counter()
            gc.collect()
            result: dict[str, Any] = {
                "items": count, "source": source, "start_s": round(wall1 - wall0, 3),
                "start_cpu_s": round(cpu1 - cpu0, 3), "rss_mb_before": round(before, 1),
                "rss_mb_started": round(_rss_mb(), 1)}
            if run:
                done = node.service.wait(ex.id, 3600)
                ended = time.perf_counter()
                result.update(state=str(done.state), run_s=round(ended - wall1, 1),
                              items_per_s=round(count / (ended - wall1), 1))
            result["rss_mb_peak"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--source", choices=["range", "input"], default="range")
    parser.add_argument("--run", action="store_true", help="wait for the execution to end")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.items, args.source, args.run)
    if args.json:
        print(json.dumps(result))
        return
    line = (f"with-items over {result['items']:,} items ({result['source']}): started in {result['start_s']} s "
            f"({result['start_cpu_s']} s CPU); memory {result['rss_mb_before']} MB before, "
            f"{result['rss_mb_started']} MB after the start, {result['rss_mb_peak']} MB at the peak")
    if args.run:
        line += f"; {result['state']} after {result['run_s']} s ({result['items_per_s']} items/s)"
    print(line)


if __name__ == "__main__":
    main()
