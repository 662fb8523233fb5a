"""Fault campaign (issues #7 and #11): runs a mix of workflows on two victims, injects faults while
they run, and prints a verdict. The victims: PostgreSQL + RabbitMQ with the API under gunicorn
(2 workers), 2 engines and 2 executors; and one ``levante server`` process on a SQLite file with the
``memory://`` transport (the embedded installation), which gets ``--embedded-share`` of the mix.

    python bench/faults.py [--slim] [--executions N] [--seed S] [--json] [--keep]

Faults (each once with ``--slim``, several times otherwise): SIGKILL of an engine, of an executor,
of a gunicorn worker, of the embedded server (``kill_embedded``: restarted on the same file and
port); a restart of RabbitMQ; a restart of PostgreSQL; a callback sent twice; a callback that lands
while its execution is paused (paused by the harness, resumed after); a poison event
(``poison_event``: an ActionCompleted with a state that does not exist, published on the engine
queue for a running async action of the mix, whose task must fail and be retried; on the embedded
victim, which has no queue reachable from outside, the same result sent as a callback must be a
400); a cancel storm (``cancel_storm``: extra executions of a self-recursive workflow, each
level waiting on an async action, cancelled by many concurrent requests at their roots and at
random sub-executions, some while they grow; see ``bench/faults_storm.py``). Killed processes
are restarted by the harness (as a supervisor would); gunicorn's master restarts its workers.
``pause-before`` pauses are resumed by the harness. The mix includes a NUL case (a NUL character
in a third party's answer and in a callback, kept in the output) on both victims.

Verdict (exit 0 only when all hold): every execution ended SUCCESS with its expected output; no
action without ``safe-rerun`` ran more than once; no callback the third party got a 2xx for is
missing from its action's output; no execution is left unfinished ``--settle`` seconds after the
last fault; each poison event failed its task (which was retried) and the dead-letter queue is
empty; the cancel storm got no 500 and nothing of its trees is left running (execution, task or
action), and late callbacks for them got 409; no execution of either victim is left RUNNING with
nothing that can move it on (``stalled_executions`` on both databases).
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
from bench.faults_embedded import Embedded  # noqa: E402
from bench.faults_storm import CancelStorm  # noqa: E402
from bench.faults_third_party import ThirdParty  # noqa: E402

FAULTS = ("kill_engine", "kill_executor", "kill_api_worker", "restart_rabbitmq", "restart_postgresql",
          "callback_twice", "callback_during_pause", "kill_embedded", "poison_event", "cancel_storm")
#: The message the engine puts in state_info when it fails what a poison event concerns.
POISON_TEXT = "The engine could not apply"


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
        self.emb = Embedded(self.tmp)
        self.third = ThirdParty(args.seed)
        self.api: Api  # the deployment's
        self.apis: dict[str, Api] = {}
        self.prefix = f"f{uuid.uuid4().hex[:6]}_"
        #: execution id -> (kind, v, tag, victim)
        self.executions: dict[str, tuple[str, int, str, str]] = {}
        self.duplicates_started: list[str] = []
        self.held: set[str] = set()  # executions the harness paused itself
        self.pause_faults_wanted = 0
        self.pause_asked = 0
        self.pause_results: list[dict[str, Any]] = []
        self.faults_done: Counter[str] = Counter()
        self.fault_log: list[str] = []
        self.resumed_pause_before = 0
        self.poison_wanted = 0
        self.poison_callback_wanted = 0
        self.poisons: list[dict[str, Any]] = []
        self.poison_callbacks: list[dict[str, Any]] = []
        self.transport: Any = None
        self.storm: CancelStorm | None = None
        self.as_expected: set[str] = set()
        self.lock = threading.Lock()

    def victim_of(self, url: str) -> str:
        """The victim a callback URL (or any URL of its API) belongs to."""
        return "embedded" if url.startswith(self.emb.root + "/") else "deployment"

    # --- starting executions ------------------------------------------------------------

    def start_execution(self, kind: str, v: int, victim: str = "deployment") -> None:
        tag = uuid.uuid4().hex
        body = {"workflow_name": self.prefix + kind, "input": {"base": self.third.url, "v": v},
                "description": tag}
        api = self.apis[victim]
        try:
            ex = api.call("POST", "/executions", body, patience=0)
            with self.lock:
                self.executions[ex["id"]] = (kind, v, tag, victim)
            return
        except RuntimeError as exc:
            log(f"starting an execution on the {victim} failed ({exc}); looking for it by its tag before retrying")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = self._find_by_tag(api, tag)
            if found is None:  # the API not answering: try again later
                time.sleep(1)
                continue
            if found:
                with self.lock:
                    self.executions[found[0]] = (kind, v, tag, victim)
                    self.duplicates_started += found[1:]
                return
            try:
                ex = api.call("POST", "/executions", body, patience=0)
                with self.lock:
                    self.executions[ex["id"]] = (kind, v, tag, victim)
                return
            except RuntimeError:
                time.sleep(1)
        raise RuntimeError("could not start an execution for 120 s")

    def _find_by_tag(self, api: Api, tag: str) -> list[str] | None:
        try:
            listed = api.call("GET", "/executions?limit=1000", patience=0)["executions"]
        except RuntimeError:
            return None
        return [e["id"] for e in listed if e.get("description") == tag]

    # --- pauses -------------------------------------------------------------------------

    def pause_hook(self, ex_id: str, wf_name: str, url: str) -> Any:
        """Third-party hook before a callback: pause the execution (once per fault asked for)."""
        try:
            return self._pause_hook(ex_id, wf_name, self.apis[self.victim_of(url)])
        except Exception as exc:  # noqa: BLE001 - the callback must still be sent
            self.fault_log.append(f"callback_during_pause failed: {exc!r}")
            log(f"callback_during_pause failed: {exc!r}")
            return None

    def _pause_hook(self, ex_id: str, wf_name: str, api: Api) -> Any:
        with self.lock:
            if self.pause_faults_wanted <= 0 or ex_id in self.held:
                return None
            self.pause_faults_wanted -= 1
            self.held.add(ex_id)
        # A paused sub-workflow pauses its parent, and resuming the sub-workflow leaves the parent
        # PAUSED: pause and resume the root execution (which pauses and resumes its children).
        child = ex_id
        ex_id = api.call("GET", f"/executions/{child}").get("root_execution_id") or child
        with self.lock:
            self.held.add(ex_id)
        record: dict[str, Any] = {"execution": ex_id, "callback_of": child, "workflow": wf_name,
                                  "victim": "embedded" if api.base == self.emb.base else "deployment"}
        ans = api.call("PUT", f"/executions/{ex_id}", {"state": "PAUSED"}, ok=(400, 409))
        record["pause"] = ans.get("_status", 200) if isinstance(ans, dict) else 200
        time.sleep(0.3)

        def after() -> None:
            time.sleep(1.0)
            record["state_after_callback"] = api.call("GET", f"/executions/{ex_id}")["state"]
            ans = api.call("PUT", f"/executions/{ex_id}", {"state": "RUNNING"}, ok=(400, 409))
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
        elif fault == "callback_during_pause":
            with self.lock:
                self.pause_faults_wanted += 1
            self.fault_log.append("next callback lands while its execution (top-level or sub-workflow) is paused")
            deadline = time.monotonic() + 10
            self.pause_asked += 1
            while self.faults_done[fault] < self.pause_asked and time.monotonic() < deadline:
                time.sleep(0.2)
            return  # counted when it happened
        elif fault in ("kill_embedded", "poison_event", "cancel_storm"):
            getattr(self, fault)()
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

    def kill_embedded(self) -> None:
        """SIGKILL the embedded server while it has work in flight; its supervisor restarts it."""
        deadline = time.monotonic() + 10
        running: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            running = self._running_mix_actions("embedded")
            if running:
                break
            time.sleep(0.3)
        pid, back = self.emb.kill()
        self.fault_log.append(f"SIGKILL the embedded server (pid {pid}) with {len(running)} action(s) of the mix "
                              f"running; answering again after {back:.1f} s")
        self.faults_done["kill_embedded"] += 1

    def _running_mix_actions(self, victim: str) -> list[dict[str, Any]]:
        """RUNNING action executions of the mix (not of the cancel storm) on a victim."""
        try:
            listed = self.apis[victim].call("GET", "/action_executions?state=RUNNING&limit=1000",
                                            patience=2)["action_executions"]
        except RuntimeError:
            return []
        return [a for a in listed if not str(a.get("workflow_name", "")).endswith("_storm")]

    def poison_event(self) -> None:
        """Arm the third party's hook: the next async call of a retrying task of the mix on the
        deployment gets a poison result on the engine queue (counted when sent; if none comes within
        10 s, the hook stays armed for the next waves). On the embedded server, a running async
        action gets the same result as a callback (which must be refused with a 400)."""
        with self.lock:
            self.poison_wanted += 1
        asked = self.faults_done["poison_event"] + 1
        embedded = [a for a in self._running_mix_actions("embedded") if a.get("name") == "std.mistral_http"]
        if embedded:
            self._poison_callback(self.rng.choice(embedded)["id"])
        else:
            with self.lock:
                self.poison_callback_wanted = 1
        deadline = time.monotonic() + 6
        while self.faults_done["poison_event"] < asked and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.faults_done["poison_event"] < asked:
            self.fault_log.append("poison_event: no async call of the mix in 6 s; armed for the next one")

    def poison_hook(self, ae_id: str, ex_id: str, wf_name: str, url: str) -> bool:
        """Third-party hook on each first async call (see :meth:`poison_event`). True when a poison
        was sent for this action (its real callback then waits a little longer)."""
        kind = wf_name[len(self.prefix):] if wf_name.startswith(self.prefix) else ""
        victim = self.victim_of(url)
        with self.lock:
            deploy = victim == "deployment" and self.poison_wanted > 0 and kind in mix.RETRYING_ASYNC
            embedded = victim == "embedded" and self.poison_callback_wanted > 0
            if deploy:
                self.poison_wanted -= 1
            if embedded:
                self.poison_callback_wanted -= 1
        if deploy:
            return self._publish_poison(ae_id, ex_id, wf_name)
        if embedded:
            self._poison_callback(ae_id)
        return False

    def _publish_poison(self, ae_id: str, ex_id: str, wf_name: str) -> bool:
        from levante.engine import events as ev
        from levante.messaging import envelope as env
        from levante.messaging.transport import Publisher

        event = ev.ActionCompleted(ex_id, ae_id, "NOT-A-STATE", {"poison": True})
        try:
            with self.lock:
                if self.transport is None:
                    self.transport = Publisher(self.dep.env["LEVANTE_TRANSPORT_URL"], namespace=self.dep.namespace)
                self.transport.publish("engine", env.encode(env.EVENT, event.to_dict()))
        except Exception as exc:  # noqa: BLE001 - e.g. RabbitMQ restarting: the next call will do
            with self.lock:
                self.poison_wanted += 1
                self.transport = None
            self.fault_log.append(f"poison_event: publishing failed ({exc}); trying the next call")
            return False
        with self.lock:
            self.poisons.append({"action_execution": ae_id, "execution": ex_id, "workflow": wf_name})
        self.fault_log.append(f"poison event (state NOT-A-STATE) published for action execution {ae_id} of {wf_name}")
        self.faults_done["poison_event"] += 1
        return True

    def _poison_callback(self, ae_id: str) -> None:
        """The embedded victim has no queue reachable from outside: the only way in is a callback,
        and one whose state does not exist must be refused (400) and leave the action RUNNING."""
        api = self.apis["embedded"]
        ans = api.call("PUT", f"/action_executions/{ae_id}", {"state": "NOT-A-STATE", "output": {"poison": True}},
                       ok=(400, 404, 409, 422))
        after = api.call("GET", f"/action_executions/{ae_id}")
        record = {"action_execution": ae_id, "status": ans.get("_status", 200) if isinstance(ans, dict) else 200,
                  "answer": (ans.get("_body") or "")[:200] if isinstance(ans, dict) else "",
                  "state_after": after.get("state")}
        with self.lock:
            self.poison_callbacks.append(record)
        self.fault_log.append(f"embedded: callback with state NOT-A-STATE: {record}")

    def cancel_storm(self) -> None:
        total = self.args.storm
        on_embedded = round(total * self.args.embedded_share) if self.args.embedded_share > 0 else 0
        if self.storm is None:
            self.storm = CancelStorm(self.apis, self.prefix, self.third, self.args.storm_depth,
                                     random.Random(self.rng.random()))
        self.storm.run({"deployment": total - on_embedded, "embedded": on_embedded})
        self.fault_log.append(self.storm.log[-1])
        self.faults_done["cancel_storm"] += 1

    # --- the run ------------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        args = self.args
        t0 = time.monotonic()
        self.third.pause_hook = self.pause_hook
        self.third.poison_hook = self.poison_hook
        self.third.start()
        self.dep.start()
        self.emb.start()
        self.api = Api(self.dep.base)
        self.apis = {"deployment": self.api, "embedded": Api(self.emb.base)}
        for api in self.apis.values():
            api.call("POST", "/workflows", mix.workflows(self.prefix), plain=True)
        log(f"deployment and embedded server up in {time.monotonic() - t0:.1f} s (logs in {self.tmp})")
        n = args.executions
        rounds = 1 if args.slim else args.rounds
        plan = [f for _ in range(rounds) for f in self.rng.sample(FAULTS, len(FAULTS))]
        if args.no_faults:
            plan = []
        # Executions are started in waves across the fault phase, so that faults hit work in flight.
        waves = max(1, len(plan) + 1)
        # Each round of the kinds goes to one victim: the embedded server gets every kind in its share.
        every = round(1 / self.args.embedded_share) if self.args.embedded_share > 0 else 0
        kinds = [(mix.KINDS[i % len(mix.KINDS)],
                  "embedded" if every and (i // len(mix.KINDS)) % every == 1 % every else "deployment")
                 for i in range(n)]
        self.rng.shuffle(kinds)
        per_wave = [kinds[i::waves] for i in range(waves)]
        _embedded_before_kills(per_wave, plan)
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
        storm = self.storm.check(max(last_fault + args.settle, time.monotonic() + 5)) if self.storm else None
        # Wait for outstanding callbacks (or their giving up) before counting lost ones.
        deadline = time.monotonic() + 30
        while self.third.pending > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        stop_resumer.set()
        verdict = self._verdict(unfinished)
        verdict["cancel_storm"] = storm
        self._verdict_issue11(verdict)
        verdict["seconds"] = round(time.monotonic() - t0, 1)
        return verdict

    def _start_wave(self, kinds: list[tuple[str, str]]) -> None:
        threads = [threading.Thread(target=self.start_execution, args=(k, self.rng.randint(1, 1000), victim))
                   for k, victim in kinds]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _resume_pause_before(self, stop: threading.Event) -> None:
        """Resumes the executions paused by ``pause-before`` (the interactive policy)."""
        while not stop.wait(1.0):
            for api in self.apis.values():
                self._resume_paused_on(api)

    def _resume_paused_on(self, api: Api) -> None:
        try:
            listed = api.call("GET", "/executions?state=PAUSED&limit=1000", patience=0)["executions"]
        except RuntimeError:
            return
        for ex in listed:
            with self.lock:  # only pause-before pauses: the 'policies' executions
                if (ex["id"] in self.held or ex.get("state") != "PAUSED"
                        or self.executions.get(ex["id"], ("?",))[0] != "policies"):
                    continue
            try:
                ans = api.call("PUT", f"/executions/{ex['id']}", {"state": "RUNNING"}, patience=10,
                               ok=(400, 404, 409))
            except RuntimeError:  # the embedded victim may be down for a while
                continue
            if not (isinstance(ans, dict) and "_status" in ans):
                self.resumed_pause_before += 1

    def _wait_all(self, settle_until: float, hard_until: float) -> dict[str, str]:
        pending = set(self.executions)
        states: dict[str, str] = {}
        while pending:
            for ex_id in list(pending):
                try:
                    api = self.apis[self.executions[ex_id][3]]
                    state = api.call("GET", f"/executions/{ex_id}", patience=5)["state"]
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

    def _reruns(self) -> list[dict[str, Any]]:
        """Actions that were not safe to re-run and ran more than once."""
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
            api = self.apis[self.executions.get(ex_id, ("", 0, "", "deployment"))[3]]
            if ex_id not in task_ids:
                tasks = api.call("GET", f"/executions/{ex_id}/tasks")["tasks"]
                task_ids[ex_id] = {t["name"]: t["id"] for t in tasks}
            actions = api.call("GET", f"/tasks/{task_ids[ex_id][task]}/action_executions")["action_executions"]
            if calls > len(actions):
                reruns.append({"execution": ex_id, "task": task, "calls": calls, "action_executions": len(actions)})
        return reruns

    def _lost(self) -> list[dict[str, Any]]:
        """Callbacks the API accepted that are not their action's output."""
        # Callbacks the API accepted (2xx) must be their action's output.
        lost: list[dict[str, Any]] = []
        for ae_id, output in self.third.delivered.items():
            api = self.apis[self.victim_of(self.third.async_meta.get(ae_id, {}).get("url", ""))]
            ae = api.call("GET", f"/action_executions/{ae_id}")
            got = _json(ae.get("output"))
            if isinstance(got, dict) and set(got) == {"result"}:  # Mistral wraps an action's output
                got = got["result"]
            if ae.get("state") != "SUCCESS" or got != output:
                lost.append({"action_execution": ae_id, "state": ae.get("state"), "output": got, "sent": output,
                             **self.third.async_meta.get(ae_id, {})})
        return lost

    def _verdict(self, unfinished: dict[str, str]) -> dict[str, Any]:
        expected_ok = 0
        unexpected: list[dict[str, Any]] = []
        for ex_id, (kind, v, _tag, victim) in self.executions.items():
            ex = self.apis[victim].call("GET", f"/executions/{ex_id}")
            want = mix.expected(kind, v)
            got = _json(ex.get("output"))
            if ex["state"] == "SUCCESS" and got == want:
                expected_ok += 1
                self.as_expected.add(ex_id)
            else:
                unexpected.append({"id": ex_id, "kind": kind, "victim": victim, "state": ex["state"],
                                   "state_info": (ex.get("state_info") or "")[:300], "output": got,
                                   "expected": want})
        reruns = self._reruns()
        lost = self._lost()
        stuck = []
        for ex_id, state in unfinished.items():
            stuck.append({"id": ex_id, "kind": self.executions[ex_id][0], "victim": self.executions[ex_id][3],
                          "state": state})
        wanted = 1 if self.args.slim else self.args.rounds
        missing_faults = {f: wanted - self.faults_done[f] for f in FAULTS
                          if self.faults_done[f] < wanted and not self.args.no_faults}
        ok = (expected_ok == len(self.executions) and not reruns and not lost and not stuck
              and not missing_faults and not self.duplicates_started)
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


    # --- the verdict of issue #11 ---------------------------------------------------------

    def _verdict_issue11(self, verdict: dict[str, Any]) -> None:
        """Add the embedded victim, the NUL case, the poison events, the cancel storm and the
        stalled-execution invariant to the verdict (and to its ``ok``)."""
        by_victim: dict[str, dict[str, int]] = {}
        nul: dict[str, dict[str, int]] = {}
        for ex_id, (kind, _v, _tag, victim) in self.executions.items():
            mine = by_victim.setdefault(victim, {"executions": 0, "ended_as_expected": 0})
            mine["executions"] += 1
            mine["ended_as_expected"] += ex_id in self.as_expected
            if kind == "nul":
                case = nul.setdefault(victim, {"executions": 0, "ended_as_expected": 0})
                case["executions"] += 1
                case["ended_as_expected"] += ex_id in self.as_expected
        poisons = [self._poison_outcome(p) for p in self.poisons]
        with self.lock:
            self.poison_wanted = self.poison_callback_wanted = 0
        dead = self._dead_letters()
        stalled = {"deployment": _stalled(self.dep.env["LEVANTE_DB_URL"]), "embedded": _stalled(self.emb.db_url)}
        storm = verdict.get("cancel_storm")
        poison_ok = all(p["failed_by_engine"] and p["task_retried"] for p in poisons) and dead == 0
        callbacks_ok = all(c["status"] == 400 for c in self.poison_callbacks)
        verdict.update({
            "victims": by_victim,
            "nul_case": nul,
            "poison_events": len(poisons),
            "poison_events_failed_their_task": sum(1 for p in poisons if p["failed_by_engine"]),
            "poison_event_details": poisons,
            "dead_letters": dead,
            "embedded_poison": {
                "injectable": False,
                "why": "the embedded server's queue is in-process (memory://): the only way in from outside is "
                       "a callback, and one with a state that does not exist is refused before any event is made",
                "callbacks": self.poison_callbacks},
            "stalled_executions": {k: len(v) for k, v in stalled.items()},
            "stalled_execution_ids": {k: v[:20] for k, v in stalled.items()},
            "embedded_restarts": self.emb.restarts,
            "embedded_kills": self.emb.kills,
            "embedded_unexpected_exits": self.emb.unexpected_exits,
        })
        verdict["ok"] = bool(verdict["ok"] and poison_ok and callbacks_ok and not any(stalled.values())
                             and (storm is None or storm["ok"]) and not self.emb.unexpected_exits)

    def _poison_outcome(self, poison: dict[str, Any]) -> dict[str, Any]:
        """What became of an action a poison event was sent for: failed by the engine with the error
        in its state_info or output, and its task retried (another action execution)."""
        ae_id = poison["action_execution"]
        try:
            ae = self.api.call("GET", f"/action_executions/{ae_id}", patience=10)
            siblings = self.api.call("GET", f"/tasks/{ae['task_execution_id']}/action_executions",
                                     patience=10)["action_executions"]
        except (RuntimeError, KeyError) as exc:
            return {**poison, "failed_by_engine": False, "task_retried": False, "error": str(exc)}
        text = f"{ae.get('state_info') or ''} {ae.get('output') or ''}"
        failed = ae.get("state") == "ERROR" and POISON_TEXT in text
        return {**poison, "state": ae.get("state"), "failed_by_engine": failed,
                "task_retried": len(siblings) > 1, "message": text.strip()[:200]}

    def _dead_letters(self) -> int:
        """Messages in the deployment's dead-letter queue (-1: could not be read)."""
        from kombu import Connection

        try:
            with Connection(self.dep.env["LEVANTE_TRANSPORT_URL"], connect_timeout=5) as conn:
                _, count, _ = conn.default_channel.queue_declare(f"{self.dep.namespace}.dead", passive=True)
                return int(count)
        except Exception as exc:  # noqa: BLE001
            self.fault_log.append(f"could not read the dead-letter queue: {exc}")
            return -1


