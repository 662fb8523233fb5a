"""std.http and std.mistral_http against a real HTTP server on 127.0.0.1."""

import base64
import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from levante.actions import ActionContext, ActionError, Registry, Result, run_action
from levante.actions.std.http import DEFAULT_TIMEOUT, HTTPAction, MistralHTTPAction
from tests.unit.actions.serving import serving

CTX = ActionContext(action_execution_id="ae-1")


class Handler(BaseHTTPRequestHandler):
    """Routes: /echo (request as JSON), /text, /status/<n>, /redirect, /slow, /cookie."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep test output quiet
        pass

    def _reply(self, status, body, content_type="application/json", extra=()):
        data = body.encode() if isinstance(body, str) else body
        if status in (204, 304):  # no body allowed
            data = b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        parts = urlsplit(self.path)
        record = {
            "method": self.command,
            "path": parts.path,
            "query": parse_qs(parts.query),
            "headers": dict(self.headers.items()),
            "body": body,
        }
        self.server.requests.append(record)
        if parts.path == "/echo":
            self._reply(200, json.dumps(record))
        elif parts.path == "/text":
            self._reply(200, "hello, text", "text/plain; charset=utf-8")
        elif parts.path.startswith("/status/"):
            status = int(parts.path.rsplit("/", 1)[1])
            self._reply(status, json.dumps({"error": f"status {status}"}))
        elif parts.path == "/redirect":
            self._reply(302, "", "text/plain", [("Location", "/echo")])
        elif parts.path == "/slow":
            time.sleep(1.5)
            self._reply(200, "late", "text/plain")
        elif parts.path == "/cookie":
            self._reply(200, "{}", extra=[("Set-Cookie", "session=abc; Path=/")])
        else:
            self._reply(404, "not found", "text/plain")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """Clients that give up (the timeout test) reset their connection: not an error here."""


@pytest.fixture(scope="module")
def server():
    srv = QuietServer(("127.0.0.1", 0), Handler)
    srv.requests = []
    yield from serving(srv)


@pytest.fixture()
def base(server):
    server.requests.clear()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture()
def closed_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_get_with_params(base):
    answer = HTTPAction(f"{base}/echo", params={"a": 1, "b": "x y"}).run(CTX)
    assert answer["status"] == 200 and answer["reason"] == "OK"
    assert answer["content"]["method"] == "GET"
    assert answer["content"]["query"] == {"a": ["1"], "b": ["x y"]}
    assert answer["url"].startswith(f"{base}/echo?")
    assert answer["history"] == []
    assert isinstance(answer["headers"], dict) and answer["headers"]["Content-Type"] == "application/json"
    assert isinstance(answer["elapsed"], float) and answer["elapsed"] >= 0
    assert answer["cookies"] == {}
    json.dumps(answer)  # the whole result is JSON-ready


def test_post_json(base, server):
    answer = HTTPAction(f"{base}/echo", method="post", json={"k": [1, 2]}).run(CTX)
    seen = server.requests[-1]
    assert seen["method"] == "POST"
    assert json.loads(seen["body"]) == {"k": [1, 2]}
    assert seen["headers"]["Content-Type"] == "application/json"
    assert answer["content"]["method"] == "POST"


def test_body_dict_is_json_encoded(base, server):
    HTTPAction(f"{base}/echo", method="PUT", body={"a": {"b": 1}}).run(CTX)
    seen = server.requests[-1]
    assert seen["method"] == "PUT"
    assert json.loads(seen["body"]) == {"a": {"b": 1}}
    assert seen["headers"]["Content-Type"] == "application/json"


def test_body_dict_keeps_given_content_type(base, server):
    HTTPAction(f"{base}/echo", method="POST", body={"a": 1}, headers={"content-type": "text/x"}).run(CTX)
    assert server.requests[-1]["headers"]["content-type"] == "text/x"
    assert "Content-Type" not in server.requests[-1]["headers"]


def test_body_string_is_sent_as_is(base, server):
    HTTPAction(f"{base}/echo", method="POST", body="raw=1&b=2").run(CTX)
    assert server.requests[-1]["body"] == "raw=1&b=2"


def test_body_and_json_are_exclusive():
    with pytest.raises(ActionError, match="Only one of the parameters 'json' and 'body'"):
        HTTPAction("http://127.0.0.1/", body={"a": 1}, json={"b": 2})


def test_headers_are_stringified(base, server):
    HTTPAction(f"{base}/echo", headers={"X-Num": 5, "X-Flag": True, "X-Str": "s", "X-None": None}).run(CTX)
    headers = server.requests[-1]["headers"]
    assert headers["X-Num"] == "5" and headers["X-Flag"] == "True" and headers["X-Str"] == "s"
    assert "X-None" not in headers


def test_basic_auth(base, server):
    HTTPAction(f"{base}/echo", auth="user:pa:ss").run(CTX)
    auth = server.requests[-1]["headers"]["Authorization"]
    assert auth.startswith("Basic ")
    assert base64.b64decode(auth[6:]).decode() == "user:pa:ss"


def test_bad_auth():
    with pytest.raises(ActionError, match="user:password"):
        HTTPAction("http://127.0.0.1/", auth="nocolon")


def test_404_is_an_error_result(base):
    result = run_action(HTTPAction(f"{base}/status/404"), CTX)
    assert result.is_error()
    assert result.error["status"] == 404
    assert result.error["content"] == {"error": "status 404"}
    assert result.error["reason"] == "Not Found"


@pytest.mark.parametrize("status, ok", [(200, True), (201, True), (204, True), (306, True), (307, False),
                                        (400, False), (500, False), (503, False)])
def test_status_range(base, status, ok):
    result = run_action(HTTPAction(f"{base}/status/{status}", allow_redirects=False), CTX)
    assert result.is_success() is ok
    assert (result.data if ok else result.error)["status"] == status


def test_text_content(base):
    answer = HTTPAction(f"{base}/text").run(CTX)
    assert answer["content"] == "hello, text"
    assert answer["encoding"] == "utf-8"


def test_redirect_history(base):
    answer = HTTPAction(f"{base}/redirect").run(CTX)
    assert answer["status"] == 200
    assert answer["url"] == f"{base}/echo"
    assert answer["history"] == [f"{base}/redirect"]


def test_redirect_not_followed(base):
    answer = HTTPAction(f"{base}/redirect", allow_redirects=False).run(CTX)
    assert answer["status"] == 302 and answer["history"] == []


def test_cookies(base, server):
    answer = HTTPAction(f"{base}/cookie", cookies={"sent": "yes"}).run(CTX)
    assert answer["cookies"] == {"session": "abc"}
    assert server.requests[-1]["headers"]["Cookie"] == "sent=yes"


def test_verify_is_ignored_for_http(base):
    answer = HTTPAction(f"{base}/echo", verify="/no/such/ca-bundle.pem").run(CTX)
    assert answer["status"] == 200


def test_verify_is_applied_for_https(closed_port):
    action = HTTPAction(f"https://127.0.0.1:{closed_port}/", verify="/no/such/ca-bundle.pem")
    with pytest.raises(ActionError, match="^Failed to send HTTP request: .*CA certificate bundle"):
        action.run(CTX)


def test_connection_refused(closed_port):
    with pytest.raises(ActionError, match="^Failed to send HTTP request: "):
        HTTPAction(f"http://127.0.0.1:{closed_port}/").run(CTX)
    result = run_action(HTTPAction(f"http://127.0.0.1:{closed_port}/"), CTX)
    assert "Failed to send HTTP request: " in result.error


def test_invalid_url():
    with pytest.raises(ActionError, match="^Failed to send HTTP request: "):
        HTTPAction("not a url").run(CTX)


def test_timeout(base):
    start = time.monotonic()
    with pytest.raises(ActionError, match="^Failed to send HTTP request: "):
        HTTPAction(f"{base}/slow", timeout=0.2).run(CTX)
    assert time.monotonic() - start < 1.4


def test_default_timeout():
    assert DEFAULT_TIMEOUT == 60
    assert HTTPAction("http://x").timeout == 60
    assert HTTPAction("http://x", timeout=[1, 2]).timeout == (1, 2)
    assert "60 seconds" in HTTPAction.__doc__


def test_http_through_registry(base):
    action = Registry().create("std.http", {"url": f"{base}/echo", "method": "DELETE"})
    result = run_action(action, CTX)
    assert result.is_success() and result.data["content"]["method"] == "DELETE"


# --- std.mistral_http ---------------------------------------------------------------------------


FULL_CTX = ActionContext(
    action_execution_id="ae-42",
    task_execution_id="te-7",
    workflow_execution_id="we-3",
    workflow_name="wb.wf",
    callback_url="http://api.example:8989/v2/action_executions/ae-42",
    callback_token="s3cret",
)


def test_mistral_http_sends_callback_headers(base, server):
    action = MistralHTTPAction(f"{base}/echo", method="POST", json={"x": 1}, headers={"X-Mine": 1})
    assert action.is_sync() is False
    result = run_action(action, FULL_CTX)
    assert result == Result(data=None)
    headers = server.requests[-1]["headers"]
    assert headers["Mistral-Workflow-Name"] == "wb.wf"
    assert headers["Mistral-Workflow-Execution-Id"] == "we-3"
    assert headers["Mistral-Task-Id"] == "te-7"
    assert headers["Mistral-Action-Execution-Id"] == "ae-42"
    assert headers["Mistral-Callback-URL"] == "http://api.example:8989/v2/action_executions/ae-42"
    assert headers["Levante-Callback-Token"] == "s3cret"
    assert headers["X-Mine"] == "1"
    assert json.loads(server.requests[-1]["body"]) == {"x": 1}


def test_mistral_http_omits_unknown_headers(base, server):
    ctx = ActionContext(action_execution_id="ae-9", callback_url="http://h/v2/action_executions/ae-9")
    assert MistralHTTPAction(f"{base}/echo").run(ctx) is None
    headers = server.requests[-1]["headers"]
    assert headers["Mistral-Action-Execution-Id"] == "ae-9"
    assert headers["Mistral-Callback-URL"] == "http://h/v2/action_executions/ae-9"
    for absent in ("Mistral-Workflow-Name", "Mistral-Workflow-Execution-Id", "Mistral-Task-Id",
                   "Levante-Callback-Token"):
        assert absent not in headers


def test_mistral_http_headers_override_given_ones(base, server):
    MistralHTTPAction(f"{base}/echo", headers={"mistral-task-id": "forged"}).run(FULL_CTX)
    assert server.requests[-1]["headers"]["Mistral-Task-Id"] == "te-7"


def test_mistral_http_error_status(base):
    result = run_action(MistralHTTPAction(f"{base}/status/500"), FULL_CTX)
    assert result.is_error()
    assert result.error["status"] == 500 and result.error["content"] == {"error": "status 500"}


def test_mistral_http_connection_refused(closed_port):
    with pytest.raises(ActionError, match="^Failed to send HTTP request: "):
        MistralHTTPAction(f"http://127.0.0.1:{closed_port}/").run(FULL_CTX)


def test_mistral_http_through_registry(base, server):
    reg = Registry()
    assert reg.get("std.mistral_http").is_sync is False
    action = reg.create("std.mistral_http", {"url": f"{base}/echo"})
    assert run_action(action, FULL_CTX) == Result(data=None)
    assert server.requests[-1]["headers"]["Levante-Callback-Token"] == "s3cret"
