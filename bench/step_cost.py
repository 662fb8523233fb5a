"""The cost of one durable step, in one process: SQL statements, commits and CPU per step.

    python bench/step_cost.py [--db URL] [--executions 200] [--steps 5] [--profile FILE] [--api]

Two paths are measured on the same database, each with the engine service a node composes
(``memory://`` transport, its executor pool in the process):

- ``callback``: ``--executions`` executions of a chain of ``--steps`` ``std.async_noop`` tasks wait
  on their first action; each callback (``EngineService.complete_action``, what ``PUT
  /v2/action_executions/<id>`` calls) completes one task and starts the next, until all end.
- ``result``: the same chain of ``std.noop`` tasks, whose results come back from the executor
  pool as engine events (what an engine process does with the results it consumes).

Reported per step (one task completed and the next started): statements sent to the database by
kind, commits (transactions), and CPU milliseconds of this process (``time.process_time``, so the
executor threads' work is in it, and the database server's is not). ``--profile`` writes a
cProfile of the callback phase (read it with ``python -m pstats FILE``).

The default database is a new SQLite file; ``--db postgresql+psycopg://postgres@127.0.0.1/NAME``
uses PostgreSQL (the database is created and dropped).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from levante.config import Config  # noqa: E402
from levante.db.session import make_engine, transaction  # noqa: E402
from levante.engine.service.definitions import store  # noqa: E402
from levante.node import Node  # noqa: E402


def chain(name: str, steps: int, action: str) -> str:
    lines = ["version: '2.0'", f"{name}:", "  tasks:"]
    for i in range(steps):
        lines += [f"    t{i}:", f"      action: {action}"]
        if i + 1 < steps:
            lines.append(f"      on-success: t{i + 1}")
    return "\n".join(lines) + "\n"


class Statements:
    """Counts what a node's engine sends to its database."""

    def __init__(self, engine: Any) -> None:
        self.kinds: Counter[str] = Counter()
        self.commits = 0
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "commit", self._commit)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        words = statement.lstrip().split(None, 3)
        kind = words[0].upper() if words else "?"
        if kind in ("INSERT", "DELETE") and len(words) > 2:
            kind += " " + words[2].strip('"')
        elif kind == "UPDATE" and len(words) > 1:
            kind += " " + words[1].strip('"')
        elif kind == "SELECT":
            table = statement.split(" FROM ", 1)[1].split(None, 1)[0] if " FROM " in statement else "-"
            kind += " " + table.strip('"')
        self.kinds[kind] += 1

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def reset(self) -> None:
        self.kinds.clear()
        self.commits = 0