def _embedded_before_kills(per_wave: list[list[tuple[str, str]]], plan: list[str], want: int = 2) -> None:
    """Move executions of the embedded share into the wave started just before each
    ``kill_embedded`` (swapping them with deployment ones of later waves), so that the kill meets
    work in flight."""
    for k, fault in enumerate(plan):
        if fault != "kill_embedded":
            continue
        wave = per_wave[k]
        for later in per_wave[k + 1:] + per_wave[:k]:
            for j, item in enumerate(later):
                if sum(1 for _, victim in wave if victim == "embedded") >= want:
                    break
                if item[1] != "embedded":
                    continue
                swap = next((i for i, (_, victim) in enumerate(wave) if victim != "embedded"), None)
                if swap is None:
                    wave.append(item)
                    later[j] = ("", "")  # removed below
                else:
                    wave[swap], later[j] = item, wave[swap]
        for other in per_wave:
            other[:] = [item for item in other if item[0]]


def _stalled(db_url: str) -> list[str]:
    """Executions left RUNNING with nothing that can move them on (looked at twice, 2 s apart:
    events travelling between processes are not visible in the database)."""
    from sqlalchemy.pool import NullPool

    from levante.db import repository as repo
    from levante.db.session import make_engine, make_session_factory, transaction

    engine = make_engine(db_url, poolclass=NullPool)
    try:
        factory = make_session_factory(engine, read_only=True)
        found: set[str] | None = None
        for attempt in range(2):
            if attempt:
                time.sleep(2.0)
            with transaction(factory) as session:
                now = set(repo.stalled_executions(session))
            found = now if found is None else found & now
        return sorted(found or ())
    finally:
        engine.dispose()


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
    parser.add_argument("--embedded-share", type=float, default=0.25,
                        help="share of the mix run on the embedded server (0: none; its faults are then not run)")
    parser.add_argument("--storm", type=int, default=20, help="executions of the cancel storm")
    parser.add_argument("--storm-depth", type=int, default=None,
                        help="sub-workflow depth of each storm execution (2 slim, 3 full)")
    parser.add_argument("--keep", action="store_true", help="keep the database, queues and logs")
    parser.add_argument("--json", action="store_true", help="print the verdict as one JSON object")
    args = parser.parse_args(argv)
    if args.executions is None:
        args.executions = 30 if args.slim else 200
    if args.interval is None:
        args.interval = 4.0 if args.slim else 6.0
    if args.storm_depth is None:
        args.storm_depth = 2 if args.slim else 3
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
        campaign.emb.stop()
        campaign.dep.stop(keep=args.keep)
        campaign.third.shutdown()
    if args.json:
        print(json.dumps(verdict))
    else:
        for key in ("ok", "executions", "ended_as_expected", "unexpected", "non_safe_rerun_actions_run_twice",
                    "callbacks_delivered", "callbacks_lost", "stuck_executions", "duplicate_executions_started",
                    "faults", "faults_missing", "process_restarts", "unexpected_process_exits", "victims",
                    "nul_case", "poison_events", "poison_events_failed_their_task", "dead_letters",
                    "embedded_poison", "stalled_executions", "embedded_restarts", "cancel_storm", "seconds", "logs"):
            print(f"{key}: {json.dumps(verdict[key])}")
        for key, items in verdict["details"].items():
            for item in items:
                print(f"{key}: {json.dumps(item)}")
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
