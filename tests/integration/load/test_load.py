"""The load test of issue #7 (``bench/load.py``), small: executions each waiting on a chain of
``std.mistral_http`` actions, completed by a storm of callbacks, on PostgreSQL + RabbitMQ with the
API under gunicorn, 2 engines and 2 executors. The full run (1,000 executions, 10,000 callbacks) is
a documented command; this keeps the harness and its figures honest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench.deployment import Unreachable, check_backends  # noqa: E402
from bench.load import percentiles, workflow  # noqa: E402
from levante.workflows import parser  # noqa: E402


def test_the_load_workflow_is_a_chain_of_async_actions() -> None:
    document, errors = parser.inspect(workflow("chain", 4))
    assert not errors and document is not None
    spec = document.workflows["chain"]
    assert list(spec.tasks) == ["s1", "s2", "s3", "s4"]
    assert {t.action for t in spec.tasks.values()} == {"std.mistral_http"}


def test_percentiles_in_milliseconds() -> None:
    got = percentiles([i / 1000 for i in range(1, 101)])
    assert got["n"] == 100 and got["max_ms"] == 100.0
    assert 50.0 <= got["p50_ms"] <= 51.0 and 98.0 <= got["p99_ms"] <= 100.0
    assert percentiles([])["p50_ms"] is None


def test_small_load_run() -> None:
    try:
        check_backends()
    except Unreachable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI is set: the load test must run)", pytrace=False)
        pytest.skip(str(exc))
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "load.py"), "--json", "--executions", "40",
                           "--steps", "3", "--callers", "16", "--rounds", "2"],
                          capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert proc.stdout.strip(), f"no report (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = json.dumps(report, indent=1)[:6000]
    assert [r["all_waiting_at_once"] for r in report["rounds"]] == [40, 40], summary
    for r in report["rounds"]:
        assert r["callbacks_accepted"] == 120 and r["callbacks_failed"] == {}, summary
        assert r["executions_ended"] == {"SUCCESS": 40}, summary
        assert r["callbacks_per_second"] > 0, summary
        assert set(r["memory_mb_before"]) >= {"engine-1", "engine-2", "executor-1", "executor-2", "api",
                                              "api-worker-1", "api-worker-2"}, summary
        assert all(v is not None and v > 0 for v in r["memory_mb_after"].values()), summary
    # Each execution's second and third tasks start after a callback: 2 per execution per round.
    assert report["latency_callback_to_next_task_start"]["n"] == 160, summary
    assert report["latency_callback_to_next_action_at_third_party"]["n"] == 160, summary
    assert report["latency_callback_to_next_task_start"]["p50_ms"] > 0, summary
    assert report["actions_called_twice"] == 0, summary
    assert proc.returncode == 0 and report["ok"], summary
