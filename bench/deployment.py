"""The deployment the fault campaign and the load test run against: PostgreSQL + RabbitMQ, the API
under gunicorn (2 workers by default), 2 engines and 2 executors, each a real process; and a REST
caller tolerant of the faults (it retries connection errors and 5xx).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("LEVANTE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
AMQP = os.environ.get("LEVANTE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
TERMINAL = ("SUCCESS", "ERROR", "CANCELLED")

def log(msg: str) -> None:
    """A timestamped line on stderr, named after the script that runs (faults, load)."""
    print(f"[{Path(sys.argv[0]).stem} {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Unreachable(RuntimeError):
    """PostgreSQL or RabbitMQ cannot be reached."""


def check_backends() -> None:
    """Raise :class:`Unreachable` when PostgreSQL or RabbitMQ does not answer."""
    from kombu import Connection
    from sqlalchemy import text
    from sqlalchemy.pool import NullPool

    from levante.db.session import make_engine

    try:
        eng = make_engine(PG_ADMIN, poolclass=NullPool, connect_args={"connect_timeout": 5})
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:  # noqa: BLE001
        raise Unreachable(f"PostgreSQL at {PG_ADMIN} is not reachable: {str(exc).splitlines()[0]}") from exc
    try:
        with Connection(AMQP, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001
        raise Unreachable(f"RabbitMQ at {AMQP} is not reachable: {exc}") from exc


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the deployment --------------------------------------------------------------------------


class Deployment:
    """gunicorn API (2 workers), 2 engines, 2 executors on a fresh database and a private namespace;
    a supervisor thread restarts engines and executors that exit."""

    def __init__(self, tmp: Path, api_workers: int = 2) -> None:
        from sqlalchemy.engine import make_url

        self.tmp = tmp
        self.db_name = f"levante_faults_{uuid.uuid4().hex[:8]}"
        self.namespace = f"levante_faults_{uuid.uuid4().hex[:8]}"
        self.port = _free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base = self.root + "/v2"
        self.api_workers = api_workers
        db_url = make_url(PG_ADMIN).set(drivername="postgresql+psycopg", database=self.db_name)
        self.env = {**os.environ, "LEVANTE_DB_URL": db_url.render_as_string(hide_password=False),
                    "LEVANTE_TRANSPORT_URL": AMQP, "LEVANTE_NAMESPACE": self.namespace,
                    "LEVANTE_EXECUTOR_THREADS": "16", "LEVANTE_PUBLIC_URL": self.root}
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.restarts: Counter[str] = Counter()
        self.unexpected_exits: list[str] = []
        self._expected_dead: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def _admin(self) -> Any:
        from sqlalchemy.pool import NullPool

        from levante.db.session import make_engine

        return make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def spawn(self, name: str) -> None:
        logf = open(self.tmp / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the process's life
        if name == "api":
            cmd = [sys.executable, "-m", "gunicorn", "-w", str(self.api_workers), "--threads", "4",
                   "--graceful-timeout", "5", "-b", f"127.0.0.1:{self.port}", "levante.wsgi:application"]
            env = {**self.env, "LEVANTE_ROLE": "api"}
        else:
            role = name.split("-")[0]
            cmd = [sys.executable, "-m", "levante", "server", "--role", role]
            env = self.env
        with self._lock:
            self.procs[name] = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)

    def start(self) -> None:
        from sqlalchemy import text

        admin = self._admin()
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.db_name}"'))
        admin.dispose()
        self.spawn("engine-1")  # migrates the schema before the API workers start
        self._wait_for_schema()
        self.spawn("engine-2")
        self.spawn("executor-1")
        self.spawn("executor-2")
        self.spawn("api")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.root + "/health", timeout=5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"the API did not start; logs in {self.tmp}")
        time.sleep(2.0)  # consumers connect
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()

    def _wait_for_schema(self) -> None:
        from sqlalchemy import inspect

        from levante.db.session import make_engine

        eng = make_engine(self.env["LEVANTE_DB_URL"])
        deadline = time.monotonic() + 60
        try:
            while time.monotonic() < deadline:
                if "alembic_version" in inspect(eng).get_table_names():
                    time.sleep(1.0)
                    return
                time.sleep(0.3)
        finally:
            eng.dispose()
        raise RuntimeError(f"the engine did not create the schema; logs in {self.tmp}")

    def _supervise(self) -> None:
        while not self._stop.wait(0.3):
            with self._lock:
                dead = [(n, p.returncode) for n, p in self.procs.items() if p.poll() is not None]
            for name, code in dead:
                if self._stop.is_set():
                    return
                if name in self._expected_dead:
                    self._expected_dead.discard(name)
                else:
                    self.unexpected_exits.append(f"{name} exited with {code}")
                    log(f"{name} exited by itself with status {code}; restarting it")
                time.sleep(0.5)
                self.restarts[name] += 1
                self.spawn(name)

    def kill(self, name: str) -> int:
        with self._lock:
            proc = self.procs[name]
            self._expected_dead.add(name)
        proc.kill()
        proc.wait(10)
        return proc.pid

    def api_worker_pids(self) -> list[int]:
        master = self.procs["api"].pid
        try:
            out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True, text=True,
                                 check=False).stdout
        except FileNotFoundError:
            children = Path(f"/proc/{master}/task/{master}/children").read_text()
            return [int(p) for p in children.split()]
        return [int(p) for p in out.split()]

    def stop(self, keep: bool) -> None:
        self._stop.set()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if keep:
            return
        from kombu import Connection
        from sqlalchemy import text

        try:
            admin = self._admin()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
            admin.dispose()
        except Exception as exc:  # noqa: BLE001
            log(f"could not drop {self.db_name}: {exc}")
        try:
            with Connection(AMQP) as conn:
                channel = conn.channel()
                for queue in ("engine", "executor", "dead"):
                    channel.queue_delete(f"{self.namespace}.{queue}")
                channel.exchange_delete(self.namespace)
        except Exception as exc:  # noqa: BLE001
            log(f"could not delete the queues of {self.namespace}: {exc}")


# --- REST, tolerant of the faults ----------------------------------------------------------


class Api:
    def __init__(self, base: str) -> None:
        self.base = base
        self.errors: Counter[str] = Counter()

    def call(self, method: str, path: str, body: Any = None, plain: bool = False, patience: float = 120,
             ok: tuple[int, ...] = ()) -> Any:
        """Retries connection errors and 5xx for up to ``patience`` seconds (the faults cause them).
        An HTTP error in ``ok`` is returned as ``{"_status": code}``."""
        data = None if body is None else (body.encode() if plain else json.dumps(body).encode())
        headers = {} if body is None else {"Content-Type": "text/plain" if plain else "application/json"}
        deadline = time.monotonic() + patience
        while True:
            req = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(req, timeout=30) as resp:
                    return json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as exc:
                text = exc.read()[:500].decode(errors="replace")
                if exc.code in ok:
                    return {"_status": exc.code, "_body": text}
                if exc.code < 500 or time.monotonic() > deadline:
                    raise RuntimeError(f"{method} {path} -> {exc.code}: {text}") from None
                self.errors[f"{exc.code}"] += 1
            except (OSError, urllib.error.URLError) as exc:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{method} {path}: {exc}") from None
                self.errors[type(exc).__name__] += 1
            time.sleep(0.5)
