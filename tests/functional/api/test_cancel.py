"""Cancel reaches what runs (issue 11, item 4), on SQLite through the in-process API.

A cancel (or a forced SUCCESS/ERROR) ends, in one step, every task and action execution of the
execution and every sub-execution below it with their tasks and actions; a late callback or
heartbeat for a cancelled action gets a 409 saying the execution was cancelled; queued requests of
cancelled actions are not run and a running ``std.sleep`` is told to stop; cancel or pause of an
ended execution is a 409.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

from sqlalchemy import func, select

from levante.db.models import ActionExecutionRow, TaskExecutionRow, WorkflowExecutionRow
from levante.db.session import transaction
from tests.functional.api.helpers import ECHO_WF, FAIL_WF, decoded

TWO_WAITS = """\
version: '2.0'
{name}:
  tasks:
    left:
      action: std.async_noop
      on-success: [after]
    right:
      action: std.async_noop
    after:
      action: std.noop
"""

TREE = """\
version: '2.0'
{name}:
  tasks:
    subs:
      with-items: i in [1, 2, 3]
      workflow: {name}_mid
    wait:
      action: std.async_noop
{name}_mid:
  tasks:
    inner:
      workflow: {name}_leaf
    wait:
      action: std.async_noop
{name}_leaf:
  tasks:
    wait:
      action: std.async_noop
      on-success: [never]
    never:
      action: std.noop
"""

#: A workflow that calls itself: every level waits on an async action and starts two more levels.
RECURSIVE_BODY = """\
version: '2.0'
{name}:
  input:
    - depth: 7
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

MANY_ITEMS = """\
version: '2.0'
{name}:
  input:
    - count
  tasks:
    many:
      with-items: i in <% range(0, $.count) %>
      action: std.async_noop
      on-complete: [never]
    never:
      action: std.noop
"""

SLEEPS = """\
version: '2.0'
{name}:
  tasks:
    naps:
      with-items: i in <% range(0, 8) %>
      action: std.sleep seconds=60
"""


def _counts(api: Any, execution_ids: list[str]) -> dict[str, dict[str, int]]:
    """``{"executions"|"tasks"|"actions": {state: count}}`` over the given executions, read in
    the database (the API pages them)."""
    out: dict[str, dict[str, int]] = {}
    with transaction(api.node.read_factory) as session:
        for key, table, column in (("executions", WorkflowExecutionRow, WorkflowExecutionRow.id),
                                   ("tasks", TaskExecutionRow, TaskExecutionRow.workflow_execution_id),
                                   ("actions", ActionExecutionRow, ActionExecutionRow.workflow_execution_id)):
            rows = session.execute(select(table.state, func.count()).where(column.in_(execution_ids))
                                   .group_by(table.state))
            out[key] = {state: count for state, count in rows}
    return out


def _tree(api: Any, root_id: str) -> list[str]:
    """The root and every execution of its tree."""
    with transaction(api.node.read_factory) as session:
        below = session.scalars(select(WorkflowExecutionRow.id)
                                .where(WorkflowExecutionRow.root_execution_id == root_id)
                                .order_by(WorkflowExecutionRow.id))
        return [root_id, *below]


def _actions(api: Any, execution_id: str) -> list[dict[str, Any]]:
    return api.get("/v2/action_executions", workflow_execution_id=execution_id)["action_executions"]


def test_cancel_ends_running_tasks_and_actions_and_a_late_callback_gets_409(api, name):
    api.upload("workflows", TWO_WAITS.format(name=name))
    ex = api.start(name)
    left = api.running_action(ex["id"], "left")
    right = api.running_action(ex["id"], "right")
    cancelled = api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED", "state_info": "enough"})
    assert cancelled["state"] == "CANCELLED" and cancelled["state_info"] == "enough"
    assert {t["name"]: t["state"] for t in api.tasks(ex["id"])} == {"left": "CANCELLED", "right": "CANCELLED"}
    assert {a["state"] for a in _actions(api, ex["id"])} == {"CANCELLED"}
    # The late callback is refused, saying why; nothing changes.
    resp = api.client.simulate_put(f"/v2/action_executions/{left['id']}", json={"state": "SUCCESS", "output": 1})
    assert resp.status_code == 409, resp.text
    assert "was cancelled" in resp.json["faultstring"] and ex["id"] in resp.json["faultstring"]
    beat = api.client.simulate_put(f"/v2/action_executions/{right['id']}/heartbeat", json={"progress": 50})
    assert beat.status_code == 409, beat.text
    assert "was cancelled" in beat.json["faultstring"]
    assert api.task(ex["id"], "left")["state"] == "CANCELLED"
    assert api.task(ex["id"], "after") is None
    assert api.get(f"/v2/executions/{ex['id']}")["state"] == "CANCELLED"


