"""Levante as separate processes on the real PostgreSQL and RabbitMQ: an API process, an engine
process and executor processes (one serving the target group 'special'), driven over REST.

Covers issue 4's acceptance: a 200-task fan-out through two executors; ``target`` routing; an
executor killed with SIGKILL in the middle of a ``safe-rerun: true`` action gets it run again
elsewhere, while a non-safe-rerun action ends in ERROR saying why and the workflow follows its
``on-error``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kombu import Connection

pytestmark = pytest.mark.integration
BROKER = os.environ.get("LEVANTE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _broker_up() -> None:
    try:
        with Connection(BROKER, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001
        message = f"RabbitMQ at {BROKER} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the integration tests must run)", pytrace=False)
        pytest.skip(message)


class Cluster:
    """The processes of one deployment, sharing a database and a broker namespace."""

    def __init__(self, db_url: str, tmp: Any) -> None:
        self.namespace = f"levante_test_{uuid.uuid4().hex[:8]}"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}/v2"
        self.env = {**os.environ, "LEVANTE_DB_URL": db_url, "LEVANTE_TRANSPORT_URL": BROKER,
                    "LEVANTE_NAMESPACE": self.namespace, "LEVANTE_EXECUTOR_THREADS": "8"}
        self.tmp = tmp
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen([sys.executable, "-m", "levante", "server", *args], env=self.env,
                                stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def wait_for_consumer(self, topic: str, timeout: float = 30) -> None:
        """Until a process consumes the queue of ``topic`` (e.g. ``executor.victim``)."""
        deadline = time.monotonic() + timeout
        with Connection(BROKER) as conn:
            channel = conn.channel()
            while time.monotonic() < deadline:
                try:
                    _name, _messages, consumers = channel.queue_declare(f"{self.namespace}.{topic}", passive=True)
                except Exception:  # noqa: BLE001 - not declared yet (the channel closes on that)
                    channel = conn.channel()
                    consumers = 0
                if consumers:
                    return
                time.sleep(0.1)
        raise AssertionError(f"nothing consumes {topic} after {timeout} s: {self.logs()}")

    def start(self) -> None:
        self.spawn("api", "--role", "api", "--port", str(self.port))
        self.spawn("engine", "--role", "engine")
        self.spawn("executor-a", "--role", "executor")
        self.spawn("executor-b", "--role", "executor")
        self.spawn("executor-special", "--role", "executor", "--target", "special")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.call("GET", "/health".replace("/v2", ""), base=f"http://127.0.0.1:{self.port}")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"the API did not start: {self.logs()}")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in self.tmp.glob("*.log"))

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        with Connection(BROKER) as conn:
            channel = conn.channel()
            for queue in ("engine", "executor", "executor.special", "executor.victim", "dead"):
                channel.queue_delete(f"{self.namespace}.{queue}")
            channel.exchange_delete(self.namespace)

    def call(self, method: str, path: str, body: Any = None, text: bool = False, base: str | None = None) -> Any:
        data = None
        headers = {}
        if body is not None:
            data = body.encode() if text else json.dumps(body).encode()
            headers["Content-Type"] = "text/plain" if text else "application/json"
        req = urllib.request.Request((base or self.base) + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read() or b"null")

    def run(self, definition: str, name: str, timeout: float = 120) -> dict[str, Any]:
        self.call("POST", "/workflows", definition, text=True)
        ex = self.call("POST", "/executions", {"workflow_name": name})
        return self.wait(ex["id"], timeout)

    def wait(self, ex_id: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ex = self.call("GET", f"/executions/{ex_id}")
            if ex["state"] in ("SUCCESS", "ERROR", "CANCELLED"):
                return ex
            time.sleep(0.2)
        raise AssertionError(f"execution {ex_id} did not finish:\n{self.logs()}")

    def tasks(self, ex_id: str) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in self.call("GET", f"/executions/{ex_id}/tasks")["tasks"]}


@pytest.fixture(scope="module")
def cluster(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    _broker_up()
    running = Cluster(pg_url, tmp_path_factory.mktemp("cluster"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


def test_fanout_of_200_through_two_executors(cluster: Cluster) -> None:
    name = f"fan_{uuid.uuid4().hex[:8]}"
    lines = ["version: '2.0'", f"{name}:", "  tasks:", "    start:", "      on-success:"]
    lines += [f"        - b{i}" for i in range(200)]
    for i in range(200):
        lines += [f"    b{i}:", f"      action: std.echo output={i}", "      on-success: [join]"]
    lines += ["    join:", "      join: all", "      action: std.noop"]
    ex = cluster.run("\n".join(lines) + "\n", name)
    assert ex["state"] == "SUCCESS", ex["state_info"]
    assert len(cluster.tasks(ex["id"])) == 202


def test_target_routes_to_the_named_executor_group(cluster: Cluster) -> None:
    name = f"target_{uuid.uuid4().hex[:8]}"
    text = f"""
