"""Listing, filtering and paging executions with 100,000 finished executions stored.

    python bench/listing.py [--executions 100000] [--db postgres|sqlite] [--requests 50]

Fills a fresh database (PostgreSQL by default; dropped afterwards) with finished executions of
several workflows and states spread over 30 days, then times API requests in-process (Falcon's
test client: the request, the query and the JSON rendering, without the socket): one JSON line per
kind of request with the median and the 99th percentile in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from falcon import testing  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from bench.cluster import PG_ADMIN  # noqa: E402
from levante.api.app import create_app  # noqa: E402
from levante.config import load  # noqa: E402
from levante.db.models import WorkflowExecutionRow  # noqa: E402
from levante.db.session import make_engine  # noqa: E402
from levante.node import Node  # noqa: E402

STATES = ["SUCCESS"] * 7 + ["ERROR", "CANCELLED"]
NAMES = [f"wf_{i}" for i in range(20)]


def fill(node: Node, count: int) -> None:
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(count):
        at = start + timedelta(seconds=i * 26)
        rows.append({
            "id": str(uuid.uuid4()), "workflow_name": NAMES[i % len(NAMES)], "state": STATES[i % len(STATES)],
            "state_info": None, "input": {"n": i}, "params": {"env": {}, "namespace": ""},
            "context": {}, "output": {"result": i}, "runtime_context": {}, "description": "",
            "workflow_namespace": "", "tags": [], "created_at": at, "updated_at": at, "finished_at": at,
        })
    with node.db.begin() as conn:
        for part in range(0, count, 5000):
            conn.execute(insert(WorkflowExecutionRow), rows[part:part + 5000])
        if node.db.dialect.name == "postgresql":
            conn.execute(text("ANALYZE workflow_executions"))


def measure(client: testing.TestClient, label: str, path: str, params_list: list[dict[str, Any]]) -> dict[str, Any]:
    times = []
    for params in params_list:
        start = time.perf_counter()
        result = client.simulate_get(path, params=params)
        times.append((time.perf_counter() - start) * 1000)
        assert result.status_code == 200, result.text
    times.sort()
    return {"request": label, "path": path, "runs": len(times), "median_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2), "max_ms": round(times[-1], 2)}


@contextmanager
def scratch_database(kind: str, prefix: str) -> Iterator[str]:
    """The URL of a new database, dropped afterwards: on PostgreSQL (``kind`` ``postgres``) a
    database named ``<prefix>_<random>``, else a SQLite file in a temporary folder."""
    if kind != "postgres":
        with tempfile.TemporaryDirectory(prefix=f"{prefix}-") as tmp:
            yield f"sqlite:///{tmp}/{prefix}.db"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(PG_ADMIN).set(database=name).render_as_string(False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    with scratch_database(args.db, "levante_listing") as url, Node(load(env={}, db_url=url)) as node:
        started = time.perf_counter()
        fill(node, args.executions)
        print(json.dumps({"filled": args.executions, "db": args.db,
                          "seconds": round(time.perf_counter() - started, 1)}), flush=True)
        client = testing.TestClient(create_app(node.config, node.services))
        first = client.simulate_get("/v2/executions", params={"limit": 100}).json
        markers = [first["executions"][-1]["id"]]
        for _ in range(args.requests - 1):  # walk pages with the marker, as clients do
            page = client.simulate_get("/v2/executions", params={"limit": 100, "marker": markers[-1]}).json
            markers.append(page["executions"][-1]["id"])
        n = args.requests
        cases = [
            ("first page", [{"limit": 100}] * n),
            ("page by marker", [{"limit": 100, "marker": m} for m in markers]),
            ("filter state", [{"limit": 100, "state": "ERROR"}] * n),
            ("filter workflow_name", [{"limit": 100, "workflow_name": NAMES[i % 20]} for i in range(n)]),
            ("filter created_at range", [{"limit": 100, "created_at": "gte:2026-10-15 00:00:00",
                                          "updated_at": "lt:2026-10-20 00:00:00"}] * n),
            ("sort by workflow_name", [{"limit": 100, "sort_keys": "workflow_name,created_at",
                                        "sort_dirs": "asc,desc"}] * n),
        ]
        for label, params_list in cases:
            print(json.dumps(measure(client, label, "/v2/executions", params_list)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