def test_a_forced_error_abandons_the_running_work(api, name):
    api.upload("workflows", TWO_WAITS.format(name=name))
    ex = api.start(name)
    left = api.running_action(ex["id"], "left")
    failed = api.put(f"/v2/executions/{ex['id']}", {"state": "ERROR", "state_info": "stopped by hand"})
    assert failed["state"] == "ERROR" and failed["state_info"] == "stopped by hand"
    assert {t["state"] for t in api.tasks(ex["id"])} == {"CANCELLED"}
    assert {a["state"] for a in _actions(api, ex["id"])} == {"CANCELLED"}
    resp = api.client.simulate_put(f"/v2/action_executions/{left['id']}", json={"state": "SUCCESS"})
    assert resp.status_code == 409 and "set to ERROR" in resp.json["faultstring"], resp.text


def test_cancel_reaches_the_whole_sub_workflow_tree(api, name):
    api.upload("workflows", TREE.format(name=name))
    ex = api.start(name)
    # 1 root, 3 mid, 3 leaves; each waits on an async action.
    api.wait_for(lambda: _counts(api, _tree(api, ex["id"]))["actions"].get("RUNNING") == 7)
    tree = _tree(api, ex["id"])
    assert len(tree) == 7
    leaf_action = next(a for i in tree[1:] for a in _actions(api, i) if a["state"] == "RUNNING")
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED", "state_info": "tree down"})
    counts = _counts(api, tree)
    assert counts == {"executions": {"CANCELLED": 7}, "tasks": {"CANCELLED": 11}, "actions": {"CANCELLED": 7}}
    subs = api.get(f"/v2/executions/{ex['id']}/executions")["executions"]
    assert {s["state_info"] for s in subs} == {"tree down"}
    resp = api.client.simulate_put(f"/v2/action_executions/{leaf_action['id']}", json={"state": "SUCCESS"})
    assert resp.status_code == 409 and "was cancelled" in resp.json["faultstring"], resp.text
    assert _counts(api, _tree(api, ex["id"])) == counts


def test_cancelling_a_sub_execution_cancels_its_subtree_and_its_parent_task(api, name):
    api.upload("workflows", TREE.format(name=name))
    ex = api.start(name)
    api.wait_for(lambda: _counts(api, _tree(api, ex["id"]))["actions"].get("RUNNING") == 7)
    mid = next(s for s in api.get(f"/v2/executions/{ex['id']}/executions")["executions"]
               if s["workflow_name"] == f"{name}_mid")
    api.put(f"/v2/executions/{mid['id']}", {"state": "CANCELLED"})
    below = [mid["id"]] + [s["id"] for s in api.get(f"/v2/executions/{mid['id']}/executions")["executions"]]
    assert _counts(api, below)["executions"] == {"CANCELLED": 2}
    assert set(_counts(api, below)["actions"]) == {"CANCELLED"}
    # The root goes on with its other children until they end: its own 'wait' still runs.
    assert api.get(f"/v2/executions/{ex['id']}")["state"] == "RUNNING"
    assert _counts(api, [ex["id"]])["actions"] == {"RUNNING": 1}


def test_cancel_of_a_self_recursive_workflow_stops_its_growth(api, name):
    api.upload("workflows", RECURSIVE_BODY.format(name=name))
    ex = api.start(name)
    api.wait_for(lambda: len(_tree(api, ex["id"])) >= 20)
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    tree = _tree(api, ex["id"])
    counts = _counts(api, tree)
    assert set(counts["executions"]) == {"CANCELLED"}
    assert set(counts["tasks"]) <= {"SUCCESS", "CANCELLED"} and "CANCELLED" in counts["tasks"]
    assert set(counts["actions"]) <= {"SUCCESS", "CANCELLED"}
    # Nothing new appears afterwards (the engine would have started the next levels by now).
    api.node.wait_idle()
    time.sleep(1.0)
    api.node.wait_idle()
    assert _tree(api, ex["id"]) == tree
    assert _counts(api, tree) == counts


def test_cancel_of_a_big_with_items_ends_every_item(api, name):
    count = 2000
    api.upload("workflows", MANY_ITEMS.format(name=name))
    ex = api.start(name, {"count": count})
    api.wait_for(lambda: _counts(api, [ex["id"]])["actions"].get("RUNNING") == count, timeout=120)
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    counts = _counts(api, [ex["id"]])
    assert counts == {"executions": {"CANCELLED": 1}, "tasks": {"CANCELLED": 1}, "actions": {"CANCELLED": count}}
    task = api.task(ex["id"], "many")
    assert "was cancelled" in task["state_info"]
    api.node.wait_idle()
    assert _counts(api, [ex["id"]]) == counts


