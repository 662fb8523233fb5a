"""The third party of the fault campaign: an HTTP server that

- answers ``/sync?key=K&v=V`` (``std.http``) with ``{"v": V}`` (``{"v": "a<NUL>bV"}`` with ``nul=1``)
  and counts calls per key;
- answers ``/flaky?key=K&fail=F&v=V`` with 500 for the first F calls of a key, then ``{"v": V}``;
- answers ``/async`` (``std.mistral_http``) with 202, counts calls per ``Mistral-Action-Execution-Id``
  and, after a random delay, PUTs ``{"state": "SUCCESS", "output": <the request's JSON body>}`` to
  the ``Mistral-Callback-URL``, retrying on connection errors and 5xx as a real service would, and
  stopping on 409 (already completed). A body ``{"never": true}`` is never called back; a body with
  ``"nul": true`` is called back with ``{"v": "a<NUL>bV"}``; a body ``{"hold": true}`` (the cancel
  storm) is called back only when :meth:`ThirdParty.release_held` is called, once, and the status of
  that late callback is recorded.

Faults it can inject on request: send the next callback(s) twice; pause the workflow execution
before a callback lands and resume it afterwards (``pause_hook``); tell the harness about an async
call it may target with a poison event, and hold that callback back a little longer (``poison_hook``).
"""

from __future__ import annotations

import json
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from bench.faults_mix import nul_text


