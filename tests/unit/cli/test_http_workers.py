"""The serving threads of ``levante server``'s HTTP server (``httpserver.Workers``): a connection
never waits for another, threads are reused, a stop waits for the requests in progress."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from levante.cli.httpserver import ThreadingWSGIServer, Workers, make_http_server


@pytest.fixture
def served() -> Iterator[tuple[ThreadingWSGIServer, str, dict[str, Any]]]:
    """A server whose app answers ``/hold`` only once ``state['release']`` is set."""
    state: dict[str, Any] = {"release": threading.Event(), "inside": 0, "lock": threading.Lock()}

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/hold":
            with state["lock"]:
                state["inside"] += 1
            state["release"].wait(30)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [threading.current_thread().name.encode()]

    server = make_http_server("127.0.0.1", 0, read_timeout=5.0)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        state["release"].set()
        server.shutdown()
        server.server_close()


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return str(answer.read().decode())


def _workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "levante-http-worker"}


def test_connections_are_served_at_once_however_many(served: tuple[Any, str, dict[str, Any]]) -> None:
    _, base, state = served
    answers: list[str] = []
    clients = [threading.Thread(target=lambda: answers.append(_get(base + "/hold"))) for _ in range(12)]
    for client in clients:
        client.start()
    deadline = time.monotonic() + 20
    while state["inside"] < 12 and time.monotonic() < deadline:  # all twelve inside the app together
        time.sleep(0.01)
    assert state["inside"] == 12
    assert _get(base + "/quick") == "levante-http-worker"  # a thirteenth is not kept waiting either
    state["release"].set()
    for client in clients:
        client.join(30)
    assert len(answers) == 12


def test_a_thread_serves_connection_after_connection(served: tuple[Any, str, dict[str, Any]]) -> None:
    _, base, _ = served
    before = _workers()
    for _ in range(30):
        assert _get(base + "/quick") == "levante-http-worker"
    # A client may connect again before the thread that answered it is back waiting (it closes
    # the connection after the answer): a second thread then. One per connection would be 30.
    assert len(_workers() - before) <= 3


def test_stopping_waits_for_the_requests_in_progress(served: tuple[Any, str, dict[str, Any]]) -> None:
    server, base, state = served
    answers: list[str] = []
    client = threading.Thread(target=lambda: answers.append(_get(base + "/hold")))
    client.start()
    while state["inside"] < 1:
        time.sleep(0.01)
    server.shutdown()
    closed = threading.Event()
    threading.Thread(target=lambda: (server.server_close(), closed.set()), daemon=True).start()
    assert not closed.wait(0.3), "server_close returned with a request in progress"
    state["release"].set()
    assert closed.wait(10)
    client.join(10)
    assert answers == ["levante-http-worker"]


def test_every_connection_is_served_when_idle_threads_time_out_as_they_come() -> None:
    """Hand-overs racing with the end of an idle wait (1 ms here): none is lost or served twice."""
    served: list[int] = []
    lock = threading.Lock()

    def serve(request: Any, _address: Any) -> None:
        with lock:
            served.append(request)

    workers = Workers(serve, idle_s=0.001)
    for n in range(3000):
        workers.submit(n, None)
        if n % 7 == 0:
            time.sleep(0.0005)
    assert workers.wait_done(30), f"{3000 - len(served)} connection(s) never served"
    assert sorted(served) == list(range(3000))


def test_an_idle_thread_ends_after_its_wait() -> None:
    done = threading.Event()
    workers = Workers(lambda *_: done.set(), idle_s=0.05)
    workers.submit(1, None)
    assert done.wait(5)
    deadline = time.monotonic() + 5
    while workers.idle != 1 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert workers.idle == 1  # waiting for another connection
    while workers.idle and time.monotonic() < deadline:
        time.sleep(0.01)
    assert workers.idle == 0  # and gone once its wait ended
