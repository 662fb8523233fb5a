"""bench/api_cost.py, small: one probed gunicorn worker on PostgreSQL + RabbitMQ completes every
callback, and its CPU per callback is reported whole and split by part."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench.api_cost import measure  # noqa: E402
from bench.deployment import Unreachable, check_backends  # noqa: E402


def test_a_small_probed_run_completes_every_callback_and_splits_its_cpu() -> None:
    try:
        check_backends()
    except Unreachable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI is set: this test must run)", pytrace=False)
        pytest.skip(str(exc))
    report = measure(executions=6, steps=3, connections=2, split=True)
    assert report["callbacks"] == 18, report
    assert [r["callbacks"] for r in report["rounds"]] == [6, 6, 6], report
    assert report["worker_cpu_ms_per_callback"] > 0, report
    split = report["split_ms_per_callback"]
    assert split["callbacks"] == 18, report
    assert set(split) == {"callbacks", "process", "gunicorn", "falcon", "engine", "publish", "other"}, report
    # Every callback went through the probed worker's falcon app and engine step, and published
    # the next task's action (the last task of each chain publishes nothing).
    assert split["falcon"] > 0 and split["engine"] > 0 and split["publish"] > 0, report
