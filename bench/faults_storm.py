"""The cancel storm of the fault campaign: a batch of extra executions (not part of the mix) of the
self-recursive ``storm`` workflow (each execution waits on a ``std.mistral_http`` call the third party
holds back and starts two sub-executions of itself until its depth runs out), cancelled all at once
from several threads: every root (some of them twice at the same moment) and random sub-executions
of theirs; then a cancel again and a pause of cancelled roots, which must be 409s. Besides the trees
that were let grow whole, a few deeper ones (depth 5, 63 executions when whole) are started just
before the cancels and cancelled while they grow.

Its verdict: no cancel got a 500 (other 5xx and connection errors, which the other faults cause, are
tried again); every root ends CANCELLED; nothing in their trees (sub-executions, tasks, action
executions) is left unfinished; the late callbacks of their held actions all get 409.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from typing import Any

from bench import faults_mix as mix
from bench.deployment import TERMINAL, Api, log
from bench.faults_third_party import ThirdParty

FINAL = ("SUCCESS", "ERROR", "CANCELLED")
#: Depth of the trees cancelled while they grow.
GROWING_DEPTH = 5


def _status(ans: Any) -> int:
    return int(ans["_status"]) if isinstance(ans, dict) and "_status" in ans else 200


class CancelStorm:
    """One per campaign: :meth:`run` is one storm (a round), :meth:`check` judges all of them."""

    def __init__(self, apis: dict[str, Api], prefix: str, third: ThirdParty, depth: int,
                 rng: random.Random | None = None) -> None:
        self.apis = apis
        self.rng = rng or random.Random(0)
        self.prefix = prefix
        self.third = third
        self.depth = depth
        #: root execution id -> victim name
        self.roots: dict[str, str] = {}
        self.first_cancel: Counter[str] = Counter()  # of the roots
        self.sub_cancel: Counter[str] = Counter()  # of random sub-executions, during the storm
        self.errors: list[str] = []  # 500s
        self.repeat_cancel: Counter[str] = Counter()
        self.pause_cancelled: Counter[str] = Counter()
        self.grown_in_s: list[float] = []
        #: Roots of the deeper trees cancelled while they grow.
        self.growing: list[str] = []
        self.rounds = 0
        self.log: list[str] = []
        self.lock = threading.Lock()

    # --- the storm ----------------------------------------------------------------------

    def _start(self, victim: str, depth: int) -> str:
        body = {"workflow_name": self.prefix + "storm", "description": f"storm-{uuid.uuid4().hex[:8]}",
                "input": {"base": self.third.url, "depth": depth}}
        ex_id = str(self.apis[victim].call("POST", "/executions", body)["id"])
        self.roots[ex_id] = victim
        if depth != self.depth:
            self.growing.append(ex_id)
        return ex_id

    def run(self, per_victim: dict[str, int], growing: int = 2) -> None:
        """Start the batch, let the trees grow, start ``growing`` deeper ones, cancel them all at once."""
        with self.third.lock:
            held_before = len(self.third.held)
        roots = {self._start(victim, self.depth): victim for victim, count in per_victim.items() for _ in range(count)}
        self.rounds += 1
        t0 = time.monotonic()
        self._wait_grown(held_before + mix.storm_size(self.depth) * len(roots), 30)
        grown_in = round(time.monotonic() - t0, 1)
        self.grown_in_s.append(grown_in)
        roots.update({self._start("deployment", GROWING_DEPTH): "deployment" for _ in range(growing)})
        time.sleep(1.0)  # they have started growing
        ids = list(roots)
        first_before = Counter(self.first_cancel)
        # Four threads; the first three roots are in two threads' shares (two cancels at once), and
        # each thread also cancels a few random sub-executions, between its roots.
        shares: list[list[tuple[str, str]]] = [[(x, x) for x in ids[i::4]] for i in range(4)]
        shares[1] = [(x, x) for x in ids[:3]] + [t for t in shares[1] if t[0] not in ids[:3]]
        subs = self._some_subs(ids, 12)
        for i, target in enumerate(subs):
            share = shares[i % 4]
            share.insert(self.rng.randint(0, len(share)), target)
        start = threading.Event()
        threads = [threading.Thread(target=self._cancel_all, args=(share, start), daemon=True) for share in shares]
        for t in threads:
            t.start()
        start.set()
        for t in threads:
            t.join(180)
        for ex_id in ids[:5]:  # a cancel again: the execution has ended
            self.repeat_cancel[self._put_state(ex_id, ex_id, "CANCELLED")] += 1
        for ex_id in ids[5:8]:  # a pause of a cancelled execution
            self.pause_cancelled[self._put_state(ex_id, ex_id, "PAUSED")] += 1
        self.log.append(f"cancel storm {self.rounds}: {len(ids)} roots ({dict(Counter(roots.values()))}) grown in "
                        f"{grown_in} s, root cancels {dict(self.first_cancel - first_before)}, "
                        f"{len(subs)} sub-execution cancels")

    def _some_subs(self, roots: list[str], count: int) -> list[tuple[str, str]]:
        """``count`` random (sub-execution id, its root id) of the trees."""
        found: list[tuple[str, str]] = []
        for root in self.rng.sample(roots, min(len(roots), count)):
            try:
                subs = self.apis[self.roots[root]].call(
                    "GET", f"/executions?root_execution_id={root}&limit=1000", patience=10)["executions"]
            except RuntimeError:
                continue
            subs = [e["id"] for e in subs if e["id"] != root]
            if subs:
                found.append((self.rng.choice(subs), root))
        return found

    def _put_state(self, ex_id: str, root: str, state: str) -> str:
        """PUT the state; returns the status. A 500 is recorded as an error; other 5xx and
        connection errors (another fault just before) are tried again for 60 s."""
        api = self.apis[self.roots[root]]
        deadline = time.monotonic() + 60
        while True:
            try:
                ans = api.call("PUT", f"/executions/{ex_id}", {"state": state}, ok=(400, 404, 409), patience=0)
                return str(_status(ans))
            except RuntimeError as exc:
                if "-> 500" in str(exc) or time.monotonic() > deadline:
                    with self.lock:
                        self.errors.append(f"{state} {ex_id}: {str(exc)[:400]}")
                    return "500" if "-> 500" in str(exc) else "error"
                time.sleep(0.5)

    def _cancel_all(self, share: list[tuple[str, str]], start: threading.Event) -> None:
        start.wait()
        for ex_id, root in share:
            status = self._put_state(ex_id, root, "CANCELLED")
            with self.lock:
                (self.first_cancel if ex_id == root else self.sub_cancel)[status] += 1

    def _wait_grown(self, want: int, timeout: float) -> None:
        """Until the third party holds ``want`` calls: every tree has all its executions, each
        waiting on its call (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.third.lock:
                held = len(self.third.held)
            if held >= want:
                return
            time.sleep(0.5)
        log(f"cancel storm: the trees did not all grow in {timeout:.0f} s ({held} of {want} calls held); "
            "cancelling anyway")

    # --- the verdict --------------------------------------------------------------------

    def check(self, until: float) -> dict[str, Any]:
        """Wait (until ``until``, monotonic) for every root to end; then look at their trees and send
        the held callbacks late."""
        states: dict[str, str] = {}
        while True:
            for ex_id, victim in self.roots.items():
                if states.get(ex_id) in TERMINAL:
                    continue
                try:
                    states[ex_id] = self.apis[victim].call("GET", f"/executions/{ex_id}", patience=10)["state"]
                except RuntimeError:
                    states[ex_id] = "?"
            if all(s in TERMINAL for s in states.values()) or time.monotonic() > until:
                break
            time.sleep(1.0)
        left: dict[str, list[dict[str, Any]]] = {"executions": [], "tasks": [], "action_executions": []}
        tree_size = 0
        for root, victim in self.roots.items():
            tree_size += self._look_at_tree(self.apis[victim], root, left)
        late = self.third.release_held()
        late_by_status = Counter(str(s) for s in late.values())
        cancelled = sum(1 for s in states.values() if s == "CANCELLED")
        ok = (cancelled == len(self.roots) and not any(left.values()) and set(late_by_status) <= {"409"}
              and set(self.repeat_cancel) <= {"409"} and set(self.pause_cancelled) <= {"409"}
              and set(self.first_cancel) | set(self.sub_cancel) <= {"200", "409"} and not self.errors)
        running: dict[str, list[str]] = {}
        for what, items in left.items():
            for item in items:
                running.setdefault(item.get("root", "?"), []).append(f"{what[:-1]} {item['id']} {item['state']}")
        return {
            "ok": ok,
            "rounds": self.rounds,
            "roots": len(self.roots),
            "roots_by_victim": dict(Counter(self.roots.values())),
            "depth": self.depth,
            "cancelled": cancelled,
            "root_states": dict(Counter(states.values())),
            "tree_executions": tree_size,
            "tree_executions_when_grown": (len(self.roots) - len(self.growing)) * mix.storm_size(self.depth)
            + len(self.growing) * mix.storm_size(GROWING_DEPTH),
            "cancelled_while_growing": len(self.growing),
            "left_unfinished": {k: len(v) for k, v in left.items()},
            "left_unfinished_examples": {k: v[:5] for k, v in left.items()},
            "cancel_statuses": dict(self.first_cancel),
            "sub_execution_cancel_statuses": dict(self.sub_cancel),
            "statuses": dict(self.first_cancel + self.sub_cancel),
            "errors": self.errors[:20],
            "left_running": [{"root": root, "running": items[:10]} for root, items in running.items()][:20],
            "repeat_cancel_statuses": dict(self.repeat_cancel),
            "pause_of_cancelled_statuses": dict(self.pause_cancelled),
            "late_callbacks": len(late),
            "late_callback_statuses": dict(late_by_status),
            "grown_in_s": self.grown_in_s,
        }

    def _look_at_tree(self, api: Api, root: str, left: dict[str, list[dict[str, Any]]]) -> int:
        subs = api.call("GET", f"/executions?root_execution_id={root}&limit=1000")["executions"]
        tree = [api.call("GET", f"/executions/{root}")] + [e for e in subs if e["id"] != root]
        for ex in tree:
            if ex["state"] not in FINAL:
                left["executions"].append({"id": ex["id"], "root": root, "state": ex["state"]})
            for task in api.call("GET", f"/executions/{ex['id']}/tasks")["tasks"]:
                if task["state"] not in FINAL:
                    left["tasks"].append({"id": task["id"], "name": task["name"], "execution": ex["id"], "root": root,
                                          "state": task["state"]})
            actions = api.call("GET", f"/action_executions?workflow_execution_id={ex['id']}&limit=1000")
            for action in actions["action_executions"]:
                if action["state"] not in FINAL:
                    left["action_executions"].append({"id": action["id"], "name": action.get("name"), "root": root,
                                                      "execution": ex["id"], "state": action["state"]})
        return len(tree)
