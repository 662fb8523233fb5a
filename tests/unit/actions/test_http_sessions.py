"""std.http and std.mistral_http reuse connections, and nothing else, between calls (issue 14).

Against a real HTTP/1.1 server on 127.0.0.1 that counts the TCP connections it accepts and every
request it reads, and that can close connections the ways servers do: after an idle timeout, or
just as a request arrives on a kept-alive connection (the race a client cannot see coming), or
right after reading a request.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from levante.actions import ActionContext, ActionError, Registry, Result, run_action
from levante.actions.std.http import HTTPAction, MistralHTTPAction
from levante.actions.std.http_sessions import SESSIONS, SessionPool
from levante.engine.commands import RunAction
from levante.executor.runner import ActionRequest, ActionRunner
from tests.unit.actions.serving import serving

CTX = ActionContext(action_execution_id="ae-1")


class Server(ThreadingHTTPServer):
    """``drop``: None, or which requests are read and then left without an answer: ``"kept-alive"``
    (any but the first on its connection), ``"all"``. ``reset``: drop with a TCP reset, not a close.
    ``idle_timeout``: seconds a connection may wait for its next request before the server closes it.
    """

    daemon_threads = True

    def __init__(self, drop: str | None = None, reset: bool = False, idle_timeout: float | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.drop, self.reset, self.idle_timeout = drop, reset, idle_timeout
        self.lock = threading.Lock()
        self.connections = 0
        self.received: list[dict[str, Any]] = []  # every request read, answered or not
        self._to_reset: set[socket.socket] = set()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answered(self) -> list[dict[str, Any]]:
        return [r for r in self.received if not r["dropped"]]

    def dropped(self) -> list[dict[str, Any]]:
        return [r for r in self.received if r["dropped"]]

    def shutdown_request(self, request: Any) -> None:
        if request in self._to_reset:  # close at once: with SO_LINGER 0 that sends a reset
            self._to_reset.discard(request)
            request.close()
            return
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connections closed under a handler on purpose: not an error here."""


class Handler(BaseHTTPRequestHandler):
    """/echo: the request as JSON; /cookie: sets a cookie; /cookie-redirect: sets a cookie and
    redirects to /echo; /big: 2,000 bytes."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are written apart (see bench/http_action.py)
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def setup(self) -> None:
        if self.server.idle_timeout:
            self.timeout = self.server.idle_timeout  # http.server closes the connection after it
        super().setup()
        self.served = 0
        with self.server.lock:
            self.server.connections += 1
            self.number = self.server.connections

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        record = {"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                  "body": self.rfile.read(length).decode() if length else "", "connection": self.number,
                  "dropped": self.server.drop == "all" or (self.server.drop == "kept-alive" and self.served > 0)}
        with self.server.lock:
            self.server.received.append(record)
        self.served += 1
        if record["dropped"]:
            self.close_connection = True
            if self.server.reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.server._to_reset.add(self.connection)
            return
        path = self.path.split("?")[0]
        if path == "/cookie":
            self._reply(200, b"{}", [("Set-Cookie", "session=abc; Path=/")])
        elif path == "/cookie-redirect":
            self._reply(302, b"", [("Set-Cookie", "hop=1; Path=/"), ("Location", "/echo")])
        elif path == "/big":
            self._reply(200, b"x" * 2000)
        else:
            self._reply(200, json.dumps(record).encode())

    def _reply(self, status: int, data: bytes, extra: list[tuple[str, str]] | tuple = ()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


@pytest.fixture(autouse=True)
def no_idle_sessions() -> Iterator[None]:
    """Every test starts with no kept session (so no kept connection)."""
    SESSIONS.clear()
    yield
    SESSIONS.clear()


def _serve(**options: Any) -> Iterator[Server]:
    yield from serving(Server(**options), poll=0.05)


@pytest.fixture()
def server() -> Iterator[Server]:
    yield from _serve()


def _usual_error(url: str, method: str) -> str:
    """The message the action gave before sessions were kept: requests.request's own error."""
    try:
        requests.request(method, url, timeout=5)
    except requests.RequestException as exc:
        return f"Failed to send HTTP request: {exc}"
    raise AssertionError(f"{method} {url} did not fail")


# --- (a) one connection for many calls ------------------------------------------------------------


