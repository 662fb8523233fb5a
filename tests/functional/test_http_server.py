"""The HTTP server of a real ``levante server``: bursts of simultaneous callbacks, chunked bodies
(as Node.js clients send them), clients that stop sending."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.functional.servers import wait_ready

#: Seconds the server under test waits on a silent client (LEVANTE_READ_TIMEOUT).
READ_TIMEOUT = 1.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    tmp_path = tmp_path_factory.mktemp("http")
    env = {**os.environ, "LEVANTE_DB_URL": f"sqlite:///{tmp_path / 'levante.db'}",
           "LEVANTE_READ_TIMEOUT": str(READ_TIMEOUT)}
    out, err = tmp_path / "server.out", tmp_path / "server.err"
    with open(out, "wb") as out_file, open(err, "wb") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "levante", "server", "--port", "0"], env=env,
                                stdout=out_file, stderr=err_file)
        try:
            yield wait_ready(proc, out, err), proc
        finally:
            os.kill(proc.pid, signal.SIGCONT)  # in case a test left it stopped
            proc.terminate()
            proc.wait(15)


def _call(method: str, url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as resp:
        return json.loads(resp.read())


def _async_action(base: str) -> str:
    return _call("POST", f"{base}/action_executions", {"name": "std.async_noop"})["id"]


def _address(base: str) -> tuple[str, int]:
    parts = urlsplit(base)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _exchange(address: tuple[str, int], raw: bytes) -> bytes:
    """Send ``raw`` on a new connection and read the whole answer (the server closes after it)."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(raw)
        return _read_all(sock)


def _read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def _status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def _put(base: str, action_id: str, body: bytes, chunked: bool) -> bytes:
    host, port = _address(base)
    path = f"{urlsplit(base).path}/action_executions/{action_id}"
    head = [f"PUT {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
            "Connection: close"]
    if chunked:
        payload = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:7], body[7:]) if part) + b"0\r\n\r\n"
        head.append("Transfer-Encoding: chunked")
    else:
        payload = body
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


def test_chunked_callback_completes_the_action(server: tuple[str, Any]) -> None:
    """A callback sent with ``Transfer-Encoding: chunked`` (no Content-Length) is read whole."""
    base, _ = server
    action_id = _async_action(base)
    body = json.dumps({"state": "SUCCESS", "output": {"verdict": "approved", "pad": "x" * 5000}}).encode()
    answer = _exchange(_address(base), _put(base, action_id, body, chunked=True))
    assert _status(answer) == 200, answer
    stored = _call("GET", f"{base}/action_executions/{action_id}")
    assert stored["state"] == "SUCCESS"
    assert json.loads(stored["output"])["result"]["verdict"] == "approved"


@pytest.mark.parametrize("payload", [
    b"zz\r\n{}\r\n0\r\n\r\n",           # not a hex size
    b"5\r\n{}\r\n0\r\n\r\n",             # chunk shorter than its size, then the end
    b"2\r\n{}}}\r\n0\r\n\r\n",           # chunk longer than its size
])
def test_malformed_chunked_body_is_400(server: tuple[str, Any], payload: bytes) -> None:
    base, _ = server
    action_id = _async_action(base)
    host, port = _address(base)
    path = f"{urlsplit(base).path}/action_executions/{action_id}"
    head = (f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(head + payload)
        sock.shutdown(socket.SHUT_WR)  # the body ends here
        answer = _read_all(sock)
    assert _status(answer) == 400, answer
    assert b"chunked" in answer
    assert _call("GET", f"{base}/action_executions/{action_id}")["state"] == "RUNNING"


def test_fifty_simultaneous_callbacks_are_all_answered(server: tuple[str, Any]) -> None:
    """50 callbacks connect while the server is not accepting (stopped with SIGSTOP, as a busy
    server would be): the kernel must queue all 50 connections (wsgiref's backlog of 5 queued
    about 6, the others never connected or were reset); once it runs again, each gets its 200."""
    base, proc = server
    address = _address(base)
    callers = 50
    ids = [_async_action(base) for _ in range(callers)]
    sockets: dict[int, socket.socket] = {}
    failures: dict[int, str] = {}

    def connect(i: int) -> None:
        try:
            sock = socket.create_connection(address, timeout=5)
            body = json.dumps({"state": "SUCCESS", "output": i}).encode()
            sock.sendall(_put(base, ids[i], body, chunked=False))
            sockets[i] = sock
        except OSError as exc:
            failures[i] = repr(exc)

    os.kill(proc.pid, signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=connect, args=(i,)) for i in range(callers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    statuses = {}
    for i, sock in sockets.items():
        sock.settimeout(30)
        try:
            statuses[i] = _status(_read_all(sock))
        except (OSError, IndexError, ValueError) as exc:
            failures[i] = repr(exc)
        finally:
            sock.close()
    assert not failures, failures
    assert sorted(statuses.values()) == [200] * callers
    for i, action_id in enumerate(ids):
        stored = _call("GET", f"{base}/action_executions/{action_id}")
        assert json.loads(stored["output"]) == {"result": i}


def test_a_client_that_stops_sending_is_disconnected(server: tuple[str, Any]) -> None:
    """Headers promising a body that never comes, and a request line that never ends: the server
    closes each connection after its read timeout instead of holding a thread for good."""
    base, _ = server
    address = _address(base)
    action_id = _async_action(base)
    host, _port = address
    path = f"{urlsplit(base).path}/action_executions/{action_id}"
    partial_body = (f"PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{\"state\":").encode()
    for partial in (partial_body, b"GET /v2/workflo"):
        with socket.create_connection(address, timeout=30) as sock:
            sock.sendall(partial)
            answer = _read_all(sock)  # ends when the server closes (a client timeout fails the test)
        assert answer == b"" or _status(answer) == 408, answer
    assert _call("GET", f"{base}/action_executions/{action_id}")["state"] == "RUNNING"
    assert _call("GET", base.removesuffix("/v2") + "/health") is not None
