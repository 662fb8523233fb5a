"""std.http reads at most the response size limit, and the executor sends no result over the
stored-size limit (issue 11, item 5). Against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from levante.actions import ActionContext, ActionError, Registry, run_action
from levante.actions.std.http import HTTPAction, MistralHTTPAction
from levante.engine.commands import RunAction
from levante.executor.runner import ActionRequest, ActionRunner

MIB = 1024 * 1024


class Handler(BaseHTTPRequestHandler):
    """/sized?n=N: N bytes with Content-Length; /stream?n=N: N bytes, length unknown (read to close);
    /gzip?n=N: N zero bytes gzip-compressed (a few KB on the wire)."""

    protocol_version = "HTTP/1.0"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_GET(self):  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        size = int(parse_qs(parts.query).get("n", ["0"])[0])
        self.server.served.append(parts.path)
        body = b"a" * size
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if parts.path == "/sized":
            self.send_header("Content-Length", str(size))
        elif parts.path == "/gzip":
            body = gzip.compress(b"0" * size)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            for start in range(0, len(body), 65536):
                self.wfile.write(body[start:start + 65536])
        except OSError:
            pass  # the client stopped reading: that is the point

    do_POST = do_GET


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass


@pytest.fixture(scope="module")
def base():
    srv = QuietServer(("127.0.0.1", 0), Handler)
    srv.served = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()
    thread.join(5)


def _ctx(limit):
    return ActionContext(action_execution_id="ae-1", max_response_size=limit)


@pytest.mark.parametrize("path", ["/sized", "/stream", "/gzip"])
def test_a_response_over_the_limit_fails_the_action(base, path) -> None:
    with pytest.raises(ActionError) as caught:
        HTTPAction(url=f"{base}{path}?n={3 * MIB}").run(_ctx(MIB))
    message = str(caught.value)
    assert "HTTP response body of" in message and "exceeds the limit of 1,048,576 bytes" in message
    assert "LEVANTE_MAX_HTTP_RESPONSE_SIZE" in message


def test_a_response_within_the_limit_is_read_whole(base) -> None:
    for path in ("/sized", "/stream", "/gzip"):
        answer = HTTPAction(url=f"{base}{path}?n={MIB}").run(_ctx(MIB))
        assert answer["status"] == 200 and len(answer["content"]) == MIB, path


def test_no_limit_without_one(base) -> None:
    answer = HTTPAction(url=f"{base}/stream?n={2 * MIB}").run(ActionContext())
    assert len(answer["content"]) == 2 * MIB


def test_mistral_http_has_the_same_limit(base) -> None:
    result = run_action(MistralHTTPAction(url=f"{base}/stream?n={2 * MIB}"), _ctx(MIB))
    assert "exceeds the limit of 1,048,576 bytes" in str(result.error)


def _command(action: str, action_input: dict) -> RunAction:
    return RunAction(action_execution_id="ae-1", action_name=action, input=action_input, execution_id="ex-1")


def test_the_executor_passes_the_http_limit_and_refuses_large_results(base) -> None:
    runner = ActionRunner(Registry(), "http://127.0.0.1:8989", max_result_size=MIB,
                          max_http_response_size=2 * MIB)
    event = runner.run(ActionRequest(_command("std.http", {"url": f"{base}/stream?n={3 * MIB}"})))
    assert event.state == "ERROR" and "exceeds the limit of 2,097,152 bytes" in event.result
    # read whole (under 2 MiB) but too large to store (over 1 MiB)
    event = runner.run(ActionRequest(_command("std.http", {"url": f"{base}/stream?n={MIB + 10}"})))
    assert event.state == "ERROR"
    assert event.result.startswith("the action's result of ")
    assert "exceeds the limit of 1,048,576 bytes on a stored result" in event.result
    assert "LEVANTE_MAX_RESULT_SIZE" in event.result


def test_the_executor_sends_results_within_the_limit() -> None:
    runner = ActionRunner(Registry(), "http://127.0.0.1:8989", max_result_size=1000)
    event = runner.run(ActionRequest(_command("std.echo", {"output": "x" * 900})))
    assert event.state == "SUCCESS" and event.result == "x" * 900
    event = runner.run(ActionRequest(_command("std.echo", {"output": "x" * 1000})))
    assert event.state == "ERROR" and "the action's result of 1,002 bytes exceeds the limit of 1,000" in event.result