class ThirdParty(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, seed: int, min_delay: float = 0.2, max_delay: float = 2.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.min_delay, self.max_delay = min_delay, max_delay
        self.sync_calls: Counter[str] = Counter()
        self.async_calls: Counter[str] = Counter()
        self.async_meta: dict[str, dict[str, Any]] = {}
        #: action execution id -> the output the API accepted (a 200 to our PUT).
        self.delivered: dict[str, Any] = {}
        self.conflicts: Counter[str] = Counter()  # 409 answers
        self.rejected: dict[str, str] = {}  # other 4xx answers, or gave up retrying
        self.put_retries = 0
        self.double_next = 0
        self.doubled: list[tuple[str, list[int]]] = []
        #: Called with (workflow execution id, workflow name) before a callback: returns a
        #: function to call after it (the pause-during-callback fault), or None.
        self.pause_hook: Callable[[str, str, str], Callable[[], None] | None] | None = None
        #: Called with (action execution id, workflow execution id, workflow name, callback URL) on a
        #: first async call: True when the harness sent a poison event for it (its callback then
        #: waits ``poison_delay`` more seconds, for the poison to be applied first).
        self.poison_hook: Callable[[str, str, str, str], bool] | None = None
        self.poison_delay = 5.0
        #: The cancel storm's calls: action execution id -> (callback URL, token).
        self.held: dict[str, tuple[str, str | None]] = {}
        #: Status of the late callback of each held call (0: no answer).
        self.late_statuses: dict[str, int] = {}
        self.pending = 0
        self.stopping = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> "ThirdParty":
        threading.Thread(target=self.serve_forever, name="third-party", daemon=True).start()
        return self

    def delay(self) -> float:
        with self.lock:
            return self.rng.uniform(self.min_delay, self.max_delay)

    # --- callbacks --------------------------------------------------------------------------

    def complete(self, ae_id: str, url: str, token: str | None, output: Any, ex_id: str, wf_name: str,
                 extra_delay: float = 0.0) -> None:
        try:
            time.sleep(self.delay() + extra_delay)
            after = self.pause_hook(ex_id, wf_name, url) if self.pause_hook else None
            with self.lock:
                twice = self.double_next > 0
                if twice:
                    self.double_next -= 1
            statuses = [self._put(ae_id, url, token, output)]
            if twice:
                statuses.append(self._put(ae_id, url, token, output))
                self.doubled.append((ae_id, statuses))
            if after:
                after()
        finally:
            with self.lock:
                self.pending -= 1

    def release_held(self) -> dict[str, int]:
        """Send the late callbacks of the held calls (each once, SUCCESS), from a few threads;
        returns (and records) each one's status: 409 is what a cancelled action must answer."""
        with self.lock:
            todo = [(ae, url, token) for ae, (url, token) in self.held.items() if ae not in self.late_statuses]
        chunks = [todo[i::8] for i in range(8)]

        def send(chunk: list[tuple[str, str, str | None]]) -> None:
            for ae_id, url, token in chunk:
                status = self._late_put(url, token)
                with self.lock:
                    self.late_statuses[ae_id] = status

        threads = [threading.Thread(target=send, args=(c,), daemon=True) for c in chunks if c]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        with self.lock:
            return dict(self.late_statuses)

    def _late_put(self, url: str, token: str | None) -> int:
        """One callback, retried only while its victim does not answer (killed, restarting)."""
        data = json.dumps({"state": "SUCCESS", "output": {"late": True}}).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Levante-Callback-Token"] = token
        deadline = time.monotonic() + 60
        while True:
            req = urllib.request.Request(url, data=data, method="PUT", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=20) as resp:
                    resp.read()
                    return int(resp.status)
            except urllib.error.HTTPError as exc:
                exc.read()
                if exc.code < 500 or time.monotonic() > deadline:
                    return int(exc.code)
            except (OSError, urllib.error.URLError):
                if time.monotonic() > deadline:
                    return 0
            time.sleep(0.5)

    def _put(self, ae_id: str, url: str, token: str | None, output: Any) -> int:
        data = json.dumps({"state": "SUCCESS", "output": output}).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Levante-Callback-Token"] = token
        deadline = time.monotonic() + 240
        while True:
            req = urllib.request.Request(url, data=data, method="PUT", headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=20) as resp:
                    status = resp.status
                    resp.read()
            except urllib.error.HTTPError as exc:
                status = exc.code
                body = exc.read()[:300].decode(errors="replace")
                if status == 409:
                    with self.lock:
                        self.conflicts[ae_id] += 1
                    return status
                if status < 500:
                    with self.lock:
                        self.rejected[ae_id] = f"{status} {body}"
                    return status
            except (OSError, urllib.error.URLError):
                status = 0
            if 200 <= status < 300:
                with self.lock:
                    self.delivered[ae_id] = output
                return status
            if time.monotonic() > deadline or self.stopping:
                with self.lock:
                    self.rejected[ae_id] = f"gave up after retries (last status {status})"
                return status
            with self.lock:
                self.put_retries += 1
            time.sleep(0.5)


class _Handler(BaseHTTPRequestHandler):
    server: ThirdParty
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self._handle()

    def do_POST(self) -> None:  # noqa: N802
        self._handle()

    def _handle(self) -> None:
        srv = self.server
        parts = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        body = self._body()
        if parts.path == "/sync":
            with srv.lock:
                srv.sync_calls[query["key"]] += 1
            time.sleep(srv.rng.uniform(0, 0.2))
            v = int(query["v"])
            self._answer(200, {"v": nul_text(v) if query.get("nul") else v})
        elif parts.path == "/flaky":
            with srv.lock:
                srv.sync_calls[query["key"]] += 1
                n = srv.sync_calls[query["key"]]
            if n <= int(query.get("fail", 0)):
                self._answer(500, {"error": f"flaky call {n}"})
            else:
                self._answer(200, {"v": int(query["v"])})
        elif parts.path == "/async":
            self._async(body)
        else:
            self._answer(404, {"error": "unknown path"})

    def _async(self, body: Any) -> None:
        srv = self.server
        ae_id = self.headers.get("Mistral-Action-Execution-Id", "")
        url = self.headers.get("Mistral-Callback-URL", "")
        ex_id = self.headers.get("Mistral-Workflow-Execution-Id", "")
        wf_name = self.headers.get("Mistral-Workflow-Name", "")
        token = self.headers.get("Levante-Callback-Token")
        body = body if isinstance(body, dict) else {}
        with srv.lock:
            srv.async_calls[ae_id] += 1
            first = srv.async_calls[ae_id] == 1
            srv.async_meta.setdefault(ae_id, {"execution": ex_id, "workflow": wf_name, "body": body, "url": url})
            if body.get("hold") and first:
                srv.held[ae_id] = (url, token)
        self._answer(202, {"accepted": ae_id})
        if not first or body.get("never") or body.get("hold") or not url:
            return
        if body.get("nul"):
            output: Any = {"v": nul_text(body.get("v", ""))}
        else:
            output = {"v": int(body["v"])} if "v" in body else body
        extra = srv.poison_delay if srv.poison_hook and srv.poison_hook(ae_id, ex_id, wf_name, url) else 0.0
        with srv.lock:
            srv.pending += 1
        threading.Thread(target=srv.complete, daemon=True,
                         args=(ae_id, url, token, output, ex_id, wf_name, extra)).start()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass
