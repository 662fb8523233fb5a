"""A with-items task over more items than may run at once (issue 14: lazy with-items), in memory.

The task evaluates its items once, when it starts, keeps them in chunks (StoreItems) when they do
not all start at once, and each later step starts the next items from the chunks it reads back:
never more running than its concurrency or the engine's window, every item with its own values, and
the results in item order.
"""

from __future__ import annotations

from typing import Any

import pytest

from levante.engine import events as ev
from levante.engine import work
from levante.engine.commands import ITEMS_PER_CHUNK
from levante.engine.limits import EngineLimits
from levante.engine.memory import MemoryEngine
from levante.engine.records import ActionExecution, WorkflowExecution
from levante.states import State
from tests.scenarios.harness import make_engine

TWO_LISTS = """
version: '2.0'
wf:
  input: [count]
  tasks:
    many:
      with-items:
        - i in <% range($.count) %>
        - j in <% range($.count).select($ * 2) %>
      action: std.echo output=<% [$.i, $.j] %>
"""

LIMITED = """
version: '2.0'
wf:
  input: [items, limit]
  tasks:
    many:
      with-items: i in <% $.items %>
      concurrency: <% $.limit %>
      action: std.echo output=<% $.i %>
"""


def _engine(text: str, window: int) -> MemoryEngine:
    engine, _ = make_engine(text, None)
    engine.runner = None  # actions wait: the test completes them
    engine.limits = EngineLimits(with_items_window=window)
    return engine


def _running(engine: MemoryEngine, ex: WorkflowExecution) -> list[ActionExecution]:
    return [a for a in engine.actions.values() if a.workflow_execution_id == ex.id and a.state == State.RUNNING]


def _drain(engine: MemoryEngine, ex: WorkflowExecution, at_once: int, fail: frozenset[int] = frozenset(),
           per_step: int = 7) -> int:
    """Complete the running actions a few at a time, echoing their input; returns the most seen
    running at once (checked after every step)."""
    most = 0
    while True:
        running = _running(engine, ex)
        most = max(most, len(running))
        assert len(running) <= at_once
        if not running:
            return most
        for action_ex in running[:per_step]:
            index = action_ex.runtime_context["index"]
            state = "ERROR" if index in fail else "SUCCESS"
            engine.send(ev.ActionCompleted(ex.id, action_ex.id, state, action_ex.input["output"]))
        engine.run()


def test_only_the_window_runs_at_once_and_every_item_gets_its_own_values() -> None:
    count = 2 * ITEMS_PER_CHUNK + 500  # three chunks, the last one short
    engine = _engine(TWO_LISTS, window=40)
    ex = engine.start("wf", {"count": count})
    assert len(_running(engine, ex)) == 40
    many = engine.task(ex.id, "many")
    assert many is not None
    stored = engine.item_store[(many.id, 0)]
    assert sorted(stored) == [0, 1, 2]
    assert stored[2] == [["i", list(range(2000, count))], ["j", [2 * i for i in range(2000, count)]]]
    assert _drain(engine, ex, 40, per_step=25) == 40
    assert engine.execution(ex.id).state == State.SUCCESS
    assert engine.task(ex.id, "many").result == [[i, 2 * i] for i in range(count)]


@pytest.mark.parametrize(("limit", "window", "at_once"), [(3, 10, 3), (50, 10, 10), (None, 0, 25)])
def test_the_lower_of_concurrency_and_window_bounds_the_items_running(limit: Any, window: int, at_once: int) -> None:
    engine = _engine(LIMITED if limit else LIMITED.replace("concurrency", "# concurrency"), window)
    ex = engine.start("wf", {"items": list(range(25)), "limit": limit})
    assert _drain(engine, ex, at_once) == at_once
    assert engine.execution(ex.id).state == State.SUCCESS
    many = engine.task(ex.id, "many")
    assert many is not None and len(many.result) == 25
    # Items are kept only when some of them wait: with every item started at once, none are.
    assert bool(engine.item_store) == (at_once < 25)


def test_the_items_are_evaluated_once_however_many_steps_start_them(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    evaluate = work._item_lists

    def counted(*args: Any) -> Any:
        calls.append(1)
        return evaluate(*args)

    monkeypatch.setattr(work, "_item_lists", counted)
    engine = _engine(TWO_LISTS, window=5)
    ex = engine.start("wf", {"count": 60})
    _drain(engine, ex, 5)
    assert engine.execution(ex.id).state == State.SUCCESS
    assert len(calls) == 1


def test_a_rerun_without_reset_runs_the_failed_items_again_from_the_stored_chunks() -> None:
    count = ITEMS_PER_CHUNK + 100
    engine = _engine(TWO_LISTS, window=30)
    ex = engine.start("wf", {"count": count})
    _drain(engine, ex, 30, fail=frozenset({3, 1050}), per_step=25)
    many = engine.task(ex.id, "many")
    assert many is not None and many.state == State.ERROR
    before = {a.id for a in engine.actions.values()}
    engine.send(ev.RerunRequested(ex.id, many.id, reset=False))
    engine.run()
    again = [a for a in engine.actions.values() if a.id not in before]
    assert sorted(a.input["output"][0] for a in again) == [3, 1050]
    assert sorted(a.input["output"] for a in again) == [[3, 6], [1050, 2100]]
    _drain(engine, ex, 30, per_step=25)
    assert engine.execution(ex.id).state == State.SUCCESS
    assert engine.task(ex.id, "many").result == [[i, 2 * i] for i in range(count)]


def test_missing_stored_items_fail_the_task_with_a_message_that_says_so() -> None:
    engine = _engine(TWO_LISTS, window=4)
    ex = engine.start("wf", {"count": 10})
    engine.item_store.clear()  # as if the rows were lost
    _drain(engine, ex, 4)
    many = engine.task(ex.id, "many")
    assert many is not None and many.state == State.ERROR
    assert "the stored items of task 'many' are missing" in (many.state_info or "")
    assert engine.execution(ex.id).state == State.ERROR
