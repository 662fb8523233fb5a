"""Levante as real processes for the benchmarks, driven over its REST API.

``embedded``: one ``levante server`` (role all) on a temporary SQLite file.
``postgres-rabbitmq``: an API process, an engine process and two executor processes on a fresh
PostgreSQL database and a private RabbitMQ namespace (both removed afterwards).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from kombu import Connection
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from levante.db.session import make_engine

PG_ADMIN = os.environ.get("LEVANTE_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP = os.environ.get("LEVANTE_BENCH_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
TERMINAL = ("SUCCESS", "ERROR", "CANCELLED")


class Cluster:
    """Start with ``with Cluster(backend) as c:``; ``c.base`` is the API's ``.../v2`` URL."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.tmp = Path(tempfile.mkdtemp(prefix="levante-bench-"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.base = ""
        self.db_name = ""
        self.namespace = f"levante_bench_{uuid.uuid4().hex[:8]}"

    def __enter__(self) -> "Cluster":
        env = dict(os.environ)
        if self.backend == "embedded":
            env["LEVANTE_DB_URL"] = f"sqlite:///{self.tmp / 'bench.db'}"
            self.base = self._serve(env, ["--role", "all"])
            return self
        self.db_name = f"levante_bench_{uuid.uuid4().hex[:8]}"
        admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        admin.dispose()
        env.update(LEVANTE_DB_URL=make_url(PG_ADMIN).set(database=self.db_name).render_as_string(False),
                   LEVANTE_TRANSPORT_URL=AMQP, LEVANTE_NAMESPACE=self.namespace, LEVANTE_ENGINE_THREADS="4")
        self.base = self._serve(env, ["--role", "api"])
        for role in ("engine", "executor", "executor"):
            self._spawn(env, ["--role", role], role)
        time.sleep(2.0)  # consumers connect
        return self

    def _spawn(self, env: dict[str, str], args: list[str], name: str) -> Path:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        handle = open(log, "wb")  # noqa: SIM115 - kept open for the process's life
        self.procs.append(subprocess.Popen([sys.executable, "-m", "levante", "server", *args], env=env,
                                           stdout=handle, stderr=subprocess.STDOUT))
        return log

    def _serve(self, env: dict[str, str], args: list[str]) -> str:
        log = self._spawn(env, [*args, "--port", "0"], "api")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = re.search(rb"serving on (http://\S+/v2)", log.read_bytes())
            if found:
                return found.group(1).decode()
            time.sleep(0.05)
        raise RuntimeError(f"the API did not start:\n{log.read_text(errors='replace')}")

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self.db_name:
            admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            admin.dispose()
            self._delete_queues()

    def _delete_queues(self) -> None:
        with Connection(AMQP) as conn:
            channel = conn.channel()
            for queue in ("engine", "executor", "dead"):
                channel.queue_delete(f"{self.namespace}.{queue}")
            channel.exchange_delete(self.namespace)

    # --- REST ---------------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None, plain: bool = False) -> Any:
        data = None if body is None else (body.encode() if plain else json.dumps(body).encode())
        headers = {} if body is None else {"Content-Type": "text/plain" if plain else "application/json"}
        req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"null")

    def upload(self, definition: str) -> None:
        try:
            self.call("POST", "/workflows", definition, plain=True)
        except urllib.error.HTTPError as exc:
            if exc.code != 409:
                raise
            self.call("PUT", "/workflows", definition, plain=True)

    def start(self, name: str) -> str:
        return str(self.call("POST", "/executions", {"workflow_name": name})["id"])

    def wait(self, ex_id: str, poll: float = 0.005, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ex = self.call("GET", f"/executions/{ex_id}")
            if ex["state"] in TERMINAL:
                return dict(ex)
            time.sleep(poll)
        raise TimeoutError(f"execution {ex_id} did not finish")