def test_queued_requests_are_not_run_and_a_running_sleep_is_told_to_stop(api, name):
    runner = api.node.runner
    threads = api.node.config.executor_threads
    api.upload("workflows", SLEEPS.format(name=name))
    ex = api.start(name)
    # Every executor thread sleeps; the other requests wait in the executor's queue.
    api.wait_for(lambda: len(runner.cancellations.running()) == threads)
    assert threads < 8
    ids = {a["id"] for a in _actions(api, ex["id"])}
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    # The sleeps (60 s each) end at once, and the queued ones never start.
    api.wait_for(lambda: not (set(runner.cancellations.running()) & ids) and api.node.executor.queued() == 0,
                 timeout=20)
    assert not set(runner.cancellations.running()) & ids
    assert {a["state"] for a in _actions(api, ex["id"])} == {"CANCELLED"}


def test_cancel_or_pause_of_an_ended_execution_is_409(api, name):
    api.upload("workflows", ECHO_WF.format(name=name))
    ex = api.start(name, {"who": "you"})
    assert api.wait(ex["id"])["state"] == "SUCCESS"
    for state in ("CANCELLED", "PAUSED"):
        resp = api.client.simulate_put(f"/v2/executions/{ex['id']}", json={"state": state})
        assert resp.status_code == 409, resp.text
        assert "SUCCESS" in resp.json["faultstring"]
    assert api.get(f"/v2/executions/{ex['id']}")["state"] == "SUCCESS"


def test_cancel_of_a_cancelled_execution_is_409(api, name):
    api.upload("workflows", TWO_WAITS.format(name=name))
    ex = api.start(name)
    api.running_action(ex["id"], "left")
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    resp = api.client.simulate_put(f"/v2/executions/{ex['id']}", json={"state": "CANCELLED"})
    assert resp.status_code == 409 and "CANCELLED" in resp.json["faultstring"], resp.text


def test_an_errored_execution_refuses_cancel_but_can_still_be_rerun(api, name):
    api.upload("workflows", FAIL_WF.format(name=name))
    ex = api.start(name)
    assert api.wait(ex["id"])["state"] == "ERROR"
    resp = api.client.simulate_put(f"/v2/executions/{ex['id']}", json={"state": "CANCELLED"})
    assert resp.status_code == 409 and "ERROR" in resp.json["faultstring"], resp.text
    task = api.task(ex["id"], "broken")
    rerun = api.put(f"/v2/tasks/{task['id']}", {"state": "RUNNING", "reset": True})
    assert rerun["state"] in ("RUNNING", "ERROR")
    assert api.wait(ex["id"])["state"] == "ERROR"
    assert len(_actions(api, ex["id"])) == 2
    assert decoded(api.get(f"/v2/executions/{ex['id']}")["output"])["result"]


def test_cancel_of_a_paused_tree(api, name):
    api.upload("workflows", TREE.format(name=name))
    ex = api.start(name)
    api.wait_for(lambda: _counts(api, _tree(api, ex["id"]))["actions"].get("RUNNING") == 7)
    api.put(f"/v2/executions/{ex['id']}", {"state": "PAUSED"})
    api.wait_for(lambda: _counts(api, _tree(api, ex["id"]))["executions"] == {"PAUSED": 7})
    api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    assert _counts(api, _tree(api, ex["id"])) == {
        "executions": {"CANCELLED": 7}, "tasks": {"CANCELLED": 11}, "actions": {"CANCELLED": 7}}


def cancel_storm(api: Any, name: str) -> None:
    """Many concurrent cancels of the root and of sub-executions while the tree still grows: each
    answers 200 or 409 (never a 500), and in the end nothing of the tree runs."""
    api.upload("workflows", RECURSIVE_BODY.format(name=name))
    ex = api.start(name)
    api.wait_for(lambda: len(_tree(api, ex["id"])) >= 15, timeout=60)
    statuses: list[int] = []
    lock = threading.Lock()

    def cancel_some(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(5):
            tree = _tree(api, ex["id"])
            target = tree[0] if rng.random() < 0.3 else rng.choice(tree)
            resp = api.client.simulate_put(f"/v2/executions/{target}", json={"state": "CANCELLED"})
            with lock:
                statuses.append(resp.status_code)

    threads = [threading.Thread(target=cancel_some, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert set(statuses) <= {200, 409}, statuses
    if api.get(f"/v2/executions/{ex['id']}")["state"] == "RUNNING":  # only subs were hit: the root goes on
        api.put(f"/v2/executions/{ex['id']}", {"state": "CANCELLED"})
    api.wait_for(lambda: api.get(f"/v2/executions/{ex['id']}")["state"] == "CANCELLED", timeout=30)
    counts = _counts(api, _tree(api, ex["id"]))
    assert not set(counts["executions"]) & {"RUNNING", "PAUSED", "IDLE"}, counts
    assert "RUNNING" not in counts["actions"], counts
    assert not set(counts["tasks"]) & {"RUNNING", "IDLE", "WAITING", "DELAYED", "PAUSED"}, counts


def test_a_cancel_storm_on_a_growing_tree(api, name):
    cancel_storm(api, name)
