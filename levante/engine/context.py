"""Data flow: what ``$`` / ``_`` holds at each evaluation site, publishing, and context merging.

Mistral looks names up through layered views (task execution, env, branch context, global context,
workflow input; the first hit wins). Here each view is built as one dict, lowest priority first, so
that expressions see exactly Mistral's shadowing. Context merging across branches uses per-key
version counters: the value published more recently along a branch wins at a join.
"""

from __future__ import annotations

from typing import Any, Mapping

from levante.engine.records import TaskExecution, WorkflowExecution
from levante.workflows import expressions
from levante.workflows.expressions import ExpressionRuntime
from levante.workflows.specs import PublishSpec, thaw


def env_of(wf_ex: WorkflowExecution) -> dict[str, Any]:
    """The execution's environment (always a dict)."""
    env = wf_ex.params.get("env")
    return env if isinstance(env, dict) else {}


def _layers(*layers: Mapping[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for layer in layers:
        if layer:
            data.update(layer)
    return data


def task_marker(task_ex: TaskExecution) -> dict[str, Any]:
    """The ``__task_execution`` entry of a data context."""
    return {"id": task_ex.id, "name": task_ex.name}


def task_data(wf_ex: WorkflowExecution, task_ex: TaskExecution,
              extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Context for task input, action/workflow names, with-items and policy values."""
    return _layers(wf_ex.input, wf_ex.context, task_ex.in_context, extra,
                   {"__env": env_of(wf_ex), "__task_execution": task_marker(task_ex)})


def outbound(task_ex: TaskExecution) -> dict[str, Any]:
    """The task's outbound context: its branch context updated with what it published."""
    return {**task_ex.in_context, **task_ex.published}


def outbound_versions(task_ex: TaskExecution) -> dict[str, int]:
    """Version counters of the outbound context (each published key one higher)."""
    versions = dict(task_ex.in_versions)
    for key in task_ex.published:
        versions[key] = versions.get(key, 0) + 1
    return versions


def publish_data(wf_ex: WorkflowExecution, task_ex: TaskExecution) -> dict[str, Any]:
    """Context for ``publish`` expressions (the task's inbound context, not what it publishes)."""
    return _layers(wf_ex.input, wf_ex.context, {"__env": env_of(wf_ex)}, task_ex.in_context,
                   {"__task_execution": task_marker(task_ex)})


def transition_data(wf_ex: WorkflowExecution, task_ex: TaskExecution) -> dict[str, Any]:
    """Context for transition conditions and engine-command parameters."""
    return _layers(wf_ex.input, wf_ex.context, {"__env": env_of(wf_ex)}, outbound(task_ex),
                   {"__task_execution": task_marker(task_ex)})


def workflow_data(wf_ex: WorkflowExecution, final_context: Mapping[str, Any]) -> dict[str, Any]:
    """Context for the workflow ``output`` / ``output-on-error``."""
    return _layers(wf_ex.input, wf_ex.context, {"__env": env_of(wf_ex)}, final_context)


def vars_data(wf_ex: WorkflowExecution) -> dict[str, Any]:
    """Context for ``vars`` (evaluated once at start)."""
    return _layers(wf_ex.input, wf_ex.context, {"__env": env_of(wf_ex)})


def merge_contexts(
    contexts: list[tuple[Mapping[str, Any], Mapping[str, int]]],
) -> tuple[dict[str, Any], dict[str, int]]:
    """Merge branch contexts: on a key present in several, the higher version wins; on a tie the
    earlier context keeps it. Returns the merged context and versions."""
    merged: dict[str, Any] = {}
    versions: dict[str, int] = {}
    for context, ctx_versions in contexts:
        for key, value in context.items():
            version = ctx_versions.get(key, 0)
            if key not in merged or version > versions.get(key, 0):
                merged[key] = value
                versions[key] = version
    return merged, versions


def evaluate_publish(spec: PublishSpec, data: Mapping[str, Any],
                     runtime: ExpressionRuntime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Evaluate a publish spec: (branch values, global values). Raises ExpressionError."""
    branch = expressions.evaluate(thaw(spec.branch), data, runtime) if spec.branch else {}
    glob = expressions.evaluate(thaw(spec.global_), data, runtime) if spec.global_ else {}
    return branch, glob


def merge_publish(*specs: PublishSpec | None) -> PublishSpec:
    """Combine publish specs, later ones winning on key conflicts."""
    branch: dict[str, Any] = {}
    glob: dict[str, Any] = {}
    for spec in specs:
        if spec:
            branch.update(spec.branch)
            glob.update(spec.global_)
    return PublishSpec(branch=branch, global_=glob)


def deep_merge(left: dict[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    """Recursively merge ``right`` into a copy of ``left`` (maps merge, other values replace)."""
    out = dict(left)
    for key, value in right.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out