version: '2.0'
{name}:
  tasks:
    special:
      action: std.echo output="routed"
      target: special
      publish: {{got: <% task().result %>}}
"""
    ex = cluster.run(text, name)
    assert ex["state"] == "SUCCESS", ex["state_info"]
    assert json.loads(ex["output"]) == {"got": "routed"}


def test_an_action_run_on_its_own_goes_to_its_target(cluster: Cluster) -> None:
    routed = cluster.call("POST", "/action_executions", {"name": "std.echo", "input": {"output": "routed"},
                                                         "params": {"target": "special", "run_sync": True}})
    assert routed["state"] == "SUCCESS" and json.loads(routed["output"]) == {"result": "routed"}
    # No executor serves the group "nobody": the action waits in its queue.
    waiting = cluster.call("POST", "/action_executions", {"name": "std.echo", "input": {"output": "x"},
                                                          "params": {"target": "nobody", "run_sync": False}})
    time.sleep(2.0)
    assert cluster.call("GET", f"/action_executions/{waiting['id']}")["state"] == "RUNNING"


def _run_then_kill_its_executor(cluster: Cluster, text: str, name: str) -> dict[str, Any]:
    """Start the workflow, whose one action goes to the target group 'victim' served by a single
    executor; SIGKILL that executor mid-action and start a replacement for the group."""
    cluster.spawn("victim", "--role", "executor", "--target", "victim")
    # The message must reach the victim, not wait in the queue for its replacement.
    cluster.wait_for_consumer("executor.victim")
    cluster.call("POST", "/workflows", text, text=True)
    ex = cluster.call("POST", "/executions", {"workflow_name": name})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until the action is running on the victim
        tasks = cluster.tasks(ex["id"])
        if "slow" in tasks:
            actions = cluster.call("GET", f"/tasks/{tasks['slow']['id']}/action_executions")["action_executions"]
            if actions:
                break
        time.sleep(0.1)
    time.sleep(1.0)  # the victim has taken the message and is sleeping in the action
    cluster.procs["victim"].kill()
    cluster.procs["victim"].wait(10)
    cluster.spawn("victim", "--role", "executor", "--target", "victim")
    done = cluster.wait(ex["id"])
    cluster.procs["victim"].send_signal(signal.SIGTERM)
    cluster.procs["victim"].wait(15)
    return done


def test_killed_executor_safe_rerun_action_runs_again_elsewhere(cluster: Cluster) -> None:
    name = f"safe_{uuid.uuid4().hex[:8]}"
    text = f"""
version: '2.0'
{name}:
  tasks:
    slow:
      action: std.sleep seconds=3
      target: victim
      safe-rerun: true
"""
    done = _run_then_kill_its_executor(cluster, text, name)
    assert done["state"] == "SUCCESS", done["state_info"]


def test_killed_executor_non_safe_action_fails_and_on_error_runs(cluster: Cluster) -> None:
    name = f"unsafe_{uuid.uuid4().hex[:8]}"
    text = f"""
version: '2.0'
{name}:
  tasks:
    slow:
      action: std.sleep seconds=3
      target: victim
      on-error: cleanup
    cleanup:
      action: std.noop
