"""Reads of one huge execution (issue 14: "reads of a huge execution are paged and ≤ 100 ms").

    python bench/huge_reads.py [--tasks 100000] [--db postgres|sqlite] [--requests 20]

Fills a fresh database (PostgreSQL by default; dropped afterwards) with one finished execution of
``--tasks`` task executions, each with its action execution and history entries, as the engine
writes them, then times the API requests a user or a dashboard makes of it, in process (Falcon's
test client: the request, the queries and the JSON rendering, without the socket): one JSON line
per request with the median and the 99th percentile in milliseconds, and how many items it gave.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from falcon import testing  # noqa: E402
from sqlalchemy import insert, text  # noqa: E402

from bench.listing import measure, scratch_database  # noqa: E402
from levante.api.app import create_app  # noqa: E402
from levante.config import load  # noqa: E402
from levante.db.models import ActionExecutionRow, ExecutionEvent, TaskExecutionRow, WorkflowExecutionRow  # noqa: E402
from levante.node import Node  # noqa: E402

CHUNK = 5000


def fill(node: Node, tasks: int) -> tuple[str, list[str]]:
    """One SUCCESS execution with ``tasks`` SUCCESS tasks (one std.noop action each); returns its
    id and the task ids in creation order."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    ex_id = str(uuid.uuid4())
    end = start + timedelta(milliseconds=tasks)
    execution = {"id": ex_id, "workflow_name": "huge", "state": "SUCCESS", "state_info": None, "input": {},
                 "params": {"env": {}, "namespace": ""}, "context": {}, "output": {}, "runtime_context": {},
                 "description": "", "workflow_namespace": "", "tags": [], "created_at": start,
                 "updated_at": end, "finished_at": end}
    task_ids = [str(uuid.uuid4()) for _ in range(tasks)]
    with node.db.begin() as conn:
        conn.execute(insert(WorkflowExecutionRow), [execution])
        for first in range(0, tasks, CHUNK):
            task_rows, action_rows, events = [], [], []
            for n in range(first, min(tasks, first + CHUNK)):
                at = start + timedelta(milliseconds=n)
                task_rows.append({
                    "id": task_ids[n], "name": f"t{n}", "workflow_execution_id": ex_id, "workflow_name": "huge",
                    "state": "SUCCESS", "state_info": None, "type": "ACTION", "in_context": {},
                    "in_versions": {}, "published": {}, "result": {"n": n}, "runtime_context": {},
                    "next_tasks": [], "has_next_tasks": False, "error_handled": False, "processed": True,
                    "unique_key": None, "created_at": at, "updated_at": at, "started_at": at, "finished_at": at})
                action_rows.append({
                    "id": str(uuid.uuid4()), "name": "std.noop", "state": "SUCCESS", "accepted": True,
                    "is_sync": True, "input": {}, "output": {"result": n}, "task_execution_id": task_ids[n],
                    "workflow_execution_id": ex_id, "workflow_name": "huge", "description": "",
                    "created_at": at, "updated_at": at})
                events += [{"execution_id": ex_id, "task_execution_id": task_ids[n], "kind": kind,
                            "payload": {"task": f"t{n}"}, "created_at": at}
                           for kind in ("task_started", "task_ended")]
            conn.execute(insert(TaskExecutionRow), task_rows)
            conn.execute(insert(ActionExecutionRow), action_rows)
            conn.execute(insert(ExecutionEvent), events)
        if node.db.dialect.name == "postgresql":
            conn.execute(text("ANALYZE"))
    return ex_id, task_ids


def _count(body: Any) -> int | None:
    for key in ("tasks", "action_executions", "executions", "entries", "events"):
        if isinstance(body, dict) and isinstance(body.get(key), list):
            return len(body[key])
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--db", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--requests", type=int, default=20)
    args = parser.parse_args()
    with scratch_database(args.db, "levante_huge") as url, Node(load(env={}, db_url=url)) as node:
        began = time.perf_counter()
        ex_id, task_ids = fill(node, args.tasks)
        print(json.dumps({"filled_tasks": args.tasks, "db": args.db,
                          "seconds": round(time.perf_counter() - began, 1)}), flush=True)
        client = testing.TestClient(create_app(node.config, node.services))
        n = args.requests
        # Walk pages of the execution's tasks with the marker, as a client does.
        markers = []
        page = client.simulate_get(f"/v2/executions/{ex_id}/tasks", params={"limit": 100}).json
        for _ in range(n):
            if not page["tasks"]:
                break
            markers.append(page["tasks"][-1]["id"])
            page = client.simulate_get(f"/v2/executions/{ex_id}/tasks",
                                       params={"limit": 100, "marker": markers[-1]}).json
        middle = task_ids[len(task_ids) // 2]
        cases = [
            ("execution", f"/v2/executions/{ex_id}", [{}] * n),
            ("its tasks, first page", f"/v2/executions/{ex_id}/tasks", [{"limit": 100}] * n),
            ("its tasks, page by marker", f"/v2/executions/{ex_id}/tasks",
             [{"limit": 100, "marker": m} for m in markers]),
            ("tasks filtered by execution", "/v2/tasks", [{"workflow_execution_id": ex_id, "limit": 100}] * n),
            ("tasks in ERROR (none)", "/v2/tasks",
             [{"workflow_execution_id": ex_id, "state": "ERROR", "limit": 100}] * n),
            ("one task", f"/v2/tasks/{middle}", [{}] * n),
            ("one task's actions", f"/v2/tasks/{middle}/action_executions", [{}] * n),
            ("actions of the execution, first page", "/v2/action_executions",
             [{"workflow_execution_id": ex_id, "limit": 100}] * n),
            ("history, first page", f"/v2/executions/{ex_id}/history", [{"limit": 100}] * n),
            ("report", f"/v2/executions/{ex_id}/report", [{}] * max(1, n // 10)),
            ("report, statistics only", f"/v2/executions/{ex_id}/report", [{"statistics_only": "true"}] * n),
        ]
        for label, path, params_list in cases:
            result = measure(client, label, path, params_list)
            result["items"] = _count(client.simulate_get(path, params=params_list[0]).json)
            print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
