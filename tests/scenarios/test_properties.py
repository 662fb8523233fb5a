"""Properties of the engine's decisions, whatever the order in which asynchronous results arrive.

Each test builds a workflow whose actions are all asynchronous (``std.async_noop``), then lets
Hypothesis choose the order in which they complete, and sometimes re-delivers a result that was
already delivered (at-least-once delivery): the outcome must not depend on either.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from levante.engine import events as ev
from levante.engine.memory import MemoryEngine
from tests.scenarios.harness import complete_action, make_engine, running_actions

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fan_out(k: int, join: str) -> str:
    """start -> b0..b{k-1} (async, each publishing v<i>) -> joined (join) -> final."""
    names = [f"b{i}" for i in range(k)]
    lines = [
        "version: '2.0'",
        "wf:",
        "  output:",
        "    total: <% $.total %>",
        "    seen: <% $.seen %>",
        "  tasks:",
        "    start:",
        "      publish: {base: 100}",
        f"      on-success: [{', '.join(names)}]",
    ]
    for i, name in enumerate(names):
        lines += [
            f"    {name}:",
            "      action: std.async_noop",
            f"      publish: {{v{i}: <% task().result %>}}",
            "      on-success: [joined]",
        ]
    lines += [
        "    joined:",
        f"      join: {join}",
        "      publish:",
        f"        seen: <% [{', '.join(f'$.get(v{i})' for i in range(k))}] %>",
        "      on-success: [final]",
        "    final:",
        "      publish:",
        "        total: <% $.base + $.seen.where($ != null).sum() %>",
    ]
    return "\n".join(lines) + "\n"


def snapshot(engine: MemoryEngine, ex_id: str) -> Any:
    """Everything a duplicate delivery must leave alone."""
    ex = engine.execution(ex_id)
    return copy.deepcopy((
        str(ex.state), ex.state_info, ex.output, ex.context,
        [(t.name, str(t.state), t.published, t.result, t.processed) for t in engine.tasks[ex_id]],
        sorted((a.id, str(a.state), a.output, a.accepted) for a in engine.actions.values()),
        len(engine.pending_actions), len(engine.history[ex_id]),
    ))


def redeliver(engine: MemoryEngine, ex_id: str, data: st.DataObject) -> None:
    """Deliver again the result of an action that already completed (with a different outcome)."""
    done = [a for a in engine.actions.values() if str(a.state) in ("SUCCESS", "ERROR")]
    if not done:
        return
    action_ex = data.draw(st.sampled_from(sorted(done, key=lambda a: a.id)), label="duplicate of")
    before = snapshot(engine, ex_id)
    engine.send(ev.ActionCompleted(action_ex.workflow_execution_id or ex_id, action_ex.id,
                                   data.draw(st.sampled_from(["SUCCESS", "ERROR"])), "duplicate"))
    assert snapshot(engine, ex_id) == before, "a duplicate delivery changed the execution"


def task_names(engine: MemoryEngine, ex_id: str, name: str) -> list[Any]:
    return [t for t in engine.tasks[ex_id] if t.name == name]


@SETTINGS
@given(k=st.integers(2, 6), data=st.data())
def test_join_all_is_order_independent(k: int, data: st.DataObject) -> None:
    engine, runner = make_engine(fan_out(k, "all"))
    ex = engine.start("wf")
    order = data.draw(st.permutations(range(k)), label="completion order")
    for i in order:
        complete_action(engine, f"b{i}", "SUCCESS", i * 10)
        if data.draw(st.booleans(), label="redeliver"):
            redeliver(engine, ex.id, data)

    assert str(engine.execution(ex.id).state) == "SUCCESS"
    seen = [i * 10 for i in range(k)]
    assert engine.execution(ex.id).output == {"total": 100 + sum(seen), "seen": seen}
    [joined] = task_names(engine, ex.id, "joined")
    assert joined.published == {"seen": seen}
    assert [c[0] for c in runner.calls].count("joined") == 1, "the join ran more than once"
    assert len(task_names(engine, ex.id, "final")) == 1
    for i in range(k):
        assert task_names(engine, ex.id, f"b{i}")[0].published == {f"v{i}": i * 10}
    redeliver(engine, ex.id, data)  # after the end, too


@SETTINGS
@given(n=st.integers(1, 12), c=st.integers(1, 4), data=st.data())
def test_with_items_concurrency_and_order(n: int, c: int, data: st.DataObject) -> None:
    text = f"""
version: '2.0'
wf:
  tasks:
    task1:
      with-items: i in <% range({n}).toList() %>
      action: std.async_noop
      concurrency: {c}
"""
    engine, _ = make_engine(text)
    ex = engine.start("wf")
    for remaining in range(n, 0, -1):
        running = running_actions(engine, "task1")
        assert len(running) <= c, f"{len(running)} items running with concurrency {c}"
        assert len(running) == min(c, remaining)
        indexes = sorted(cmd.info["index"] for cmd in running)
        chosen = data.draw(st.sampled_from(indexes), label="complete item")
        complete_action(engine, "task1", "SUCCESS", f"r{chosen}", index=chosen)
        if data.draw(st.booleans(), label="redeliver"):
            redeliver(engine, ex.id, data)

    assert str(engine.execution(ex.id).state) == "SUCCESS"
    task = engine.task(ex.id, "task1")
    assert str(task.state) == "SUCCESS"
    assert task.result == [f"r{i}" for i in range(n)]
    assert len(engine.action_executions(task.id)) == n


@SETTINGS
@given(data=st.data())
def test_join_two_of_three_creates_one_join_execution(data: st.DataObject) -> None:
    engine, runner = make_engine(fan_out(3, "2"))
    ex = engine.start("wf")
    order = data.draw(st.permutations(range(3)), label="completion order")
    for step, i in enumerate(order):
        complete_action(engine, f"b{i}", "SUCCESS", i * 10)
        if step == 1:  # the second arrival satisfies the join
            joins = task_names(engine, ex.id, "joined")
            assert len(joins) == 1 and str(joins[0].state) == "SUCCESS"
            assert [c[0] for c in runner.calls].count("joined") == 1
        if data.draw(st.booleans(), label="redeliver"):
            redeliver(engine, ex.id, data)

    assert str(engine.execution(ex.id).state) == "SUCCESS"
    assert len(task_names(engine, ex.id, "joined")) == 1, "more than one join task execution"
    # Mistral's quirk (reference 1.5): the late third arrival re-opens the same join execution
    # (WAITING, then RUNNING again), so its action runs a second time.
    assert [c[0] for c in runner.calls].count("joined") == 2
