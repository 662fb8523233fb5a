"""CPU of one gunicorn API worker per callback, alone: no engine, no executor, no third party.

    python bench/api_cost.py [--executions 200] [--steps 5] [--connections 8] [--threads 4]
                             [--worker-class gthread] [--gunicorn-arg ARG]... [--split]
                             [--py-spy FILE [--py-spy-format raw]] [--json]

One gunicorn worker (role ``api``) on a new PostgreSQL database and a private RabbitMQ namespace.
``--executions`` executions of a chain of ``--steps`` ``std.async_noop`` tasks are started through
the API; then, ``--steps`` times, every RUNNING action execution is completed with ``PUT
/v2/action_executions/<id>`` ``{"state": "SUCCESS", "output": {...}}`` from ``--connections``
threads, each over its own kept-alive connection (as bench/load.py's callers send them). Each
callback runs the engine step in the worker (it completes a task and creates the next task's
action) and the worker publishes the next action's request to RabbitMQ, where no executor takes
it: an async action stays RUNNING until its callback, so the chain goes on without one. Unlike
bench/load.py's callbacks these carry no callback token (auth is off; checking one is a hash).

Reported: CPU milliseconds of the worker per callback (user + system, from /proc), per step round
and over all, its system part and context switches, and the gunicorn master's CPU. ``--split``
adds where the worker's CPU goes per callback (gunicorn, falcon, engine step, publish, other
threads: see bench/api_probe.py). ``--py-spy FILE`` records the worker with py-spy during
the callbacks (a flame graph, or ``--py-spy-format raw`` for collapsed stacks). This is the API's
own share of bench/load.py's ``cpu_ms_per_callback`` (``api-worker-*``), measured with less noise
and in a minute; the database and the queues are dropped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deployment import AMQP, PG_ADMIN, _free_port  # noqa: E402
from bench.load import cpu_seconds  # noqa: E402


def system_seconds(pid: int) -> float:
    """System (kernel) CPU seconds of ``pid``: sockets, polls, context switches."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[12]) / os.sysconf("SC_CLK_TCK")


def chain(name: str, steps: int) -> str:
    lines = ["version: '2.0'", f"{name}:", "  tasks:"]
    for i in range(steps):
        lines += [f"    t{i}:", "      action: std.async_noop"]
        if i + 1 < steps:
            lines.append(f"      on-success: t{i + 1}")
    return "\n".join(lines) + "\n"


class Backends:
    """A new database (migrated) and a private namespace, dropped at the end."""

    def __init__(self) -> None:
        import uuid

        from sqlalchemy.engine import make_url

        self.name = f"levante_apicost_{uuid.uuid4().hex[:8]}"
        self.url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=self.name) \
            .render_as_string(hide_password=False)

    def _admin(self) -> Any:
        from sqlalchemy.pool import NullPool

        from levante.db.session import make_engine

        return make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def create(self) -> None:
        from sqlalchemy import text

        from levante.db.session import make_engine, migrate

        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        admin.dispose()
        self.db = make_engine(self.url)
        migrate(self.db)

    def running(self) -> list[str]:
        from sqlalchemy import text

        with self.db.connect() as conn:
            return [r[0] for r in conn.execute(text(
                "SELECT id FROM action_executions WHERE state = 'RUNNING' ORDER BY created_at"))]

    def drop(self) -> None:
        from kombu import Connection
        from sqlalchemy import text

        self.db.dispose()
        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()
        with Connection(AMQP) as conn:
            channel = conn.channel()
            for q in ("engine", "executor", "dead"):
                channel.queue_delete(f"{self.name}.{q}")
            channel.exchange_delete(self.name)


