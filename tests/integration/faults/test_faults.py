"""The slim fault campaign of issue #7 (``bench/faults.py --slim``): a few dozen executions of the
mix on PostgreSQL + RabbitMQ with the API under gunicorn, 2 engines, 2 executors, and each fault
once (SIGKILL of an engine, an executor, an API worker; RabbitMQ and PostgreSQL restarts; a
callback sent twice; a callback during a pause; a cancel storm). Restarting the services needs root on the
machine that runs them (``rabbitmqctl``, ``pg_ctlcluster``).
"""

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

from bench.faults import Unreachable, check_backends  # noqa: E402


def test_slim_fault_campaign() -> None:
    try:
        check_backends()
    except Unreachable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"{exc} (CI is set: the fault campaign must run)", pytrace=False)
        pytest.skip(str(exc))
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "faults.py"), "--slim", "--json",
                           "--executions", "30", "--seed", "7", "--max-wait", "200"],
                          capture_output=True, text=True, timeout=280, cwd=ROOT)
    assert proc.stdout.strip(), f"no verdict (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    verdict = json.loads(proc.stdout.strip().splitlines()[-1])
    summary = json.dumps({k: v for k, v in verdict.items() if k != "fault_log"}, indent=1)[:6000]
    assert verdict["faults_missing"] == {}, f"faults not injected:\n{summary}"
    assert verdict["ended_as_expected"] == verdict["executions"] == 30, f"executions not as expected:\n{summary}"
    assert verdict["non_safe_rerun_actions_run_twice"] == 0, f"non-safe-rerun actions ran twice:\n{summary}"
    assert verdict["callbacks_lost"] == 0, f"callbacks lost:\n{summary}"
    assert verdict["stuck_executions"] == 0, f"executions left unfinished:\n{summary}"
    assert verdict["callbacks_delivered"] > 0 and verdict["callbacks_sent_twice"], summary
    storm = verdict["cancel_storm"]
    assert storm["roots"] and not storm["errors"], f"the cancel storm got errors:\n{summary}"
    assert storm["left_running"] == [], f"the cancel storm left work running:\n{summary}"
    assert proc.returncode == 0 and verdict["ok"], f"verdict not ok (exit {proc.returncode}):\n{summary}"
