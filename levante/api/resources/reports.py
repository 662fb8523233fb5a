"""``GET /v2/executions/{execution_id}/report``: Mistral's execution report (``mistral
execution-get-report``): statistics of the tasks' states, and the tree of the execution's tasks
with their action executions and sub-executions.

Query parameters (Mistral's): ``errors_only`` (only tasks in ERROR, and what they ran, appear in
the tree), ``max_depth`` (sub-executions deeper than this are listed without their tasks; the root
is at depth 0; negative: no limit) and ``statistics_only`` (leave the tree out). The statistics
count every task of the executions whose tasks were read (down to ``max_depth``), whatever
``errors_only`` says: they describe the execution, the flag only trims the tree. Levante does not
estimate a remaining time, so ``estimated_time`` is not given (the client prints it only when set).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import falcon

from levante.api import listing
from levante.api.context import ApiContext
from levante.api.payloads import bool_param
from levante.api.views import state_text, timestamp
from levante.engine.service.trees import ActionSummary, ExecutionBranch, TaskBranch
from levante.states import State

#: The states the statistics count, each under ``<state>_tasks_count``.
COUNTED = (State.RUNNING, State.SUCCESS, State.ERROR, State.IDLE, State.PAUSED)


def statistics(counts: Counter[str]) -> dict[str, int]:
    """Mistral's statistics from the number of tasks in each state."""
    stats = {"total_tasks_count": sum(counts.values())}
    for state in COUNTED:
        stats[f"{state.value.lower()}_tasks_count"] = counts[state.value]
    return stats


def _action_entry(action: ActionSummary) -> dict[str, Any]:
    return {
        "id": action.id, "name": action.name, "state": state_text(action.state), "state_info": action.state_info,
        "accepted": action.accepted,
        "last_heartbeat": None if action.is_sync else timestamp(action.last_heartbeat),
        "created_at": timestamp(action.created_at), "updated_at": timestamp(action.updated_at),
    }


class _Report:
    """One report being built: the flags and the running counts."""

    def __init__(self, errors_only: bool) -> None:
        self.errors_only = errors_only
        self.counts: Counter[str] = Counter()

    def execution(self, branch: ExecutionBranch) -> dict[str, Any]:
        ex = branch.execution
        entry: dict[str, Any] = {
            "id": ex.id, "name": ex.workflow_name, "state": state_text(ex.state), "state_info": ex.state_info,
            "created_at": timestamp(ex.created_at), "updated_at": timestamp(ex.updated_at),
        }
        if branch.expanded:
            tasks = [self.task(t) for t in branch.tasks]
            entry["task_executions"] = [t for t in tasks if t is not None]
        return entry

    def task(self, branch: TaskBranch) -> dict[str, Any] | None:
        task = branch.task
        self.counts[state_text(task.state)] += 1
        executions = [self.execution(e) for e in branch.executions]  # counted even when left out
        if self.errors_only and task.state != State.ERROR:
            return None
        entry: dict[str, Any] = {
            "id": task.id, "name": task.name, "type": task.type, "state": state_text(task.state),
            "state_info": task.state_info, "created_at": timestamp(task.created_at),
            "updated_at": timestamp(task.updated_at),
        }
        if task.retry_no is not None:
            entry["retry_count"] = task.retry_no
        entry["action_executions"] = [_action_entry(a) for a in branch.actions]
        entry["workflow_executions"] = executions
        return entry


class ExecutionReport:
    """``GET /v2/executions/{execution_id}/report``."""

    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx

    def on_get(self, req: falcon.Request, resp: falcon.Response, execution_id: str) -> None:
        listing.parse(req, {}, (), extra=("errors_only", "max_depth", "statistics_only"))
        max_depth = listing.as_int(req.get_param("max_depth") or "-1")
        if bool_param(req, "statistics_only"):
            resp.media = {"statistics": statistics(self.ctx.trees.task_counts(execution_id, max_depth))}
            return
        report = _Report(bool_param(req, "errors_only"))
        root = report.execution(self.ctx.trees.tree(execution_id, max_depth))
        resp.media = {"statistics": statistics(report.counts), "root_workflow_execution": root}
