"""Two writers of one SQLite file in one process (issue 14: the one-process server's latency): how
long a short write transaction waits while another thread runs 2 ms transactions 0.2 ms apart, as
an API request does beside the engine's batches.

    python bench/sqlite_writers.py [--transactions 300] [--json]

Two rounds each way, alternating: ``gate`` (Levante's engine: writers queue at the process's gate,
levante.db.sqlite_writers) and ``busy handler`` (the driver's plain connection: a writer that finds
the lock taken sleeps 1, 2, 5, 10... ms in SQLite's busy handler and tries again). Prints the
median, 90th percentile and worst wait in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from levante.db.session import make_engine  # noqa: E402


def measure(gate: bool, transactions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="levante-writers-") as tmp:
        options = {} if gate else {"connect_args": {"factory": sqlite3.Connection}}
        engine = make_engine(f"sqlite:///{tmp}/writers.db", **options)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x INTEGER)"))
        stop = threading.Event()

        def busy() -> None:
            while not stop.is_set():
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO t VALUES (1)"))
                    time.sleep(0.002)
                time.sleep(0.0002)  # the next batch (without this pause the busy handler starves the other)

        other = threading.Thread(target=busy)
        other.start()
        waits = []
        for _ in range(transactions):
            began = time.perf_counter()
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
            waits.append((time.perf_counter() - began) * 1000)
            time.sleep(0.001)
        stop.set()
        other.join()
        engine.dispose()
    waits.sort()
    return {"writers": "gate" if gate else "busy handler", "median_ms": round(statistics.median(waits), 2),
            "p90_ms": round(waits[int(len(waits) * 0.9)], 2), "max_ms": round(waits[-1], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for _ in range(2):
        for gate in (False, True):
            result = measure(gate, args.transactions)
            print(json.dumps(result) if args.json else
                  f"{result['writers']:>12}: median {result['median_ms']} ms, p90 {result['p90_ms']} ms, "
                  f"worst {result['max_ms']} ms")


if __name__ == "__main__":
    main()
