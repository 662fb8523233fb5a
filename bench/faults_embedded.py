"""The fault campaign's second victim: one ``levante server`` process (API, engine, scheduler and
executor in one process) on a SQLite file and the ``memory://`` transport, as a small installation
runs it. It listens on a fixed free port, so that the callback URLs it hands out stay valid across its
restarts; the harness is its supervisor: it restarts the process on the same file whenever it exits
(after a SIGKILL of the ``kill_embedded`` fault, or by itself, which is reported).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from bench.deployment import _free_port, log


class Embedded:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db_path = tmp / "embedded.db"
        self.db_url = f"sqlite:///{self.db_path}"
        self.port = _free_port()
        self.root = f"http://127.0.0.1:{self.port}"
        self.base = self.root + "/v2"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEVANTE_")}
        self.env = {**env, "LEVANTE_DB_URL": self.db_url, "LEVANTE_TRANSPORT_URL": "memory://",
                    "LEVANTE_PUBLIC_URL": self.root, "LEVANTE_EXECUTOR_THREADS": "16"}
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.unexpected_exits: list[str] = []
        self.kills: list[dict[str, float]] = []
        self._expected_dead = False
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def spawn(self) -> None:
        logf = open(self.tmp / "embedded.log", "ab")  # noqa: SIM115 - kept open for the process's life
        cmd = [sys.executable, "-m", "levante", "server", "--port", str(self.port)]
        with self._lock:
            self.proc = subprocess.Popen(cmd, env=self.env, stdout=logf, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until ``/health`` answers."""
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            try:
                with urllib.request.urlopen(self.root + "/health", timeout=5):
                    return time.monotonic() - t0
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"the embedded server did not answer on {self.root}; log in {self.tmp}/embedded.log")

    def start(self) -> None:
        self.spawn()
        self.wait_ready()
        threading.Thread(target=self._supervise, name="embedded-supervisor", daemon=True).start()

    def _supervise(self) -> None:
        while not self._stop.wait(0.2):
            with self._lock:
                proc = self.proc
            if proc is None or proc.poll() is None:
                continue
            if self._stop.is_set():
                return
            if self._expected_dead:
                self._expected_dead = False
            else:
                self.unexpected_exits.append(f"embedded server exited with {proc.returncode}")
                log(f"the embedded server exited by itself with status {proc.returncode}; restarting it")
            self.restarts += 1
            self.spawn()

    def kill(self) -> tuple[int, float]:
        """SIGKILL the process; returns its pid and the seconds until the restarted one answers."""
        with self._lock:
            proc = self.proc
            self._expected_dead = True
        assert proc is not None
        t0 = time.monotonic()
        proc.kill()
        proc.wait(10)
        try:
            back = self.wait_ready(90)
        except RuntimeError:
            back = -1.0
        self.kills.append({"pid": proc.pid, "back_after_s": round(time.monotonic() - t0, 2)})
        return proc.pid, back

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
