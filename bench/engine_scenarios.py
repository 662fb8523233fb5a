"""Engine benchmark scenarios (DESIGN.md section 4): workflows run to SUCCESS on a backend.

``seconds`` is the wall time from the call that starts the execution until it is SUCCESS (median
of the runs); each scenario gets a fresh database, and one warm-up run before the measured ones.
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from typing import Any

from bench.cluster import Cluster
from levante.config import load
from levante.db.session import transaction
from levante.engine.service.definitions import store
from levante.node import Node


def chain(n: int) -> str:
    lines = ["version: '2.0'", "wf:", "  tasks:"]
    for i in range(n):
        lines += [f"    t{i}:", "      action: std.noop"]
        if i + 1 < n:
            lines.append(f"      on-success: t{i + 1}")
    return "\n".join(lines) + "\n"


def items(n: int) -> str:
    return ("version: '2.0'\nwf:\n  tasks:\n    t:\n"
            f"      with-items: i in <% range({n}) %>\n      action: std.noop\n")


def fanout(n: int) -> str:
    lines = ["version: '2.0'", "wf:", "  tasks:", "    start:", "      action: std.noop", "      on-success:"]
    lines += [f"        - b{i}" for i in range(n)]
    for i in range(n):
        lines += [f"    b{i}:", "      action: std.noop", "      on-success: join"]
    lines += ["    join:", "      join: all", "      action: std.noop"]
    return "\n".join(lines) + "\n"


def join(n: int) -> str:
    """Mistral's rally scenario join_N: ``n`` parallel tasks with no action, joined by one task."""
    lines = ["version: '2.0'", "wf:", "  tasks:"]
    for i in range(n):
        lines += [f"    task_{i}:", "      on-success: join_task"]
    lines += ["    join_task:", "      join: all"]
    return "\n".join(lines) + "\n"


#: name -> (definition, description, executions started at once)
SCENARIOS: dict[str, tuple[str, str, int]] = {
    "seq_50": (chain(50), "50 chained std.noop tasks", 1),
    "items_200": (items(200), "with-items over 200 std.noop", 1),
    "fanout_100": (fanout(100), "100 parallel std.noop joined by one task", 1),
    "items_10000": (items(10_000), "with-items over 10,000 std.noop", 1),
    "throughput": (chain(3), "100 executions of a 3-task chain started at once", 100),
    "join_100": (join(100), "Mistral's rally join_100: 100 parallel tasks without action joined by one", 1),
    "join_500": (join(500), "Mistral's rally join_500: the same with 500", 1),
    "chain_2000": (chain(2000), "2,000 chained std.noop tasks (the cost of a step in a long execution)", 1),
    "async_1": ("", "ms from an async action's callback request to the workflow's SUCCESS", 1),
}
TASKS = {"seq_50": 50, "items_200": 200, "fanout_100": 102, "items_10000": 10_000, "throughput": 300,
         "join_100": 101, "join_500": 501, "chain_2000": 2000}


def _once(node: Node, runs: int) -> float:
    start = time.perf_counter()
    ids = [node.service.start_execution("wf").id for _ in range(runs)]
    for ex_id in ids:
        ex = node.service.wait(ex_id, 600)
        if str(ex.state) != "SUCCESS":
            raise RuntimeError(f"execution {ex_id} ended {ex.state}: {ex.state_info}")
    return time.perf_counter() - start


ASYNC_1 = """version: '2.0'
wf:
  tasks:
    wait:
      action: std.async_noop
      on-success: after
    after:
      action: std.noop
"""


def _running_action(cluster: Cluster, ex_id: str) -> str:
    for _ in range(2000):
        tasks = cluster.call("GET", f"/executions/{ex_id}/tasks")["tasks"]
        if tasks:
            actions = cluster.call("GET", f"/tasks/{tasks[0]['id']}/action_executions")["action_executions"]
            if actions and actions[0]["state"] == "RUNNING":
                return str(actions[0]["id"])
        time.sleep(0.005)
    raise TimeoutError("the async action did not start")


def run_async_1(backend: str, repeat: int) -> dict[str, Any]:
    """Milliseconds from the callback request (PUT /v2/action_executions/<id>) to the workflow's
    SUCCESS, through a real server (the next task runs in between)."""
    times = []
    with Cluster(backend) as cluster:
        cluster.upload(ASYNC_1)
        for i in range(repeat + 1):
            ex_id = cluster.start("wf")
            action_id = _running_action(cluster, ex_id)
            start = time.perf_counter()
            cluster.call("PUT", f"/action_executions/{action_id}", {"state": "SUCCESS", "output": {"ok": i}})
            ex = cluster.wait(ex_id, poll=0.001)
            if ex["state"] != "SUCCESS":
                raise RuntimeError(f"async_1 ended {ex['state']}: {ex['state_info']}")
            if i:  # the first run warms up
                times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"scenario": "async_1", "backend": backend, "tasks": 2, "seconds": round(seconds, 4),
            "ms": round(seconds * 1000, 1), "tasks_per_s": round(2 / seconds, 1), "runs": repeat,
            "min_ms": round(min(times) * 1000, 1)}


def run_over_rest(name: str, backend: str, repeat: int) -> dict[str, Any]:
    """A scenario through the API of separate processes (the postgres-rabbitmq backend)."""
    text, _doc, runs = SCENARIOS[name]
    times = []
    with Cluster(backend) as cluster:
        cluster.upload(text)
        for i in range(repeat + 1):
            start = time.perf_counter()
            ids = [cluster.start("wf") for _ in range(runs)]
            for ex_id in ids:
                ex = cluster.wait(ex_id)
                if ex["state"] != "SUCCESS":
                    raise RuntimeError(f"{name} ended {ex['state']}: {ex['state_info']}")
            if i:
                times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    tasks = TASKS[name]
    return {"scenario": name, "backend": backend, "tasks": tasks, "seconds": round(seconds, 4),
            "tasks_per_s": round(tasks / seconds, 1), "runs": repeat, "executions": runs,
            "min_seconds": round(min(times), 4)}


def run(name: str, backend: str, repeat: int) -> dict[str, Any]:
    if name == "async_1":
        if backend == "server":
            return {**run_async_1("embedded", max(repeat, 10)), "backend": "server"}
        return run_async_1(backend, max(repeat, 10))
    repeat = min(repeat, 3) if name in ("items_10000", "chain_2000") else repeat
    if backend == "server":  # one `levante server` process (what Cluster calls embedded), over REST
        return {**run_over_rest(name, "embedded", repeat), "backend": "server"}
    if backend != "embedded":
        return run_over_rest(name, backend, repeat)
    text, _doc, runs = SCENARIOS[name]
    with tempfile.TemporaryDirectory(prefix="levante-bench-") as tmp:
        config = load(env={}, db_url=f"sqlite:///{os.path.join(tmp, 'bench.db')}")
        with Node(config) as node:
            with transaction(node.session_factory) as session:
                store(session, "workflows", text)
            _once(node, runs)  # warm-up
            times = [_once(node, runs) for _ in range(repeat)]
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    seconds = statistics.median(times)
    tasks = TASKS[name]
    return {"scenario": name, "backend": backend, "tasks": tasks, "seconds": round(seconds, 4),
            "tasks_per_s": round(tasks / seconds, 1), "runs": repeat, "executions": runs,
            "min_seconds": round(min(times), 4), "max_rss_mb": round(peak / 2**20, 1)}
