"""Fault campaign (issue #7): runs a mix of workflows on PostgreSQL + RabbitMQ with the API under
gunicorn (2 workers), 2 engines and 2 executors, injects faults while they run, and prints a verdict.

    python bench/faults.py [--slim] [--executions N] [--seed S] [--json] [--keep]

Faults (each once with ``--slim``, several times otherwise): SIGKILL of an engine, of an executor,
of a gunicorn worker; a restart of RabbitMQ; a restart of PostgreSQL; a callback sent twice; a
callback that lands while its execution is paused (paused by the harness, resumed after); a cancel
storm (self-recursive executions, each level waiting on an async action, cancelled by many
concurrent requests at their roots and at random sub-executions while they grow). Killed
engines and executors are restarted by the harness (as a supervisor would); gunicorn's master
restarts its workers. ``pause-before`` pauses are resumed by the harness.

Verdict (exit 0 only when all hold): every execution ended SUCCESS with its expected output; no
action without ``safe-rerun`` ran more than once; no callback the third party got a 2xx for is
missing from its action's output; no execution is left unfinished ``--settle`` seconds after the
last fault; the cancel storm got no 500, and nothing of the cancelled trees is left running
(execution, task or action).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import faults_mix as mix  # noqa: E402

# Unreachable and check_backends are imported from here by the tests.
from bench.deployment import TERMINAL, Api, Deployment, Unreachable, check_backends, log  # noqa: E402,F401
from bench.faults_third_party import ThirdParty  # noqa: E402

FAULTS = ("kill_engine", "kill_executor", "kill_api_worker", "restart_rabbitmq", "restart_postgresql",
          "callback_twice", "callback_during_pause", "cancel_storm")
#: The cancel storm's workflow: each level waits on an async action and starts two more levels.
STORM_WF = """
version: '2.0'
{name}:
  input:
    - depth: 5
  tasks:
    wait:
      action: std.async_noop
    check:
      action: std.noop
      on-success:
        - deeper: <% $.depth > 0 %>
    deeper:
      with-items: i in [1, 2]
      workflow: {name}
      input:
        depth: <% $.depth - 1 %>