"""
    done = _run_then_kill_its_executor(cluster, text, name)
    assert done["state"] == "SUCCESS", done["state_info"]
    tasks = cluster.tasks(done["id"])
    assert tasks["slow"]["state"] == "ERROR"
    assert "cannot be re-run safely" in tasks["slow"]["state_info"]
    assert tasks["cleanup"]["state"] == "SUCCESS"


def _ready(cluster: Cluster, topic: str) -> int:
    with Connection(BROKER) as conn:
        _name, ready, _consumers = conn.channel().queue_declare(f"{cluster.namespace}.{topic}", passive=True)
        return int(ready)


def test_cancel_reaches_an_executor_process(cluster: Cluster) -> None:
    """Issue 11 item 4 across processes: the API process cancels; the executor process serving
    'special' (8 threads) hears the broadcast, stops its 8 sleeps of 120 s and skips the 16
    requests waiting in its queue, so a later action of the group runs at once."""
    name = f"naps_{uuid.uuid4().hex[:8]}"
    cluster.call("POST", "/workflows", f"""
version: '2.0'
{name}:
  tasks:
    naps:
      with-items: i in <% range(0, 24) %>
      action: std.sleep seconds=120
      target: special
""", text=True)
    ex = cluster.call("POST", "/executions", {"workflow_name": name})
    deadline = time.monotonic() + 60
    while _ready(cluster, "executor.special") != 16 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _ready(cluster, "executor.special") == 16, cluster.logs()
    try:
        cancelled = cluster.call("PUT", f"/executions/{ex['id']}", {"state": "CANCELLED"})
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"cancel answered {exc.code}: {exc.read()[:2000]!r}\n{cluster.logs()}") from None
    assert cancelled["state"] == "CANCELLED"
    actions = cluster.call("GET", f"/action_executions?workflow_execution_id={ex['id']}")["action_executions"]
    assert len(actions) == 24 and {a["state"] for a in actions} == {"CANCELLED"}
    # Had the sleeps gone on, the group would be busy for minutes (2 rounds of 120 s).
    echo = f"after_{uuid.uuid4().hex[:8]}"
    done = cluster.run(f"""
version: '2.0'
{echo}:
  tasks:
    one:
      action: std.echo output="free"
      target: special
""", echo, timeout=60)
    assert done["state"] == "SUCCESS", cluster.logs()
    assert _ready(cluster, "executor.special") == 0


def test_nul_characters_cross_every_process(cluster: Cluster) -> None:
    """A NUL produced at run time, sent to an executor, published, and given in a callback's output
    over HTTP: stored escaped on PostgreSQL, the execution ends SUCCESS with the NULs in place."""
    name = f"nul_{uuid.uuid4().hex[:8]}"
    text = f"""
version: '2.0'
{name}:
  tasks:
    parse:
      action: std.noop
      publish: {{v: <% json_parse('"a\\\\u0000b"') %>}}
      on-success: echo
    echo:
      action: std.echo output=<% $.v %>
      publish: {{echoed: <% task().result %>}}
      on-success: wait
    wait:
      action: std.async_noop
      publish: {{called_back: <% task().result %>}}
"""
    cluster.call("POST", "/workflows", text, text=True)
    ex = cluster.call("POST", "/executions", {"workflow_name": name})
    deadline = time.monotonic() + 60
    action = None
    while action is None and time.monotonic() < deadline:
        wait = cluster.tasks(ex["id"]).get("wait")
        if wait:
            actions = cluster.call("GET", f"/tasks/{wait['id']}/action_executions")["action_executions"]
            action = actions[0] if actions else None
        time.sleep(0.1)
    assert action is not None, cluster.logs()
    answer = cluster.call("PUT", f"/action_executions/{action['id']}",
                          {"state": "SUCCESS", "output": {"k\u0000": "x\u0000y"}})
    assert answer["state"] == "SUCCESS"
    done = cluster.wait(ex["id"])
    assert done["state"] == "SUCCESS", done["state_info"]
    assert json.loads(done["output"]) == {"v": "a\x00b", "echoed": "a\x00b", "called_back": {"k\x00": "x\x00y"}}
