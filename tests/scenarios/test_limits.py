"""Bounds on what one workflow may ask of the engine (issue 11, item 5), rehearsed in memory.

Each bound fails the offending task with a message naming the bound and the setting that raises
it; a parallel branch that did nothing wrong still completes.
"""

from __future__ import annotations

from typing import Any

import pytest

from levante.engine.limits import DEFAULT_RESULT_SIZE, EngineLimits
from levante.workflows import expressions
from tests.scenarios.harness import make_engine


def _run(text: str, limits: EngineLimits, workflow: str = "wf", wf_input: dict[str, Any] | None = None,
         script: dict[str, list[dict[str, Any]]] | None = None) -> Any:
    engine, _runner = make_engine(text, script)
    engine.limits = limits
    ex = engine.start(workflow, wf_input or {})
    engine.run_to_end()
    return engine, engine.executions[ex.id]


PARALLEL = """
version: '2.0'
wf:
  input: [items]
  tasks:
    many:
      with-items: i in <% $.items %>
      action: std.echo output=<% $.i %>
    other:
      action: std.echo output="fine"
      publish: {other: <% task().result %>}
"""


def test_with_items_over_the_limit_fails_only_that_task_before_running_anything() -> None:
    engine, ex = _run(PARALLEL, EngineLimits(with_items=5), wf_input={"items": list(range(6))})
    many, other = engine.task(ex.id, "many"), engine.task(ex.id, "other")
    assert many.state == "ERROR"
    assert "6 items exceed the limit of 5 items per task" in many.state_info
    assert "LEVANTE_MAX_WITH_ITEMS" in many.state_info
    assert not [a for a in engine.actions.values() if a.task_execution_id == many.id]
    assert other.state == "SUCCESS" and other.published == {"other": "fine"}
    assert ex.state == "ERROR" and "items per task" in ex.state_info


def test_with_items_at_the_limit_runs() -> None:
    engine, ex = _run(PARALLEL, EngineLimits(with_items=5), wf_input={"items": list(range(5))})
    assert ex.state == "SUCCESS"
    assert engine.task(ex.id, "many").result == [0, 1, 2, 3, 4]


RECURSIVE = """
version: '2.0'
rec:
  input: [n]
  tasks:
    again:
      workflow: rec n=<% $.n + 1 %>
"""


def test_a_workflow_that_starts_itself_fails_at_the_depth_limit() -> None:
    engine, ex = _run(RECURSIVE, EngineLimits(subworkflow_depth=7), workflow="rec", wf_input={"n": 0})
    assert ex.state == "ERROR"
    assert "would run 8 levels deep, over the limit of 7 nested sub-workflows" in ex.state_info
    assert "LEVANTE_MAX_SUBWORKFLOW_DEPTH" in ex.state_info
    assert len(engine.executions) == 8  # the root and 7 levels below it
    assert {str(e.state) for e in engine.executions.values()} == {"ERROR"}
    deepest = max(engine.executions.values(), key=lambda e: e.input["n"])
    assert deepest.input["n"] == 7 and deepest.runtime_context["depth"] == 7


def test_deep_trees_start_without_a_deep_stack() -> None:
    # 400 levels in one decision: children of children are queued, not started recursively.
    engine, ex = _run(RECURSIVE, EngineLimits(subworkflow_depth=400), workflow="rec", wf_input={"n": 0})
    assert ex.state == "ERROR" and "over the limit of 400" in ex.state_info
    assert len(engine.executions) == 401


BIG_RESULT = """
version: '2.0'
wf:
  tasks:
    big:
      action: std.noop
      on-error: [handled]
    handled:
      action: std.echo output="handled"
    other:
      action: std.echo output="fine"
"""


def test_an_action_result_over_the_size_limit_fails_its_task_on_the_normal_error_path() -> None:
    script = {"big": [{"state": "SUCCESS", "result": "x" * 3000}]}
    engine, ex = _run(BIG_RESULT, EngineLimits(result_size=1000), script=script)
    big = engine.task(ex.id, "big")
    assert big.state == "ERROR"
    action = next(a for a in engine.actions.values() if a.task_execution_id == big.id)
    assert action.state == "ERROR"
    assert action.output["result"].startswith("the action's result of 3,002 bytes exceeds the limit of 1,000")
    assert "LEVANTE_MAX_RESULT_SIZE" in action.output["result"]
    assert engine.task(ex.id, "handled").state == "SUCCESS"  # on-error ran: only the task failed
    assert engine.task(ex.id, "other").state == "SUCCESS"
    assert ex.state == "SUCCESS"