def test_calls_from_one_thread_share_one_connection(server: Server) -> None:
    for method in ("GET", "POST", "PUT"):
        assert HTTPAction(f"{server.base}/echo", method=method, json={"m": method}).run(CTX)["status"] == 200
    assert run_action(MistralHTTPAction(f"{server.base}/echo", method="POST"), CTX) == Result(data=None)
    assert [r["method"] for r in server.received] == ["GET", "POST", "PUT", "POST"]
    assert server.connections == 1


def test_actions_on_threads_of_their_own_share_one_connection(server: Server) -> None:
    """A task with a timeout runs its action on a new thread: the session is not the thread's."""
    runner = ActionRunner(Registry(), "http://127.0.0.1:8989")
    for i in range(3):
        command = RunAction(action_execution_id=f"ae-{i}", action_name="std.http", timeout=30,
                            input={"url": f"{server.base}/echo", "method": "POST", "json": {"i": i}})
        event = runner.run(ActionRequest(command))
        assert event is not None and event.state == "SUCCESS", event
    assert len(server.received) == 3 and server.connections == 1


def test_calls_at_once_each_have_their_own_session(server: Server) -> None:
    barrier = threading.Barrier(3)

    def call(_: int) -> int:
        barrier.wait(5)
        return HTTPAction(f"{server.base}/echo").run(CTX)["status"]

    threads = [threading.Thread(target=call, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(server.received) == 3
    assert SESSIONS.idle() == server.connections  # a session per connection, all kept


# --- (b) cookies do not outlive their call --------------------------------------------------------


def test_a_cookie_set_by_one_call_is_not_sent_by_the_next(server: Server) -> None:
    answer = HTTPAction(f"{server.base}/cookie").run(CTX)
    assert answer["cookies"] == {"session": "abc"}  # the result still shows what the server set
    HTTPAction(f"{server.base}/echo").run(CTX)
    HTTPAction(f"{server.base}/echo", cookies={"mine": "1"}).run(CTX)
    first, second, third = server.received
    assert "Cookie" not in second["headers"]
    assert third["headers"]["Cookie"] == "mine=1"  # the call's own cookies are sent
    assert server.connections == 1  # on the same kept session
    with SESSIONS.session() as session:
        assert len(session.cookies) == 0


def test_a_cookie_set_by_a_redirect_goes_with_the_rest_of_that_call_only(server: Server) -> None:
    answer = HTTPAction(f"{server.base}/cookie-redirect").run(CTX)
    assert answer["url"] == f"{server.base}/echo"
    assert server.received[1]["headers"]["Cookie"] == "hop=1"  # as requests.request does
    HTTPAction(f"{server.base}/echo").run(CTX)
    assert "Cookie" not in server.received[2]["headers"]
    assert server.connections == 1


# --- (c) a kept-alive connection the server closed ------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_connection_the_server_closed_while_idle_is_replaced(method: str) -> None:
    for srv in _serve(idle_timeout=0.2):
        HTTPAction(f"{srv.base}/echo", method=method, json={"n": 1}).run(CTX)
        time.sleep(0.6)  # the server closes the idle connection
        answer = HTTPAction(f"{srv.base}/echo", method=method, json={"n": 2}).run(CTX)
        assert answer["status"] == 200
        assert [json.loads(r["body"])["n"] for r in srv.received] == [1, 2]  # each once
        assert not srv.dropped() and srv.connections == 2


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_an_idempotent_request_whose_kept_alive_connection_closes_is_sent_once_more(method: str,
                                                                                    reset: bool) -> None:
    """The server closes the kept-alive connection as the request arrives (its idle timeout ran
    out just then): urllib3 cannot see it coming; the request goes again on a new connection."""
    for srv in _serve(drop="kept-alive", reset=reset):
        HTTPAction(f"{srv.base}/echo", method=method, json={"n": 1}).run(CTX)
        answer = HTTPAction(f"{srv.base}/echo", method=method, json={"n": 2}).run(CTX)
        assert answer["status"] == 200 and json.loads(answer["content"]["body"]) == {"n": 2}
        assert [(r["connection"], json.loads(r["body"])["n"]) for r in srv.dropped()] == [(1, 2)]
        assert [(r["connection"], json.loads(r["body"])["n"]) for r in srv.answered()] == [(1, 1), (2, 2)]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_post_whose_kept_alive_connection_closes_is_not_sent_again(method: str) -> None:
    """The server may have applied it before dying: it fails, with the usual error."""
    for srv in _serve(drop="kept-alive"):
        HTTPAction(f"{srv.base}/echo", method=method, json={"n": 1}).run(CTX)
        with pytest.raises(ActionError) as caught:
            HTTPAction(f"{srv.base}/echo", method=method, json={"n": 2}).run(CTX)
        assert str(caught.value) == ("Failed to send HTTP request: ('Connection aborted.', "
                                     "RemoteDisconnected('Remote end closed connection without response'))")
        assert [json.loads(r["body"])["n"] for r in srv.received] == [1, 2]  # the second one once
        assert HTTPAction(f"{srv.base}/echo", method=method, json={"n": 3}).run(CTX)["status"] == 200
        assert srv.connections == 2


# --- (d) a request dropped on a new connection is never sent again --------------------------------


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_request_dropped_on_a_new_connection_fails_once(method: str, reset: bool) -> None:
    for srv in _serve(drop="all", reset=reset):
        with pytest.raises(ActionError) as caught:
            HTTPAction(f"{srv.base}/echo", method=method, body="once").run(CTX)
        assert [(r["method"], r["body"]) for r in srv.received] == [(method, "once")]
        result = run_action(MistralHTTPAction(f"{srv.base}/echo", method=method), CTX)
        assert result.is_error() and f"msg='{caught.value}'" in result.error
        assert len(srv.received) == 2
        if not reset:  # a reset may come as a reset or as an end of file: its text varies
            assert str(caught.value) == _usual_error(f"{srv.base}/echo", method)
        assert str(caught.value).startswith("Failed to send HTTP request: ('Connection aborted.', ")


# --- what else a kept session must not change -----------------------------------------------------


def test_a_response_left_unread_does_not_leave_its_connection_for_the_next_call(server: Server) -> None:
    with pytest.raises(ActionError, match="exceeds the limit of 1,000 bytes"):
        HTTPAction(f"{server.base}/big").run(ActionContext(max_response_size=1000))
    assert HTTPAction(f"{server.base}/big").run(CTX)["content"] == "x" * 2000
    assert HTTPAction(f"{server.base}/echo").run(CTX)["status"] == 200
    assert server.connections == 2  # the first was closed with its unread body; the second kept


def test_proxies_from_the_environment_are_read_at_every_call(server: Server,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    HTTPAction(f"{server.base}/echo").run(CTX)  # the session exists before the environment changes
    monkeypatch.setenv("HTTP_PROXY", server.base)
    monkeypatch.setenv("NO_PROXY", "")
    answer = HTTPAction("http://levante.invalid/via-proxy").run(CTX)
    assert answer["status"] == 200
    assert server.received[-1]["path"] == "http://levante.invalid/via-proxy"  # sent to the proxy
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    HTTPAction(f"{server.base}/direct").run(CTX)
    assert server.received[-1]["path"] == "/direct"


def test_the_pool_keeps_at_most_its_limit_of_idle_sessions() -> None:
    pool = SessionPool(keep=1)
    with pool.session() as first, pool.session() as second:
        assert first is not second
    assert pool.idle() == 1
    with pytest.raises(RuntimeError), pool.session():
        raise RuntimeError("the call failed")
    assert pool.idle() == 1  # given back all the same
    with pool.session() as again:
        assert again in (first, second)
    pool.clear()
    assert pool.idle() == 0


def _self_signed(directory: Any) -> tuple[str, str]:
    """A certificate for 127.0.0.1 signed by itself, and its key (PEM files)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_a_connection_made_without_verifying_tls_is_never_lent_to_a_call_that_verifies(tmp_path: Any) -> None:
    """requests >= 2.32 keys its pools by TLS settings (CVE-2024-35195): a kept session is safe."""
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    for srv in _serve():
        srv.socket = context.wrap_socket(srv.socket, server_side=True)
        url = f"https://127.0.0.1:{srv.server_address[1]}/echo"
        assert HTTPAction(url, verify=False).run(CTX)["status"] == 200
        with pytest.raises(ActionError, match="CERTIFICATE_VERIFY_FAILED"):
            HTTPAction(url).run(CTX)  # verify defaults to true
        assert HTTPAction(url, verify=cert_file).run(CTX)["status"] == 200  # its own, verified
        assert HTTPAction(url, verify=False).run(CTX)["status"] == 200
        assert HTTPAction(url, verify=cert_file).run(CTX)["status"] == 200
        assert [r["connection"] for r in srv.received] == [1, 2, 1, 2]  # each kept for its own kind
