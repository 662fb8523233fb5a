"""bench/items_cost.py runs: a small with-items task ends SUCCESS and both phases are reported."""

from __future__ import annotations

from bench.items_cost import measure


def test_a_small_with_items_task_is_measured_phase_by_phase() -> None:
    result = measure(12, runs=1)
    assert result["items"] == 12 and result["runs"] == 1
    assert all(isinstance(result[k], float) and result[k] >= 0
               for k in ("wall_s", "cpu_s", "start_cpu_s", "results_cpu_s"))
    assert result["start_kinds"].get("INSERT action_executions", 0) >= 1
    assert result["start_kinds"].get("INSERT outbox", 0) >= 1
    assert result["results_statements"] > 0 and result["statements_per_item"] > 0