"""
#: States that mean "still running" for an execution, a task or an action.
_UNFINISHED = ("RUNNING", "PAUSED", "IDLE", "WAITING", "DELAYED")


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# --- the campaign ----------------------------------------------------------------------------


class Campaign:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.tmp = Path(tempfile.mkdtemp(prefix="levante-faults-"))
        self.dep = Deployment(self.tmp)
        self.third = ThirdParty(args.seed)
        self.api: Api
        self.prefix = f"f{uuid.uuid4().hex[:6]}_"
        #: execution id -> (kind, v, tag)
        self.executions: dict[str, tuple[str, int, str]] = {}
        self.duplicates_started: list[str] = []
        self.held: set[str] = set()  # executions the harness paused itself
        self.pause_faults_wanted = 0
        self.pause_asked = 0
        self.pause_results: list[dict[str, Any]] = []
        self.faults_done: Counter[str] = Counter()
        self.fault_log: list[str] = []
        self.resumed_pause_before = 0
        self.storm_roots: list[str] = []
        self.storm_statuses: Counter[str] = Counter()
        self.storm_errors: list[str] = []
        self.lock = threading.Lock()

    # --- starting executions ------------------------------------------------------------

    def start_execution(self, kind: str, v: int) -> None:
        tag = uuid.uuid4().hex
        body = {"workflow_name": self.prefix + kind, "input": {"base": self.third.url, "v": v},
                "description": tag}
        try:
            ex = self.api.call("POST", "/executions", body, patience=0)
            with self.lock:
                self.executions[ex["id"]] = (kind, v, tag)
            return
        except RuntimeError as exc:
            log(f"starting an execution failed ({exc}); looking for it by its tag before retrying")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = self._find_by_tag(tag)
            if found is None:  # the API not answering: try again later
                time.sleep(1)
                continue
            if found:
                with self.lock:
                    self.executions[found[0]] = (kind, v, tag)
                    self.duplicates_started += found[1:]
                return
            try:
                ex = self.api.call("POST", "/executions", body, patience=0)
                with self.lock:
                    self.executions[ex["id"]] = (kind, v, tag)
                return
            except RuntimeError:
                time.sleep(1)
        raise RuntimeError("could not start an execution for 120 s")

    def _find_by_tag(self, tag: str) -> list[str] | None:
        try:
            listed = self.api.call("GET", "/executions?limit=1000", patience=0)["executions"]
        except RuntimeError:
            return None
        return [e["id"] for e in listed if e.get("description") == tag]

    # --- pauses -------------------------------------------------------------------------

    def pause_hook(self, ex_id: str, wf_name: str) -> Any:
        """Third-party hook before a callback: pause the execution (once per fault asked for)."""
        try:
            return self._pause_hook(ex_id, wf_name)
        except Exception as exc:  # noqa: BLE001 - the callback must still be sent
            self.fault_log.append(f"callback_during_pause failed: {exc!r}")
            log(f"callback_during_pause failed: {exc!r}")
            return None

    def _pause_hook(self, ex_id: str, wf_name: str) -> Any:
        with self.lock:
            if self.pause_faults_wanted <= 0 or ex_id in self.held:
                return None
            self.pause_faults_wanted -= 1
            self.held.add(ex_id)
        # A paused sub-workflow pauses its parent, and resuming the sub-workflow leaves the parent
        # PAUSED: pause and resume the root execution (which pauses and resumes its children).
        child = ex_id
        ex_id = self.api.call("GET", f"/executions/{child}").get("root_execution_id") or child
        with self.lock:
            self.held.add(ex_id)
        record: dict[str, Any] = {"execution": ex_id, "callback_of": child, "workflow": wf_name}
        ans = self.api.call("PUT", f"/executions/{ex_id}", {"state": "PAUSED"}, ok=(400, 409))
        record["pause"] = ans.get("_status", 200) if isinstance(ans, dict) else 200
        time.sleep(0.3)

        def after() -> None:
            time.sleep(1.0)
            record["state_after_callback"] = self.api.call("GET", f"/executions/{ex_id}")["state"]
            ans = self.api.call("PUT", f"/executions/{ex_id}", {"state": "RUNNING"}, ok=(400, 409))
            record["resume"] = ans.get("_status", 200) if isinstance(ans, dict) else 200
            with self.lock:
                self.held.discard(ex_id)
                self.held.discard(child)
                self.pause_results.append(record)
            self.faults_done["callback_during_pause"] += 1
            self.fault_log.append(f"callback_during_pause: {record}")

        return after

    # --- faults -------------------------------------------------------------------------

    def inject(self, fault: str) -> None:
        dep = self.dep
        if fault == "kill_engine":
            name = self.rng.choice(["engine-1", "engine-2"])
            pid = dep.kill(name)
            self.fault_log.append(f"SIGKILL {name} (pid {pid})")
        elif fault == "kill_executor":
            name = self.rng.choice(["executor-1", "executor-2"])
            pid = dep.kill(name)
            self.fault_log.append(f"SIGKILL {name} (pid {pid})")
        elif fault == "kill_api_worker":
            pids = dep.api_worker_pids()
            if not pids:
                self.fault_log.append("kill_api_worker: no gunicorn worker found")
                return
            pid = self.rng.choice(pids)
            os.kill(pid, signal.SIGKILL)
            self.fault_log.append(f"SIGKILL gunicorn worker {pid} (of {pids})")
        elif fault in ("restart_rabbitmq", "restart_postgresql"):
            self._restart(fault)
        elif fault == "callback_twice":
            with self.third.lock:
                self.third.double_next += 1
            self.fault_log.append("next callback will be sent twice")
        elif fault == "cancel_storm":
            self.cancel_storm()
        elif fault == "callback_during_pause":
            with self.lock:
                self.pause_faults_wanted += 1
            self.fault_log.append("next callback lands while its execution (top-level or sub-workflow) is paused")
            deadline = time.monotonic() + 10
            self.pause_asked += 1
            while self.faults_done[fault] < self.pause_asked and time.monotonic() < deadline:
                time.sleep(0.2)
            return  # counted when it happened
        self.faults_done[fault] += 1

    def _restart(self, fault: str) -> None:
        """Restart RabbitMQ or PostgreSQL (needs root)."""
        if fault == "restart_rabbitmq":
            t0 = time.monotonic()
            for cmd in (["rabbitmqctl", "stop_app"], ["rabbitmqctl", "start_app"]):
                res = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
                if res.returncode:
                    raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr[-500:]}")
            self.fault_log.append(f"RabbitMQ restarted ({time.monotonic() - t0:.1f} s)")
        else:
            version = sorted(os.listdir("/etc/postgresql"))[-1]
            t0 = time.monotonic()
            res = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                                 capture_output=True, text=True, check=False, timeout=120)
            if res.returncode:
                raise RuntimeError(f"pg_ctlcluster restart failed: {res.stderr[-500:]}")
            self.fault_log.append(f"PostgreSQL restarted ({time.monotonic() - t0:.1f} s)")

    # --- the cancel storm ---------------------------------------------------------------

    def cancel_storm(self, roots: int = 3, threads: int = 6, cancels: int = 5) -> None:
        """Start self-recursive executions, let their trees grow, then cancel roots and random
        sub-executions from many threads at once. Every answer must be 200 or 409 (never a 500);
        the verdict checks that nothing of the trees is left running."""
        name = self.prefix + "storm"
        started = [self.api.call("POST", "/executions", {"workflow_name": name})["id"] for _ in range(roots)]
        with self.lock:
            self.storm_roots += started
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and min(len(self._storm_tree(r)) for r in started) < 8:
            time.sleep(0.5)

        def cancel_some(seed: int) -> None:
            rng = random.Random(seed)
            for _ in range(cancels):
                root = rng.choice(started)
                target = root if rng.random() < 0.3 else rng.choice(self._storm_tree(root))
                status = self._storm_cancel(target)
                with self.lock:
                    self.storm_statuses[status] += 1

        workers = [threading.Thread(target=cancel_some, args=(self.rng.random(),)) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(180)
        self.fault_log.append(f"cancel storm on {len(started)} trees: {dict(self.storm_statuses)}")

    def _storm_tree(self, root: str) -> list[str]:
        try:
            below = self.api.call("GET", f"/executions/{root}/executions", patience=30)["executions"]
        except RuntimeError:
            return [root]
        return [root, *(e["id"] for e in below)]

    def _storm_cancel(self, execution_id: str) -> str:
        """PUT CANCELLED; returns the status (a 500 is recorded as an error). Other 5xx and
        connection errors (a fault just before) are tried again for 30 s."""
        deadline = time.monotonic() + 30
        while True:
            try:
                ans = self.api.call("PUT", f"/executions/{execution_id}", {"state": "CANCELLED"}, patience=0,
                                    ok=(409,))
                return str(ans.get("_status", 200)) if isinstance(ans, dict) else "200"
            except RuntimeError as exc:
                if "-> 500" in str(exc) or time.monotonic() > deadline:
                    with self.lock:
                        self.storm_errors.append(str(exc)[:500])
                    return "error"
                time.sleep(1.0)

    def _storm_verdict(self) -> dict[str, Any]:
        """Cancel what the storm left running (a root only its sub-executions were hit in), then
        list whatever of the trees still runs."""
        left: list[dict[str, Any]] = []
        for root in self.storm_roots:
            if self.api.call("GET", f"/executions/{root}")["state"] not in TERMINAL:
                self._storm_cancel(root)
            for ex_id in self._storm_tree(root):
                ex = self.api.call("GET", f"/executions/{ex_id}")
                tasks = self.api.call("GET", f"/executions/{ex_id}/tasks")["tasks"]
                actions = self.api.call("GET", f"/action_executions?workflow_execution_id={ex_id}")
                running = ([f"execution {ex_id} {ex['state']}"] if ex["state"] in _UNFINISHED else []) + \
                    [f"task {t['id']} {t['state']}" for t in tasks if t["state"] in _UNFINISHED] + \
                    [f"action {a['id']} {a['state']}" for a in actions["action_executions"]
                     if a["state"] in _UNFINISHED]
                if running:
                    left.append({"root": root, "running": running[:10]})
        return {"roots": len(self.storm_roots), "statuses": dict(self.storm_statuses),
                "errors": self.storm_errors[:20], "left_running": left[:20]}

    # --- the run ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args = self.args
        t0 = time.monotonic()
        self.third.pause_hook = self.pause_hook
        self.third.start()
        self.dep.start()
        self.api = Api(self.dep.base)
        self.api.call("POST", "/workflows", mix.workflows(self.prefix), plain=True)
        self.api.call("POST", "/workflows", STORM_WF.format(name=self.prefix + "storm"), plain=True)
        log(f"deployment up in {time.monotonic() - t0:.1f} s (logs in {self.tmp})")
        n = args.executions
        rounds = 1 if args.slim else args.rounds
        plan = [f for _ in range(rounds) for f in self.rng.sample(FAULTS, len(FAULTS))]
        if args.no_faults:
            plan = []
        # Executions are started in waves across the fault phase, so that faults hit work in flight.
        waves = max(1, len(plan) + 1)
        kinds = [mix.KINDS[i % len(mix.KINDS)] for i in range(n)]
        self.rng.shuffle(kinds)
        per_wave = [kinds[i::waves] for i in range(waves)]
        stop_resumer = threading.Event()
        resumer = threading.Thread(target=self._resume_pause_before, args=(stop_resumer,), daemon=True)
        resumer.start()
        t_work = time.monotonic()
        for i in range(waves):
            self._start_wave(per_wave[i])
            if i < len(plan):
                time.sleep(args.interval * self.rng.uniform(0.5, 1.0))
                fault = plan[i]
                log(f"fault {i + 1}/{len(plan)}: {fault}")
                try:
                    self.inject(fault)
                except Exception as exc:  # noqa: BLE001
                    self.fault_log.append(f"{fault} FAILED to inject: {exc}")
                    log(f"fault {fault} could not be injected: {exc}")
        last_fault = time.monotonic()
        log(f"all {len(self.executions)} executions started; waiting (settle {args.settle:.0f} s after the last fault)")
        unfinished = self._wait_all(last_fault + args.settle, t_work + args.max_wait)
        # Wait for outstanding callbacks (or their giving up) before counting lost ones.
        deadline = time.monotonic() + 30
        while self.third.pending > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop_resumer.set()
        verdict = self._verdict(unfinished)
        verdict["seconds"] = round(time.monotonic() - t0, 1)
        return verdict

    def _start_wave(self, kinds: list[str]) -> None:
        threads = [threading.Thread(target=self.start_execution, args=(k, self.rng.randint(1, 1000)))
                   for k in kinds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _resume_pause_before(self, stop: threading.Event) -> None:
        """Resumes the executions paused by ``pause-before`` (the interactive policy)."""
        while not stop.wait(1.0):
            try:
                listed = self.api.call("GET", "/executions?state=PAUSED&limit=1000", patience=0)["executions"]
            except RuntimeError:
                continue
            for ex in listed:
                with self.lock:  # only pause-before pauses: the 'policies' executions
                    if (ex["id"] in self.held or ex.get("state") != "PAUSED"
                            or self.executions.get(ex["id"], ("?",))[0] != "policies"):
                        continue
                ans = self.api.call("PUT", f"/executions/{ex['id']}", {"state": "RUNNING"}, patience=10,
                                    ok=(400, 404, 409))
                if not (isinstance(ans, dict) and "_status" in ans):
                    self.resumed_pause_before += 1

    def _wait_all(self, settle_until: float, hard_until: float) -> dict[str, str]:
        pending = set(self.executions)
        states: dict[str, str] = {}
        while pending:
            for ex_id in list(pending):
                try:
                    state = self.api.call("GET", f"/executions/{ex_id}", patience=5)["state"]
                except RuntimeError:
                    continue
                states[ex_id] = state
                if state in TERMINAL:
                    pending.discard(ex_id)
            now = time.monotonic()
            if not pending or now > min(settle_until, hard_until):
                break
            time.sleep(1.0)
        return {ex_id: states.get(ex_id, "?") for ex_id in pending}

    # --- the verdict --------------------------------------------------------------------

    def _verdict(self, unfinished: dict[str, str]) -> dict[str, Any]:
        expected_ok = 0
        unexpected: list[dict[str, Any]] = []
        for ex_id, (kind, v, _tag) in self.executions.items():
            ex = self.api.call("GET", f"/executions/{ex_id}")
            want = mix.expected(kind, v)
            got = _json(ex.get("output"))
            if ex["state"] == "SUCCESS" and got == want:
                expected_ok += 1
            else:
                unexpected.append({"id": ex_id, "kind": kind, "state": ex["state"],
                                   "state_info": (ex.get("state_info") or "")[:300], "output": got,
                                   "expected": want})
        # Runs per action execution: std.mistral_http by its id; std.http by task (calls vs actions).
        reruns: list[dict[str, Any]] = []
        for ae_id, count in self.third.async_calls.items():
            if count > 1:
                reruns.append({"action_execution": ae_id, "runs": count, **self.third.async_meta.get(ae_id, {})})
        by_task: dict[tuple[str, str], int] = Counter()
        for key, count in self.third.sync_calls.items():
            ex_id, task = key.rsplit("/", 1)
            by_task[(ex_id, task)] += count
        task_ids: dict[str, dict[str, str]] = {}
        for (ex_id, task), calls in by_task.items():
            if ex_id not in task_ids:
                tasks = self.api.call("GET", f"/executions/{ex_id}/tasks")["tasks"]
                task_ids[ex_id] = {t["name"]: t["id"] for t in tasks}
            actions = self.api.call("GET", f"/tasks/{task_ids[ex_id][task]}/action_executions")["action_executions"]
            if calls > len(actions):
                reruns.append({"execution": ex_id, "task": task, "calls": calls, "action_executions": len(actions)})
        # Callbacks the API accepted (2xx) must be their action's output.
        lost: list[dict[str, Any]] = []
        for ae_id, output in self.third.delivered.items():
            ae = self.api.call("GET", f"/action_executions/{ae_id}")
            got = _json(ae.get("output"))
            if isinstance(got, dict) and set(got) == {"result"}:  # Mistral wraps an action's output
                got = got["result"]
            if ae.get("state") != "SUCCESS" or got != output:
                lost.append({"action_execution": ae_id, "state": ae.get("state"), "output": got, "sent": output,
                             **self.third.async_meta.get(ae_id, {})})
        stuck = []
        for ex_id, state in unfinished.items():
            stuck.append({"id": ex_id, "kind": self.executions[ex_id][0], "state": state})
        wanted = 1 if self.args.slim else self.args.rounds
        missing_faults = {f: wanted - self.faults_done[f] for f in FAULTS
                          if self.faults_done[f] < wanted and not self.args.no_faults}
        storm = self._storm_verdict()
        ok = (expected_ok == len(self.executions) and not reruns and not lost and not stuck
              and not missing_faults and not self.duplicates_started
              and not storm["errors"] and not storm["left_running"])
        return {
            "ok": ok,
            "mode": "slim" if self.args.slim else "full",
            "seed": self.args.seed,
            "executions": len(self.executions),
            "ended_as_expected": expected_ok,
            "unexpected": len(unexpected),
            "non_safe_rerun_actions_run_twice": len(reruns),
            "callbacks_delivered": len(self.third.delivered),
            "callbacks_lost": len(lost),
            "stuck_executions": len(stuck),
            "duplicate_executions_started": len(self.duplicates_started),
            "cancel_storm": storm,
            "faults": dict(self.faults_done),
            "faults_missing": missing_faults,
            "callbacks_sent_twice": [{"action_execution": a, "statuses": s} for a, s in self.third.doubled],
            "callbacks_during_pause": self.pause_results,
            "callback_conflicts_409": sum(self.third.conflicts.values()),
            "callback_rejected": self.third.rejected,
            "callback_put_retries": self.third.put_retries,
            "pause_before_resumed": self.resumed_pause_before,
            "process_restarts": dict(self.dep.restarts),
            "unexpected_process_exits": self.dep.unexpected_exits,
            "api_errors_retried": dict(self.api.errors),
            "fault_log": self.fault_log,
            "details": {"unexpected": unexpected[:20], "reruns": reruns[:20], "lost": lost[:20], "stuck": stuck[:20]},
            "logs": str(self.tmp),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slim", action="store_true", help="a few dozen executions, each fault once")
    parser.add_argument("--executions", type=int, default=None, help="executions (200 full, 30 slim)")
    parser.add_argument("--rounds", type=int, default=3, help="times each fault is injected (full)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--interval", type=float, default=None, help="seconds between faults")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds after the last fault before an unfinished execution counts as stuck")
    parser.add_argument("--max-wait", type=float, default=900.0)
    parser.add_argument("--no-faults", action="store_true", help="the workload alone (a baseline)")
    parser.add_argument("--keep", action="store_true", help="keep the database, queues and logs")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    args = parser.parse_args(argv)
    if args.executions is None:
        args.executions = 30 if args.slim else 200
    if args.interval is None:
        args.interval = 4.0 if args.slim else 6.0
    try:
        check_backends()
    except Unreachable as exc:
        print(f"faults: {exc}", file=sys.stderr)
        return 2
    campaign = Campaign(args)
    try:
        verdict = campaign.run()
    finally:
        campaign.third.stopping = True
        campaign.dep.stop(keep=args.keep)
        campaign.third.shutdown()
    if args.json:
        print(json.dumps(verdict))
    else:
        for key in ("ok", "executions", "ended_as_expected", "unexpected", "non_safe_rerun_actions_run_twice",
                    "callbacks_delivered", "callbacks_lost", "stuck_executions", "duplicate_executions_started",
                    "cancel_storm", "faults", "faults_missing", "process_restarts", "unexpected_process_exits",
                    "seconds", "logs"):
            print(f"{key}: {json.dumps(verdict[key])}")
        for key, items in verdict["details"].items():
            for item in items:
                print(f"{key}: {json.dumps(item)}")
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
