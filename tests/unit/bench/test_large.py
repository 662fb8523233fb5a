"""bench/large.py runs: a small chain and fan-out end SUCCESS and every figure is reported."""

from __future__ import annotations

import pytest

from bench.large import measure


@pytest.mark.parametrize("shape, tasks, total", [("chain", 5, 5), ("fanout", 5, 7)])
def test_a_small_workflow_of_each_shape_is_measured(shape: str, tasks: int, total: int) -> None:
    result = measure(shape, tasks)
    assert result["state"] == "SUCCESS" and result["tasks"] == total
    assert all(isinstance(result[k], float) and result[k] >= 0 for k in ("store_s", "start_s", "run_s"))
    assert isinstance(result["tasks_per_s"], float) and result["tasks_per_s"] > 0