def test_the_default_result_limit_is_mistrals_one_mebibyte() -> None:
    assert EngineLimits().result_size == DEFAULT_RESULT_SIZE == 1024 * 1024
    script = {"big": [{"state": "SUCCESS", "result": "x" * (1024 * 1024 - 100)}]}
    engine, ex = _run(BIG_RESULT, EngineLimits(), script=script)
    assert engine.task(ex.id, "big").state == "SUCCESS"


PUBLISH = """
version: '2.0'
wf:
  input: [text]
  tasks:
    pub:
      action: std.noop
      publish: {copy: <% $.text + $.text %>}
    other:
      action: std.echo output="fine"
"""


def test_a_published_value_over_the_size_limit_fails_the_task() -> None:
    engine, ex = _run(PUBLISH, EngineLimits(result_size=1000), wf_input={"text": "y" * 600})
    pub = engine.task(ex.id, "pub")
    assert pub.state == "ERROR"
    assert "the published value of 1,212 bytes exceeds the limit of 1,000 bytes" in pub.state_info
    assert pub.published in ({}, None)
    assert engine.task(ex.id, "other").state == "SUCCESS"


OUTPUT = """
version: '2.0'
wf:
  input: [text]
  output: {twice: <% $.text + $.text %>}
  tasks:
    t:
      action: std.noop
"""


def test_a_workflow_output_over_the_size_limit_fails_the_execution() -> None:
    _engine, ex = _run(OUTPUT, EngineLimits(result_size=1000), wf_input={"text": "z" * 600})
    assert ex.state == "ERROR"
    assert ex.state_info.startswith("the workflow's output of 1,213 bytes exceeds the limit of 1,000 bytes")
    assert ex.output == {"result": ex.state_info}


RUNAWAY = """
version: '2.0'
wf:
  tasks:
    runaway:
      action: std.echo output=<% range(0, 400000).sum() %>
    other:
      action: std.echo output="fine"
      publish: {other: <% task().result %>}
"""


@pytest.fixture()
def quick_timeout():
    previous = expressions.configure(expressions.ExpressionLimits(timeout=0.3))
    yield
    expressions.configure(previous)


def test_a_runaway_expression_fails_its_task_and_nothing_else(quick_timeout) -> None:
    engine, ex = _run(RUNAWAY, EngineLimits())
    runaway, other = engine.task(ex.id, "runaway"), engine.task(ex.id, "other")
    assert runaway.state == "ERROR"
    assert "ran longer than the limit of 0.3 s and was stopped" in runaway.state_info
    assert "LEVANTE_EXPRESSION_TIMEOUT" in runaway.state_info
    assert other.state == "SUCCESS" and other.published == {"other": "fine"}


FANOUT = """
version: '2.0'
wf:
  tasks:
    r1:
      action: std.echo output=<% range(0, 400000).sum() %>
    r2:
      action: std.echo output=<% range(0, 400001).sum() %>
    r3:
      action: std.echo output=<% range(0, 400002).sum() %>
    r4:
      action: std.echo output=<% range(0, 400003).sum() %>
"""


def test_runaway_expressions_of_one_step_share_one_time_budget(quick_timeout) -> None:
    # Four runaway tasks start in one step: together they hold the lock for two timeouts, not four.
    engine, ex = _run(FANOUT, EngineLimits())
    infos = [engine.task(ex.id, name).state_info for name in ("r1", "r2", "r3", "r4")]
    assert all(engine.task(ex.id, name).state == "ERROR" for name in ("r1", "r2", "r3", "r4"))
    assert "ran longer than the limit of 0.3 s" in infos[0]
    assert "in one step of this workflow ran longer than 0.6 s" in infos[-1]
    assert "LEVANTE_EXPRESSION_TIMEOUT" in infos[-1]