@contextmanager
def database(url: str | None) -> Iterator[str]:
    if url is None or url.startswith("sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            yield url or f"sqlite:///{os.path.join(tmp, 'levante.db')}"
        return
    admin = make_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name = f"levante_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _running_actions(node: Node) -> list[str]:
    with transaction(node.read_factory) as session:
        return [r[0] for r in session.execute(text(
            "SELECT id FROM action_executions WHERE state = 'RUNNING' ORDER BY created_at"))]


def _wait(predicate: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the workflows did not get there in time")
        time.sleep(0.02)


def _ended(node: Node, n: int) -> bool:
    with transaction(node.read_factory) as session:
        done = session.execute(text("SELECT count(*) FROM workflow_executions WHERE state = 'SUCCESS'")).scalar()
    return bool(done == n)


def _report(name: str, steps: int, cpu: float, wall: float, counted: Statements) -> dict[str, Any]:
    total = sum(counted.kinds.values())
    return {"path": name, "steps": steps, "cpu_ms_per_step": round(cpu * 1000 / steps, 3),
            "wall_s": round(wall, 3), "steps_per_s": round(steps / wall, 1),
            "statements_per_step": round(total / steps, 2), "commits_per_step": round(counted.commits / steps, 2),
            "by_kind": {k: round(v / steps, 2) for k, v in counted.kinds.most_common()}}


def _through_api(node: Node) -> Any:
    """``complete(action_id)`` through the REST API in this process: falcon's WSGI app as gunicorn
    runs it (request parsing, the guard, the resource, the JSON answer), without the socket."""
    import falcon.testing

    from levante.api.app import create_app

    client = falcon.testing.TestClient(create_app(node.config, node.services))

    def complete(action_id: str) -> None:
        answer = client.simulate_put(f"/v2/action_executions/{action_id}",
                                     json={"state": "SUCCESS", "output": {"n": 1}})
        if answer.status_code != 200:
            raise RuntimeError(f"callback refused: {answer.status} {answer.text}")

    return complete


def measure_callbacks(node: Node, counted: Statements, executions: int, steps: int,
                      profile: str | None, api: bool = False) -> dict[str, Any]:
    with transaction(node.session_factory) as session:
        store(session, "workflows", chain("cb_api" if api else "cb", steps, "std.async_noop"))
    for _ in range(executions):
        node.service.start_execution("cb_api" if api else "cb")
    _wait(lambda: len(_running_actions(node)) == executions)
    node.wait_idle()
    complete = _through_api(node) if api else (
        lambda action_id: node.service.complete_action(action_id, "SUCCESS", {"n": 1}))
    counted.reset()
    profiler = cProfile.Profile(time.thread_time) if profile else None
    cpu = wall = 0.0
    done = 0
    for _ in range(steps):
        ids = _running_actions(node)
        counted_before = (sum(counted.kinds.values()), counted.commits)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for action_id in ids:
            complete(action_id)
        if profiler:
            profiler.disable()
        node.wait_idle()
        cpu += time.process_time() - cpu0
        wall += time.perf_counter() - wall0
        done += len(ids)
        del counted_before
    if profiler and profile:
        profiler.dump_stats(profile)
    return _report("callback via the API" if api else "callback", done, cpu, wall, counted)


def measure_results(node: Node, counted: Statements, executions: int, steps: int) -> dict[str, Any]:
    with transaction(node.session_factory) as session:
        store(session, "workflows", chain("rs", steps, "std.noop"))
    node.wait_idle()
    with transaction(node.read_factory) as session:
        before = session.execute(text("SELECT count(*) FROM workflow_executions WHERE state = 'SUCCESS'")).scalar()
    counted.reset()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(executions):
        node.service.start_execution("rs")
    _wait(lambda: _ended(node, before + executions))
    node.wait_idle()
    report = _report("result", executions * steps, time.process_time() - cpu0, time.perf_counter() - wall0, counted)
    report["note"] = "includes the start of each execution"
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=None, help="SQLAlchemy URL of an admin database (default: SQLite)")
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--profile", default=None, help="write a cProfile of the callback phase here")
    parser.add_argument("--api", action="store_true",
                        help="send the callbacks through the REST API (falcon in this process) as well")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with database(args.db) as url:
        node = Node(Config(db_url=url, transport_url="memory://", scheduler_interval=0.2)).start()
        try:
            counted = Statements(node.db)
            reports = [measure_callbacks(node, counted, args.executions, args.steps, args.profile)]
            if args.api:
                reports.append(measure_callbacks(node, counted, args.executions, args.steps,
                                                 args.profile and args.profile + ".api", api=True))
            reports.append(measure_results(node, counted, args.executions, args.steps))
        finally:
            node.stop()
            node.db.dispose()
    for r in reports:
        r["backend"] = "sqlite" if url.startswith("sqlite") else "postgresql"
        if args.json:
            print(json.dumps(r))
        else:
            print(f"{r['backend']} {r['path']}: {r['steps']} steps, {r['cpu_ms_per_step']} ms CPU/step, "
                  f"{r['statements_per_step']} statements/step, {r['commits_per_step']} commits/step, "
                  f"{r['steps_per_s']} steps/s")
            print("   " + ", ".join(f"{k} {v}" for k, v in r["by_kind"].items()))


if __name__ == "__main__":
    main()
