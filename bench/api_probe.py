"""Where a gunicorn API worker's CPU goes per callback: what ``bench/api_cost.py --split`` runs.

Both the WSGI target (``bench.api_probe:application``, :mod:`levante.wsgi`'s application wrapped)
and gunicorn's configuration (``-c python:bench.api_probe``: its ``post_fork`` hook wraps the
gthread worker's ``handle``). For each ``PUT`` they add up the CPU time of the thread serving it
(``time.thread_time``), split into:

- ``gunicorn``: the worker thread's own work: reading and parsing the request, building the WSGI
  environ, writing the answer, keep-alive;
- ``falcon``: the falcon app and the resource, without the engine service call;
- ``engine``: ``EngineService.complete_action`` without what ``publish`` counts;
- ``publish``: ``EngineService.after_commit`` (handing the next action's request to the broker);

and the process's CPU over the same time, whose part outside the serving threads (gunicorn's
poller thread, the outbox marks, the broker connection) is ``other``. At exit, the sums go as JSON
to the file ``LEVANTE_PROBE_OUT`` names. Only for measuring: never part of a deployment.
"""

from __future__ import annotations

import atexit
import json
import os
import threading
import time
from typing import Any, Callable

_lock = threading.Lock()
_local = threading.local()
#: Sums in seconds (counts for ``requests`` and ``handles``).
totals: dict[str, float] = {"requests": 0, "handles": 0, "handle": 0.0, "app": 0.0, "complete": 0.0,
                            "after_commit": 0.0}


def _timed(name: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` adding its thread CPU time to ``_local.<name>``."""

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return call(*args, **kwargs)
        finally:
            setattr(_local, name, getattr(_local, name, 0.0) + time.thread_time() - start)

    return timed


def _wrap_app() -> Callable[..., Any]:
    import levante.wsgi as wsgi

    engine = wsgi.node.services.engine
    engine.complete_action = _timed("complete", engine.complete_action)
    engine.after_commit = _timed("after_commit", engine.after_commit)
    inner = wsgi.application

    def application(environ: dict[str, Any], start_response: Any) -> Any:
        _local.complete = _local.after_commit = 0.0
        start = time.thread_time()
        try:
            return inner(environ, start_response)
        finally:
            spent = time.thread_time() - start
            if environ["REQUEST_METHOD"] == "PUT":
                with _lock:
                    if not totals["requests"]:
                        totals["cpu_first"] = time.process_time() - spent
                    totals["cpu_last"] = time.process_time()
                    totals["requests"] += 1
                    totals["app"] += spent
                    totals["complete"] += _local.complete
                    totals["after_commit"] += _local.after_commit

    return application


def _dump() -> None:
    path = os.environ.get("LEVANTE_PROBE_OUT")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            json.dump(totals, out)


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn hook: time the gthread worker's ``handle`` once the callbacks have begun."""
    from gunicorn.workers import gthread

    handle = gthread.ThreadWorker.handle

    def timed_handle(self: Any, conn: Any) -> Any:
        start = time.thread_time()
        try:
            return handle(self, conn)
        finally:
            with _lock:
                if totals["requests"]:
                    totals["handle"] += time.thread_time() - start
                    totals["handles"] += 1

    gthread.ThreadWorker.handle = timed_handle  # type: ignore[method-assign]


def split(path: str) -> dict[str, float]:
    """Milliseconds per callback from the file a probed worker wrote (and ``callbacks``, how many
    ``PUT`` it served)."""
    with open(path, encoding="utf-8") as f:
        t = json.load(f)
    n = max(1, int(t["requests"]))

    def ms(seconds: float) -> float:
        return round(seconds * 1000 / n, 3)

    process = t.get("cpu_last", 0.0) - t.get("cpu_first", 0.0)
    return {"callbacks": n, "process": ms(process), "gunicorn": ms(t["handle"] - t["app"]),
            "falcon": ms(t["app"] - t["complete"]), "engine": ms(t["complete"] - t["after_commit"]),
            "publish": ms(t["after_commit"]),
            "other": ms(process - t["handle"])}


_app: Callable[..., Any] | None = None


def application(environ: dict[str, Any], start_response: Any) -> Any:
    """The WSGI target. It builds the node on its first request, so that gunicorn's master, which
    imports this module for its ``post_fork`` hook, builds none."""
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                _app = _wrap_app()
                atexit.register(_dump)
    return _app(environ, start_response)
