"""CPU per ``std.http`` / ``std.mistral_http`` call, as an executor runs it, against a local server.

    python bench/http_action.py [--calls 2000] [--threads 1] [--action std.mistral_http]
                                [--method POST] [--task-timeout SECONDS] [--rounds 3]

The server is a ``ThreadingHTTPServer`` speaking HTTP/1.1 with keep-alive (as the third party of
``bench/load.py`` does) in a child process, so that this process's CPU time is the client's alone.
Each call goes through :meth:`ActionRunner.run_safely`, what both kinds of executor call: the
registry builds the action, it sends its request, the result becomes an engine event. With
``--task-timeout`` the runner runs each action on a thread of its own (what a task with a
``timeout`` gets). ``--threads`` callers run the calls at once, like an executor's pool.

Printed, one JSON object: ``cpu_ms_per_call`` (``time.process_time`` of this process / calls, the
median of ``--rounds``), ``wall_ms_per_call`` and ``connections`` (TCP connections the server
accepted in the round with the median CPU; one per call means no connection was reused).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from levante.actions import Registry  # noqa: E402
from levante.engine.commands import RunAction  # noqa: E402
from levante.executor.runner import ActionRequest, ActionRunner  # noqa: E402


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    #: TCP_NODELAY, as production servers set it: http.server writes the headers and the body
    #: apart, and without it a kept-alive connection waits out the client's delayed ACK (~40 ms)
    #: before the body is sent (a new connection's first segments are ACKed at once).
    disable_nagle_algorithm = True

    def setup(self) -> None:
        super().setup()
        with self.server.accepted.get_lock():  # type: ignore[attr-defined]
            self.server.accepted.value += 1  # type: ignore[attr-defined]

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        data = b'{"accepted": true}'
        self.send_response(202 if self.command == "POST" else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass


def _serve(port: Any, accepted: Any) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.request_queue_size = 256
    server.accepted = accepted  # type: ignore[attr-defined]
    port.value = server.server_address[1]
    server.serve_forever()


def _round(runner: ActionRunner, commands: list[RunAction], threads: int) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    if threads == 1:
        events = [runner.run_safely(ActionRequest(c)) for c in commands]
    else:
        with ThreadPoolExecutor(threads) as pool:
            events = list(pool.map(lambda c: runner.run_safely(ActionRequest(c)), commands))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    failed = [e for e in events if e is not None and e.state != "SUCCESS"]
    if failed:
        raise SystemExit(f"{len(failed)} call(s) failed, e.g. {failed[0].result}")
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--action", default="std.mistral_http", choices=["std.http", "std.mistral_http"])
    parser.add_argument("--method", default="POST")
    parser.add_argument("--task-timeout", type=float, default=None,
                        help="run each action on a thread of its own, as a task with a timeout does")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    port, accepted = multiprocessing.Value("i", 0), multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=_serve, args=(port, accepted), daemon=True)
    server.start()
    while not port.value:
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port.value}/hook"
    try:
        runner = ActionRunner(Registry(), "http://127.0.0.1:8989")

        def commands(n: int) -> list[RunAction]:
            return [RunAction(action_execution_id=f"ae-{i}", action_name=args.action, execution_id="ex-1",
                              task_execution_id="te-1", workflow_name="wf", timeout=args.task_timeout,
                              input={"url": url, "method": args.method, "json": {"step": i}})
                    for i in range(n)]

        _round(runner, commands(50), args.threads)  # warm up: imports, first connections
        rounds = []
        for _ in range(args.rounds):
            accepted.value = 0
            cpu, wall = _round(runner, commands(args.calls), args.threads)
            rounds.append((cpu, wall, accepted.value))
        cpu, wall, connections = sorted(rounds)[len(rounds) // 2]
        print(json.dumps({
            "action": args.action, "method": args.method, "calls": args.calls, "threads": args.threads,
            "task_timeout": args.task_timeout,
            "cpu_ms_per_call": round(cpu * 1000 / args.calls, 3),
            "wall_ms_per_call": round(wall * 1000 / args.calls, 3),
            "connections": connections,
            "cpu_ms_per_call_rounds": [round(r[0] * 1000 / args.calls, 3) for r in rounds],
        }))
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