def request(port: int, method: str, path: str, body: bytes | None, content_type: str) -> Any:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method=method,
                                 headers={"Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"null")


def send_all(port: int, ids: list[str], connections: int) -> int:
    """PUT a SUCCESS callback for each id from ``connections`` threads, each on a kept-alive
    connection; returns how many were answered 200."""
    todo: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    for action_id in ids:
        todo.put(action_id)
    ok = [0] * connections

    def work(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        while True:
            try:
                action_id = todo.get_nowait()
            except queue.Empty:
                break
            body = json.dumps({"state": "SUCCESS", "output": {"step": 1, "id": action_id}}).encode()
            conn.request("PUT", f"/v2/action_executions/{action_id}", body=body,
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                ok[slot] += 1
            else:
                print(f"callback {action_id}: {resp.status}", file=sys.stderr)
            if resp.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(ok)


def context_switches(pid: int) -> int:
    """Voluntary + involuntary context switches of every thread of ``pid``."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.endswith("ctxt_switches:") or "ctxt_switches:" in line:
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def worker_pid(master: int) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.1)
    raise RuntimeError("gunicorn started no worker")


class Gunicorn:
    """One gunicorn worker (role ``api``) over ``backends``; ``split``: probed (bench/api_probe.py)."""

    def __init__(self, backends: Backends, worker_class: str, threads: int, extra: list[str], split: bool) -> None:
        self.port = _free_port()
        env = {**os.environ, "LEVANTE_DB_URL": backends.url, "LEVANTE_TRANSPORT_URL": AMQP,
               "LEVANTE_NAMESPACE": backends.name, "LEVANTE_ROLE": "api",
               "LEVANTE_PUBLIC_URL": f"http://127.0.0.1:{self.port}"}
        self.logdir = tempfile.mkdtemp(prefix="api_cost_")
        self.probe = os.path.join(self.logdir, "probe.json") if split else None
        app = "levante.wsgi:application"
        if self.probe:
            app = "bench.api_probe:application"
            extra = [*extra, "-c", "python:bench.api_probe"]
            root = str(Path(__file__).resolve().parent.parent)
            env.update(LEVANTE_PROBE_OUT=self.probe,
                       PYTHONPATH=os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")])))
        self.log = open(os.path.join(self.logdir, "gunicorn.log"), "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", "1", "-k", worker_class, "--threads", str(threads),
             "-b", f"127.0.0.1:{self.port}", *extra, app], env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> int:
        """Wait for ``GET /health``; returns the worker's pid."""
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5):
                    return worker_pid(self.proc.pid)
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"the API did not start; log in {self.logdir}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def _start(backends: Backends, port: int, executions: int, steps: int) -> None:
    request(port, "POST", "/v2/workflows", chain("apicost", steps).encode(), "text/plain")
    for _ in range(executions):
        request(port, "POST", "/v2/executions", json.dumps({"workflow_name": "apicost"}).encode(), "application/json")
    deadline = time.monotonic() + 60
    while len(backends.running()) < executions:
        if time.monotonic() > deadline:
            raise RuntimeError("the executions did not start")
        time.sleep(0.1)


def _per(value: float, n: float, scale: float = 1000.0) -> float:
    return round(value * scale / max(n, 1), 3)


def measure(executions: int = 200, steps: int = 5, connections: int = 8, threads: int = 4,
            worker_class: str = "gthread", gunicorn_args: list[str] | None = None, split: bool = False,
            py_spy: str | None = None, py_spy_format: str = "flamegraph") -> dict[str, Any]:
    """Run the measurement (module docstring) and return its report."""
    backends = Backends()
    backends.create()
    server = Gunicorn(backends, worker_class, threads, list(gunicorn_args or []), split)
    spy: subprocess.Popen[bytes] | None = None
    try:
        worker = server.wait_ready()
        _start(backends, server.port, executions, steps)
        if py_spy:
            spy = subprocess.Popen(["py-spy", "record", "-p", str(worker), "-o", py_spy, "-r", "1000",
                                    "-f", py_spy_format, "--nonblocking", "--gil"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        rounds = []
        total_cpu = total_ok = 0.0
        before = cpu_seconds(server.proc.pid), system_seconds(worker), context_switches(worker)
        for _ in range(steps):
            ids = backends.running()
            cpu0 = cpu_seconds(worker)
            ok = send_all(server.port, ids, connections)
            time.sleep(0.3)  # the relay's publish and the outbox marks after the last answer
            cpu = cpu_seconds(worker) - cpu0
            rounds.append({"callbacks": ok, "cpu_ms_per_callback": _per(cpu, ok)})
            total_cpu += cpu
            total_ok += ok
        master, system, switches = (cpu_seconds(server.proc.pid) - before[0], system_seconds(worker) - before[1],
                                    context_switches(worker) - before[2])
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    finally:
        if spy is not None and spy.poll() is None:
            spy.kill()
        server.stop()
        backends.drop()
    report: dict[str, Any] = {
        "worker_class": worker_class, "threads": threads, "connections": connections, "callbacks": int(total_ok),
        "worker_cpu_ms_per_callback": _per(total_cpu, total_ok),
        "worker_system_ms_per_callback": _per(system, total_ok),
        "worker_context_switches_per_callback": _per(switches, total_ok, scale=1.0),
        "master_cpu_ms_per_callback": _per(master, total_ok), "rounds": rounds}
    if server.probe:
        from bench.api_probe import split as split_of

        report["split_ms_per_callback"] = split_of(server.probe)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=200)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn --threads")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[], help="passed to gunicorn (repeatable)")
    parser.add_argument("--split", action="store_true",
                        help="also split the worker's CPU per callback by part (bench/api_probe.py)")
    parser.add_argument("--py-spy", default=None, help="record the worker with py-spy into this file")
    parser.add_argument("--py-spy-format", default="flamegraph")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = measure(args.executions, args.steps, args.connections, args.threads, args.worker_class,
                     args.gunicorn_arg, args.split, args.py_spy, args.py_spy_format)
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['callbacks']} callbacks: worker {report['worker_cpu_ms_per_callback']} ms CPU/callback "
          f"(rounds: {', '.join(str(r['cpu_ms_per_callback']) for r in report['rounds'])}), "
          f"of which system {report['worker_system_ms_per_callback']} ms, "
          f"{report['worker_context_switches_per_callback']} context switches/callback; "
          f"master {report['master_cpu_ms_per_callback']} ms")
    if "split_ms_per_callback" in report:
        print("split (ms of CPU per callback): " + ", ".join(
            f"{k} {v}" for k, v in report["split_ms_per_callback"].items() if k != "callbacks"))


if __name__ == "__main__":
    main()
