"""The cancel storm of the fault campaign: a batch of extra executions (not part of the mix) of the
self-recursive ``storm`` workflow (each execution waits on a ``std.mistral_http`` call the third party
holds back and starts two sub-executions of itself until its depth runs out), cancelled all at once
from several threads, some of them twice at the same moment; then a cancel again and a pause of
cancelled ones, which must be 409s.

Its verdict: every root ends CANCELLED; nothing in their trees (sub-executions, tasks, action
executions) is left unfinished; the late callbacks of their held actions all get 409.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

from bench import faults_mix as mix
from bench.deployment import TERMINAL, Api, log
from bench.faults_third_party import ThirdParty

FINAL = ("SUCCESS", "ERROR", "CANCELLED")


def _status(ans: Any) -> int:
    return int(ans["_status"]) if isinstance(ans, dict) and "_status" in ans else 200


class CancelStorm:
    """One per campaign: :meth:`run` is one storm (a round), :meth:`check` judges all of them."""

    def __init__(self, apis: dict[str, Api], prefix: str, third: ThirdParty, depth: int) -> None:
        self.apis = apis
        self.prefix = prefix
        self.third = third
        self.depth = depth
        #: root execution id -> victim name
        self.roots: dict[str, str] = {}
        self.first_cancel: Counter[str] = Counter()
        self.repeat_cancel: Counter[str] = Counter()
        self.pause_cancelled: Counter[str] = Counter()
        self.grown_in_s: list[float] = []
        self.rounds = 0
        self.log: list[str] = []
        self.lock = threading.Lock()

    # --- the storm ----------------------------------------------------------------------

    def run(self, per_victim: dict[str, int]) -> None:
        """Start the batch, let the trees grow, cancel them all at once."""
        with self.third.lock:
            held_before = len(self.third.held)
        roots: dict[str, str] = {}
        for victim, count in per_victim.items():
            for _ in range(count):
                body = {"workflow_name": self.prefix + "storm", "description": f"storm-{uuid.uuid4().hex[:8]}",
                        "input": {"base": self.third.url, "depth": self.depth}}
                ex = self.apis[victim].call("POST", "/executions", body)
                roots[ex["id"]] = victim
        self.roots.update(roots)
        self.rounds += 1
        t0 = time.monotonic()
        self._wait_grown(held_before + mix.storm_size(self.depth) * len(roots), 30)
        grown_in = round(time.monotonic() - t0, 1)
        self.grown_in_s.append(grown_in)
        ids = list(roots)
        first_before = Counter(self.first_cancel)
        # Four threads; the first three roots are in two threads' shares (two cancels at once).
        shares = [ids[i::4] for i in range(4)]
        shares[1] = ids[:3] + [x for x in shares[1] if x not in ids[:3]]
        start = threading.Event()
        threads = [threading.Thread(target=self._cancel_all, args=(share, start), daemon=True) for share in shares]
        for t in threads:
            t.start()
        start.set()
        for t in threads:
            t.join(180)
        for ex_id in ids[:5]:  # a cancel again: the execution has ended
            self.repeat_cancel[str(self._put_state(ex_id, "CANCELLED"))] += 1
        for ex_id in ids[5:8]:  # a pause of a cancelled execution
            self.pause_cancelled[str(self._put_state(ex_id, "PAUSED"))] += 1
        self.log.append(f"cancel storm {self.rounds}: {len(ids)} roots ({dict(Counter(roots.values()))}) grown in "
                        f"{grown_in} s, cancels {dict(self.first_cancel - first_before)}")

    def _put_state(self, ex_id: str, state: str) -> int:
        api = self.apis[self.roots[ex_id]]
        return _status(api.call("PUT", f"/executions/{ex_id}", {"state": state}, ok=(400, 404, 409)))

    def _cancel_all(self, share: list[str], start: threading.Event) -> None:
        start.wait()
        for ex_id in share:
            status = self._put_state(ex_id, "CANCELLED")
            with self.lock:
                self.first_cancel[str(status)] += 1

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
              and set(self.first_cancel) <= {"200", "409"} and self.first_cancel["200"] >= len(self.roots))
        return {
            "ok": ok,
            "rounds": self.rounds,
            "roots": len(self.roots),
            "roots_by_victim": dict(Counter(self.roots.values())),
            "depth": self.depth,
            "cancelled": cancelled,
            "root_states": dict(Counter(states.values())),
            "tree_executions": tree_size,
            "tree_executions_when_grown": len(self.roots) * mix.storm_size(self.depth),
            "left_unfinished": {k: len(v) for k, v in left.items()},
            "left_unfinished_examples": {k: v[:5] for k, v in left.items()},
            "cancel_statuses": dict(self.first_cancel),
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
                    left["tasks"].append({"id": task["id"], "name": task["name"], "execution": ex["id"],
                                          "state": task["state"]})
            actions = api.call("GET", f"/action_executions?workflow_execution_id={ex['id']}&limit=1000")
            for action in actions["action_executions"]:
                if action["state"] not in FINAL:
                    left["action_executions"].append({"id": action["id"], "name": action.get("name"),
                                                      "execution": ex["id"], "state": action["state"]})
        return len(tree)
