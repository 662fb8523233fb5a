"""The Mistral v2 conformance kit against a real ``levante server`` process.

Starts ``levante server --port 0`` on a temporary SQLite database, waits for ``/health``, runs
``../shared/conformance/conformance.py`` (next to the repository, as CI lays it out) with a JSON
report, and checks the report: one test for the whole run, and one per case so that failures show
individually. ``LEVANTE_CONFORMANCE_TIMEOUT`` / ``LEVANTE_CONFORMANCE_SETTLE`` change the runner's
``--timeout`` / ``--settle`` (60 s and 10 s by default, as the kit's own).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.functional.servers import wait_ready

REPO = Path(__file__).resolve().parents[2]
KIT = REPO.parent / "shared" / "conformance"
RUNNER = KIT / "conformance.py"
CASES = sorted(p.name[: -len(".case.json")] for p in (KIT / "cases").glob("*.case.json"))

pytestmark = pytest.mark.skipif(not RUNNER.is_file(), reason=f"conformance kit not found at {KIT}")


def _selected_cases(session: pytest.Session) -> list[str]:
    return [item.callspec.params["case"] for item in session.items
            if item.originalname == "test_case" and hasattr(item, "callspec")]


@pytest.fixture(scope="module")
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the kit once against a fresh server; the parsed JSON report."""
    tmp = tmp_path_factory.mktemp("conformance")
    out, err = tmp / "server.out", tmp / "server.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}
    command = [sys.executable, "-m", "levante", "server", "--port", "0",
               "--db", f"sqlite:///{tmp / 'levante.db'}"]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=stdout, stderr=stderr, env=env, cwd=tmp)
    try:
        url = wait_ready(proc, out, err)
        report_file = tmp / "report.json"
        args = [sys.executable, str(RUNNER), "--url", url, "--json", str(report_file),
                "--timeout", os.environ.get("LEVANTE_CONFORMANCE_TIMEOUT", "60"),
                "--settle", os.environ.get("LEVANTE_CONFORMANCE_SETTLE", "10")]
        selected = _selected_cases(request.session)
        if len(selected) == 1:
            args += ["-k", selected[0]]
        run = subprocess.run(args, capture_output=True, text=True, timeout=3600)
        if not report_file.is_file():
            raise RuntimeError(f"the conformance runner wrote no report:\n{run.stdout}\n{run.stderr}")
        data = json.loads(report_file.read_text())
        data["output"] = run.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    data["server_exit"] = code
    data["server_log"] = err.read_text()
    return data


def test_every_case_passes(report: dict[str, Any]) -> None:
    failed = [c for c in report["cases"] if not c["passed"]]
    lines = [f"{c['case']}: {c['reason']}" for c in failed]
    head = f"{len(failed)} of {len(report['cases'])} conformance cases failed:\n"
    assert not failed, head + "\n".join(lines)


def test_server_stops_gracefully(report: dict[str, Any]) -> None:
    assert report["server_exit"] == 0, report["server_log"][-3000:]


@pytest.mark.parametrize("case", CASES)
def test_case(report: dict[str, Any], case: str) -> None:
    results = {c["case"]: c for c in report["cases"]}
    if case not in results:
        pytest.skip(f"{case} was not run (another case was selected)")
    result = results[case]
    assert result["passed"], result["reason"]
