"""The conformance kit, and gunicorn, against Levante deployed as separate processes on the real
PostgreSQL and RabbitMQ.

One deployment for the module, with a private ``LEVANTE_NAMESPACE`` (its queues and exchange are
deleted at the end) and the fresh database of ``pg_url``: an API process (``levante server --role api
--port 0``, its URL read from its ``serving on http://.../v2`` line), an engine process and an
executor process. ``../shared/conformance/conformance.py`` runs against the API and every case must
pass. Then gunicorn with two workers (``LEVANTE_ROLE=api``) serves the API of the same deployment
and a workflow is run through it, with requests landing on both workers.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

REPO = Path(__file__).resolve().parents[2]
KIT = REPO.parent / "shared" / "conformance"
RUNNER = KIT / "conformance.py"
BROKER = os.environ.get("LEVANTE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
READY = re.compile(r"serving on (http://\S+/v2)")
QUEUES = ("engine", "executor", "dead")

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not RUNNER.is_file(), reason=f"conformance kit not found at {KIT}")]


def _broker_up() -> None:
    try:
        with Connection(BROKER, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001
        message = f"RabbitMQ at {BROKER} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the integration tests must run)", pytrace=False)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


class Deployment:
    """api + engine + executor processes sharing a database and a broker namespace."""

    def __init__(self, db_url: str, tmp: Path) -> None:
        self.namespace = f"levante_conf_{uuid.uuid4().hex[:8]}"
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}
        # This checkout's code, whatever else the interpreter would import as 'levante'.
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        self.env.update({"LEVANTE_DB_URL": db_url, "LEVANTE_TRANSPORT_URL": BROKER,
                         "LEVANTE_NAMESPACE": self.namespace, "LEVANTE_EXECUTOR_THREADS": "8"})
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.url = ""

    def spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("wb") as log:
            proc = subprocess.Popen(command, env=env or self.env, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=self.tmp)
        self.procs[name] = proc
        return proc

    def server(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.spawn(name, [sys.executable, "-m", "levante", "server", *args])

    def start(self) -> None:
        # The engine first: it creates the schema of the fresh database.
        self.server("engine", "--role", "engine")
        self.server("executor", "--role", "executor")
        api = self.server("api", "--role", "api", "--port", "0")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.logs()}")
            found = READY.search((self.tmp / "api.log").read_text(errors="replace"))
            if found and _healthy(found.group(1).removesuffix("/v2")):
                self.url = found.group(1)
                return
            time.sleep(0.2)
        api.kill()
        raise AssertionError(f"the API did not start:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in sorted(self.tmp.glob("*.log")))

    def stop_process(self, name: str) -> int | None:
        proc = self.procs[name]
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()

    def stop(self) -> None:
        for name in list(self.procs):
            self.stop_process(name)
        with Connection(BROKER) as conn:
            channel = conn.channel()
            for queue in QUEUES:
                channel.queue_delete(f"{self.namespace}.{queue}")
            channel.exchange_delete(self.namespace)


def call(base: str, method: str, path: str, body: Any = None, text: bool = False) -> Any:
    data = None
    headers = {}
    if body is not None:
        data = body.encode() if text else json.dumps(body).encode()
        headers["Content-Type"] = "text/plain" if text else "application/json"
    req = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


@pytest.fixture(scope="module")
def deployment(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    _broker_up()
    running = Deployment(pg_url, tmp_path_factory.mktemp("conformance_pg"))
    try:
        running.start()
        yield running
    finally:
        running.stop()


def test_conformance_on_postgresql_and_rabbitmq(deployment: Deployment) -> None:
    report_file = deployment.tmp / "report.json"
    args = [sys.executable, str(RUNNER), "--url", deployment.url, "--json", str(report_file),
            "--timeout", os.environ.get("LEVANTE_CONFORMANCE_TIMEOUT", "60"),
            "--settle", os.environ.get("LEVANTE_CONFORMANCE_SETTLE", "10")]
    run = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    assert report_file.is_file(), f"the runner wrote no report:\n{run.stdout}\n{run.stderr}"
    report = json.loads(report_file.read_text())
    failed = [c for c in report["cases"] if not c["passed"]]
    print(run.stdout.strip().splitlines()[-1] if run.stdout.strip() else "no output")
    for case in failed:
        print(f"FAIL {case['case']}: {case['reason']}")
    assert report["cases"], "no case was run"
    assert not failed, (f"{len(failed)} of {len(report['cases'])} conformance cases failed on "
                        "PostgreSQL + RabbitMQ:\n" + "\n".join(f"{c['case']}: {c['reason']}" for c in failed))


def test_gunicorn_with_two_workers(deployment: Deployment) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**deployment.env, "LEVANTE_ROLE": "api", "LEVANTE_PUBLIC_URL": base}
    gunicorn = deployment.spawn("gunicorn", [
        sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--graceful-timeout", "10",
        "levante.wsgi:application"], env=env)
    deadline = time.monotonic() + 60
    while not _healthy(base):
        assert gunicorn.poll() is None, f"gunicorn exited with {gunicorn.returncode}:\n{deployment.logs()}"
        assert time.monotonic() < deadline, f"gunicorn did not start:\n{deployment.logs()}"
        time.sleep(0.2)
    try:
        name = f"gunicorn_{uuid.uuid4().hex[:8]}"
        definition = f"""
version: '2.0'
{name}:
  input: [n]
  tasks:
    first:
      action: std.echo output=<% $.n %>
      publish: {{a: <% task().result %>}}
      on-success: [second]
    second:
      action: std.echo output=<% $.a + 1 %>
      publish: {{b: <% task().result %>}}
  output:
    b: <% $.b %>
"""
        call(base + "/v2", "POST", "/workflows", definition, text=True)
        started = [call(base + "/v2", "POST", "/executions", {"workflow_name": name, "input": {"n": i}})
                   for i in range(6)]
        for i, ex in enumerate(started):
            deadline = time.monotonic() + 60
            while True:
                got = call(base + "/v2", "GET", f"/executions/{ex['id']}")
                if got["state"] in ("SUCCESS", "ERROR", "CANCELLED") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert got["state"] == "SUCCESS", (got, deployment.logs())
            assert json.loads(got["output"]) == {"b": i + 1}
    finally:
        assert deployment.stop_process("gunicorn") == 0, deployment.logs()
    log = (deployment.tmp / "gunicorn.log").read_text(errors="replace")
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", log))) == 2, log
