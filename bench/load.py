"""Load test (issue #7): many executions waiting on async actions at once, then a storm of callbacks.

    python bench/load.py [--executions 1000] [--steps 10] [--callers 64] [--rate R] [--rounds 1] [--json]
                         [--limits [SECONDS]]

Setup: the deployment of the fault campaign (``bench/deployment.py``): PostgreSQL + RabbitMQ, the
API under gunicorn (2 workers), 2 engines and 2 executors, each a real process.

Work: ``--executions`` executions of one workflow, a chain of ``--steps`` tasks, each a
``std.mistral_http`` action to a local third party. The third party answers 202 and hands the call
(action execution id, callback URL, token) to a pool of ``--callers`` threads, which send the
callbacks (``PUT`` to the ``Mistral-Callback-URL``, each thread over its own kept-alive connection, as
an HTTP client with a session does) as fast as they can, or at ``--rate`` per second.
Each callback completes one task, and the next task's action arrives at the third party again, so
``executions x steps`` callbacks are sent in all (10,000 by default).

The run, per round: start every execution and wait until each has its first action waiting at the
third party (all waiting at once); read the memory of every process; send the callbacks; wait for
every execution to end; read the memory again.

Reported: callbacks per second (accepted callbacks / time from the first sent to the last
answered); the latency from a callback being sent to the next task starting (its row created, from
the database) and to its action reaching the third party, p50/p90/p99/max; the resident memory
(VmRSS) of every process before and after each round; failures (callbacks not accepted, executions
not SUCCESS). Exit status 0 when every callback was accepted and every execution ended SUCCESS.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.deployment import TERMINAL, Api, Deployment, Unreachable, check_backends, log  # noqa: E402


def workflow(name: str, steps: int) -> str:
    """A chain of ``steps`` async tasks; each sends its step number and publishes what comes back."""
    lines = ["version: '2.0'", f"{name}:", "  input: [base]", "  output: {last: <% $.last %>}", "  tasks:"]
    for i in range(1, steps + 1):
        lines += [f"    s{i}:",
                  "      action: std.mistral_http",
                  f"      input: {{url: '<% $.base %>/hook', method: POST, json: {{step: {i}}}}}",
                  "      publish: {last: <% task().result.step %>}"]
        if i < steps:
            lines.append(f"      on-success: [s{i + 1}]")
    return "\n".join(lines) + "\n"


# --- the third party ---------------------------------------------------------------------------


class Arrival:
    __slots__ = ("action_id", "execution_id", "url", "token", "step", "at")

    def __init__(self, action_id: str, execution_id: str, url: str, token: str | None, step: int,
                 at: float) -> None:
        self.action_id, self.execution_id, self.url, self.token = action_id, execution_id, url, token
        self.step, self.at = step, at


class ThirdParty(ThreadingHTTPServer):
    """Answers ``POST /hook`` (a ``std.mistral_http`` call) with 202 and queues the call."""

    daemon_threads = True
    request_queue_size = 1024

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.arrivals: queue.Queue[Arrival] = queue.Queue()
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()  # per action execution id (a repeat is a re-run)
        #: execution id -> perf_counter when its last callback was sent.
        self.sent_at: dict[str, float] = {}
        self.to_action: list[float] = []  # seconds, callback sent -> next action at the third party
        self.first_arrivals = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> ThirdParty:
        threading.Thread(target=self.serve_forever, name="third-party", daemon=True).start()
        return self

    def record(self, arrival: Arrival) -> None:
        with self.lock:
            self.calls[arrival.action_id] += 1
            if self.calls[arrival.action_id] > 1:
                return  # a repeat: the callback of the first call completes it
            if arrival.step == 1:
                self.first_arrivals += 1
            else:
                sent = self.sent_at.get(arrival.execution_id)
                if sent is not None:
                    self.to_action.append(arrival.at - sent)
        self.arrivals.put(arrival)


class _Handler(BaseHTTPRequestHandler):
    server: ThirdParty
    protocol_version = "HTTP/1.1"
    #: TCP_NODELAY, as production servers set it. http.server writes the headers and the body
    #: apart; without it the body of an answer on a kept-alive connection (executors reuse theirs)
    #: waits for the executor's delayed ACK, ~40 ms, holding an executor thread that long.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        at = time.perf_counter()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        data = b'{"accepted": true}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        try:
            step = int(json.loads(raw)["step"])
        except (ValueError, KeyError, TypeError):
            return
        self.server.record(Arrival(self.headers.get("Mistral-Action-Execution-Id", ""),
                                   self.headers.get("Mistral-Workflow-Execution-Id", ""),
                                   self.headers.get("Mistral-Callback-URL", ""),
                                   self.headers.get("Levante-Callback-Token"), step, at))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


# --- the callers -------------------------------------------------------------------------------


class Callers:
    """A pool of threads sending the callbacks of the calls that reach the third party."""

    def __init__(self, third: ThirdParty, threads: int, rate: float | None) -> None:
        self.third = third
        self.threads = threads
        self.interval = 1.0 / rate if rate else 0.0
        self.lock = threading.Lock()
        self.next_slot = 0.0
        self.accepted = 0
        self.failed: Counter[str] = Counter()
        self.first_sent: float | None = None
        self.last_answered = 0.0
        #: (execution id, step of the task completed) -> UTC time the callback was sent.
        self.sent_wall: dict[tuple[str, int], datetime] = {}
        self.expected = 0
        self.done = threading.Event()
        self.answer_times: list[float] = []  # seconds from sending a callback to its answer
        self._local = threading.local()

    def run(self, expected: int) -> None:
        """Send callbacks until ``expected`` have been accepted (or nothing comes for 120 s)."""
        self.expected, self.accepted, self.done = expected, 0, threading.Event()
        self.first_sent, self.next_slot = None, 0.0
        workers = [threading.Thread(target=self._work, daemon=True) for _ in range(self.threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()

    def _pace(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.perf_counter()
            slot = max(self.next_slot, now)
            self.next_slot = slot + self.interval
        if slot > now:
            time.sleep(slot - now)

    def _work(self) -> None:
        while not self.done.is_set():
            try:
                arrival = self.third.arrivals.get(timeout=0.5)
            except queue.Empty:
                if self.first_sent is not None and time.perf_counter() - self.last_answered > 120:
                    self.done.set()  # nothing moves any more: stop and report
                continue
            self._pace()
            self._send(arrival)

    def _put(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """PUT on this thread's kept-alive connection to the API (as an HTTP client library with a
        session would), opening a new one when there is none or the last one failed."""
        parts = urllib.parse.urlsplit(url)
        key = (parts.hostname or "127.0.0.1", parts.port or 80)
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "key", None) != key:
            conn = http.client.HTTPConnection(*key, timeout=60)
            self._local.conn, self._local.key = conn, key
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn.request("PUT", path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
        except BaseException:
            conn.close()
            self._local.conn = None
            raise
        if resp.getheader("Connection", "").lower() == "close":
            conn.close()
            self._local.conn = None
        return resp.status

    def _send(self, arrival: Arrival) -> None:
        body = json.dumps({"state": "SUCCESS", "output": {"step": arrival.step}}).encode()
        headers = {"Content-Type": "application/json"}
        if arrival.token:
            headers["Levante-Callback-Token"] = arrival.token
        sent = time.perf_counter()
        with self.third.lock:
            self.third.sent_at[arrival.execution_id] = sent
        with self.lock:
            if self.first_sent is None:
                self.first_sent = sent
            self.sent_wall[(arrival.execution_id, arrival.step)] = datetime.now(timezone.utc)
        status = 0
        for attempt in range(5):  # a real service retries on connection errors and 5xx
            try:
                status = self._put(arrival.url, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                status = 0
                with self.lock:
                    self.failed[f"retried: {type(exc).__name__}"] += 1
            if status == 409 and attempt > 0:
                status = 200  # an earlier attempt landed but its answer was lost
            if 0 < status < 500:
                break
            time.sleep(0.2)
        with self.lock:
            self.last_answered = time.perf_counter()
            self.answer_times.append(self.last_answered - sent)
            if 200 <= status < 300:
                self.accepted += 1
                if self.accepted >= self.expected:
                    self.done.set()
            else:
                self.failed[str(status)] += 1


# --- measuring ---------------------------------------------------------------------------------


def rss_mb(pid: int) -> float | None:
    """Resident memory of ``pid`` in MB (None when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` has used (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _service_pids() -> dict[str, list[int]]:
    """The PostgreSQL backends and the RabbitMQ node of this machine (shared with the deployment)."""
    found: dict[str, list[int]] = {"postgresql": [], "rabbitmq": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if b"postgres" in command:
            found["postgresql"].append(int(entry.name))
        elif b"beam" in command:
            found["rabbitmq"].append(int(entry.name))
    return found


def cpu_by_process(dep: Deployment) -> dict[str, float]:
    """CPU seconds so far of every process of the deployment, of PostgreSQL and RabbitMQ (all
    their processes), and of this harness (the third party and the callers)."""
    out = {name: cpu_seconds(proc.pid) for name, proc in sorted(dep.procs.items())}
    for i, pid in enumerate(sorted(dep.api_worker_pids()), 1):
        out[f"api-worker-{i}"] = cpu_seconds(pid)
    for name, pids in _service_pids().items():
        out[name] = sum(cpu_seconds(pid) for pid in pids)
    out["harness"] = cpu_seconds(os.getpid())
    return out


def memory(dep: Deployment) -> dict[str, float | None]:
    """VmRSS of every process of the deployment, gunicorn's workers included."""
    out = {name: rss_mb(proc.pid) for name, proc in sorted(dep.procs.items())}
    out["api"] = out.pop("api")  # gunicorn's master
    for i, pid in enumerate(sorted(dep.api_worker_pids()), 1):
        out[f"api-worker-{i}"] = rss_mb(pid)
    return out


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p90/p99/max in milliseconds."""
    if not values:
        return {"n": 0, "p50_ms": None, "p90_ms": None, "p99_ms": None, "max_ms": None}
    ordered = sorted(values)
    cuts = statistics.quantiles(ordered, n=100, method="inclusive") if len(ordered) > 1 else ordered * 99

    def ms(x: float) -> float:
        return round(x * 1000, 1)

    return {"n": len(ordered), "p50_ms": ms(cuts[49]), "p90_ms": ms(cuts[89]), "p99_ms": ms(cuts[98]),
            "max_ms": ms(ordered[-1])}


def task_start_latencies(db_url: str, sent_wall: dict[tuple[str, int], datetime]) -> list[float]:
    """Seconds from each callback being sent to the next task's row being created (the database's
    ``created_at``, written by the API process that took the callback)."""
    from sqlalchemy import text

    from levante.db.session import make_engine

    eng = make_engine(db_url)
    try:
        with eng.connect() as conn:
            rows = conn.execute(text("SELECT workflow_execution_id, name, created_at FROM task_executions")).all()
    finally:
        eng.dispose()
    out = []
    for ex_id, name, created in rows:
        step = int(name[1:])
        sent = sent_wall.get((ex_id, step - 1))
        if sent is None:
            continue
        if created.tzinfo is None:
            created = created.replace(tzinfo=timezone.utc)
        out.append((created - sent).total_seconds())
    return out


# --- the run -----------------------------------------------------------------------------------


class LoadTest:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="levante-load-"))
        self.dep = Deployment(self.tmp, api_workers=args.api_workers)
        self.third = ThirdParty()
        self.callers = Callers(self.third, args.callers, args.rate)
        self.name = f"load_{uuid.uuid4().hex[:6]}"
        self.api: Api

    def run(self) -> dict[str, Any]:
        args = self.args
        self.third.start()
        t0 = time.monotonic()
        self.dep.start()
        self.api = Api(self.dep.base)
        self.api.call("POST", "/workflows", workflow(self.name, args.steps), plain=True)
        log(f"deployment up in {time.monotonic() - t0:.1f} s (logs in {self.tmp})")
        rounds = [self._round(i) for i in range(1, args.rounds + 1)]
        to_start = task_start_latencies(self.dep.env["LEVANTE_DB_URL"], self.callers.sent_wall)
        report = {
            "executions_per_round": args.executions, "steps": args.steps, "callers": args.callers,
            "rate_asked": args.rate, "rounds": rounds,
            "latency_callback_to_next_task_start": percentiles(to_start),
            "latency_callback_to_next_action_at_third_party": percentiles(self.third.to_action),
            "callback_answer_time": percentiles(self.callers.answer_times),
            "actions_called_twice": sum(1 for n in self.third.calls.values() if n > 1),
            "logs": str(self.tmp),
        }
        report["ok"] = all(r["ok"] for r in rounds) and report["actions_called_twice"] == 0
        return report

    def _round(self, number: int) -> dict[str, Any]:
        args = self.args
        ids = self._start_all(args.executions)
        t_started = time.monotonic()
        waiting = self._wait_first_arrivals(number * args.executions)
        log(f"round {number}: {len(ids)} executions started, {waiting} waiting on their first action "
            f"({time.monotonic() - t_started:.1f} s after the last start)")
        time.sleep(2.0)  # let the processes settle before reading their memory
        before = memory(self.dep)
        expected = args.executions * args.steps
        log(f"round {number}: sending {expected} callbacks")
        cpu_before = cpu_by_process(self.dep)
        self.callers.run(expected)
        cpu_used = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_by_process(self.dep).items()}
        elapsed = self.callers.last_answered - (self.callers.first_sent or self.callers.last_answered)
        log(f"round {number}: {self.callers.accepted} callbacks accepted in {elapsed:.1f} s")
        states = self._wait_ended(ids)
        time.sleep(2.0)
        after = memory(self.dep)
        ended = Counter(states.values())
        return {
            "round": number,
            "executions": len(ids),
            "all_waiting_at_once": waiting - (number - 1) * args.executions,
            "callbacks_accepted": self.callers.accepted,
            "callbacks_failed": dict(self.callers.failed),
            "callback_seconds": round(elapsed, 2),
            "callbacks_per_second": round(self.callers.accepted / elapsed, 1) if elapsed > 0 else None,
            "executions_ended": dict(ended),
            # CPU of each process while the callbacks flowed, per accepted callback.
            "cpu_ms_per_callback": {k: round(v * 1000 / max(1, self.callers.accepted), 2)
                                    for k, v in cpu_used.items()},
            "memory_mb_before": before,
            "memory_mb_after": after,
            "memory_mb_growth": {k: (round(after[k] - v, 1) if v is not None and after.get(k) is not None else None)
                                 for k, v in before.items()},
            "ok": self.callers.accepted == expected and ended.get("SUCCESS", 0) == len(ids),
        }

    def _start_all(self, n: int) -> list[str]:
        body = {"workflow_name": self.name, "input": {"base": self.third.url}}
        with ThreadPoolExecutor(max_workers=16) as pool:
            return [ex["id"] for ex in pool.map(lambda _: self.api.call("POST", "/executions", body), range(n))]

    def _wait_first_arrivals(self, wanted: int) -> int:
        deadline = time.monotonic() + max(120.0, wanted / 10)
        while self.third.first_arrivals < wanted and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.third.first_arrivals

    def _wait_ended(self, ids: list[str]) -> dict[str, str]:
        pending = set(ids)
        states: dict[str, str] = {}
        deadline = time.monotonic() + 300
        while pending and time.monotonic() < deadline:
            listed = self.api.call("GET", f"/executions?workflow_name={self.name}&fields=id,state&limit=1000"
                                   f"&state=in:SUCCESS,ERROR,CANCELLED")["executions"]
            marker = None
            while listed:
                for ex in listed:
                    if ex["id"] in pending and ex["state"] in TERMINAL:
                        states[ex["id"]] = ex["state"]
                        pending.discard(ex["id"])
                if len(listed) < 1000:
                    break
                marker = listed[-1]["id"]
                listed = self.api.call("GET", f"/executions?workflow_name={self.name}&fields=id,state&limit=1000"
                                       f"&state=in:SUCCESS,ERROR,CANCELLED&marker={marker}")["executions"]
            if pending:
                time.sleep(0.5)
        states.update({ex_id: "UNFINISHED" for ex_id in pending})
        return states


def _print_human(report: dict[str, Any]) -> None:
    print(f"ok: {report['ok']}")
    print(f"executions per round: {report['executions_per_round']}, steps: {report['steps']}, "
          f"callers: {report['callers']}, rate asked: {report['rate_asked'] or 'as fast as possible'}")
    for r in report["rounds"]:
        print(f"round {r['round']}: {r['callbacks_accepted']} callbacks in {r['callback_seconds']} s = "
              f"{r['callbacks_per_second']}/s; waiting at once: {r['all_waiting_at_once']}; "
              f"ended: {r['executions_ended']}; failed callbacks: {r['callbacks_failed']}")
        cpu = r["cpu_ms_per_callback"]
        print(f"  CPU ms per callback: total {sum(cpu.values()):.1f}: "
              + ", ".join(f"{k} {v}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1])))
        for name, before in r["memory_mb_before"].items():
            print(f"  memory {name:<14} {before} MB -> {r['memory_mb_after'].get(name)} MB "
                  f"({r['memory_mb_growth'].get(name):+} MB)" if r["memory_mb_growth"].get(name) is not None
                  else f"  memory {name:<14} {before} MB -> {r['memory_mb_after'].get(name)}")
    for key in ("latency_callback_to_next_task_start", "latency_callback_to_next_action_at_third_party",
                "callback_answer_time"):
        print(f"{key}: {json.dumps(report[key])}")
    print(f"actions called twice: {report['actions_called_twice']}; logs: {report['logs']}")
    if "limits" in report:
        from bench.limits import print_human

        print("limits of the parts (measured alone after the run):")
        print_human(report["limits"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executions", type=int, default=1000, help="executions waiting at once (per round)")
    parser.add_argument("--steps", type=int, default=10, help="async tasks per execution (callbacks each)")
    parser.add_argument("--callers", type=int, default=64, help="threads sending callbacks")
    parser.add_argument("--rate", type=float, default=None, help="callbacks per second (default: no limit)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds (memory is read around each)")
    parser.add_argument("--api-workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--keep", action="store_true", help="keep the database, queues and logs")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--limits", nargs="?", type=float, const=5.0, default=None, metavar="SECONDS",
                        help="after the run, measure what PostgreSQL, RabbitMQ and SQLite allow alone "
                             "(bench/limits.py, SECONDS per figure, 5 by default) and report it under 'limits'")
    args = parser.parse_args(argv)
    try:
        check_backends()
    except Unreachable as exc:
        print(f"load: {exc}", file=sys.stderr)
        return 2
    test = LoadTest(args)
    try:
        report = test.run()
    finally:
        test.dep.stop(keep=args.keep)
        test.third.shutdown()
    if args.limits is not None:
        # Measured once the deployment has stopped, so that its processes do not share the machine.
        from bench.limits import measure

        report["limits"] = measure(args.limits)
    if args.json:
        print(json.dumps(report))
    else:
        _print_human(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
