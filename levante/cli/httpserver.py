"""The HTTP server of ``levante server``: the standard library's WSGI server, made fit to serve
callbacks.

Why not ``wsgiref`` as it is: it listens with a backlog of 5, so a burst of callbacks (50 third
parties answering at once) gets connection resets; it has no read timeout, so a client that stops
sending holds a thread for good; and it passes a ``Transfer-Encoding: chunked`` body (what Node.js
clients send) undecoded, with no length, so the body looked empty. This server listens with a
backlog of :data:`LISTEN_BACKLOG`, closes a connection that stays silent for the read timeout, and
decodes a chunked body, marking it ``wsgi.input_terminated`` (as gunicorn does) so that the API
reads it to its end.

Why not gunicorn here: it forks worker processes, and the embedded mode keeps the engine,
scheduler and executor threads in the one process that serves the API (see :mod:`levante.cli.server`).
"""

from __future__ import annotations

import logging
import queue
import re
import threading
from typing import IO, Any, Callable, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

from levante.exceptions import InputError

LOG = logging.getLogger(__name__)
#: Connections the kernel keeps waiting while the server is busy accepting (the OS may cap it:
#: ``net.core.somaxconn``).
LISTEN_BACKLOG = 1024
#: Seconds a serving thread waits for another connection before it ends.
WORKER_IDLE_S = 30.0
#: Longest line of a chunked body (a chunk size with its extensions, or a trailer).
_MAX_LINE = 4096
_HEX = re.compile(rb"[0-9A-Fa-f]{1,15}")


class Workers:
    """The threads that serve connections: one per connection in progress, each kept for
    :data:`WORKER_IDLE_S` after its last one to serve the next. Starting a thread costs about
    0.2 ms of CPU, as much as answering a small request, and every callback and every poll is a
    new connection.

    ``idle`` counts the threads waiting for a connection minus the connections handed to them and
    not taken yet; a connection is handed to a waiting thread when there is one (``idle`` > 0),
    else to a new thread, so no connection ever waits for another to end.
    """

    def __init__(self, serve: Callable[[Any, Any], None], idle_s: float) -> None:
        self._serve = serve
        self._idle_s = idle_s
        self._handed: queue.SimpleQueue[tuple[Any, Any]] = queue.SimpleQueue()
        self._lock = threading.Condition()
        self._idle = 0
        self._busy = 0

    def submit(self, request: Any, address: Any) -> None:
        with self._lock:
            self._busy += 1
            if self._idle > 0:
                self._idle -= 1
                self._handed.put((request, address))
                return
        threading.Thread(target=self._run, args=(request, address), name="levante-http-worker", daemon=True).start()

    def _run(self, request: Any, address: Any) -> None:
        while True:
            try:
                self._serve(request, address)
            finally:
                with self._lock:
                    self._busy -= 1
                    self._idle += 1
                    self._lock.notify_all()
            try:
                request, address = self._handed.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:  # a connection handed over as the wait ended is taken; else leave
                    try:
                        request, address = self._handed.get_nowait()
                    except queue.Empty:
                        self._idle -= 1
                        return

    @property
    def idle(self) -> int:
        """Threads waiting for a connection (less those handed one they have not taken yet)."""
        return self._idle

    def wait_done(self, timeout: float | None = None) -> bool:
        """Wait until no connection is being served (False: still some after ``timeout`` s)."""
        with self._lock:
            return self._lock.wait_for(lambda: self._busy == 0, timeout)


class ThreadingWSGIServer(WSGIServer):
    """``wsgiref``'s server serving each connection on a thread of its own (:class:`Workers`),
    with a deep listen backlog; ``server_close`` waits for the requests in progress (graceful
    shutdown)."""

    allow_reuse_address = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.workers = Workers(self._serve, WORKER_IDLE_S)
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        self.workers.submit(request, client_address)

    def _serve(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - logged as socketserver does, the server goes on
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self) -> None:
        super().server_close()
        self.workers.wait_done()


class ChunkedInput:
    """Reads the data of a ``Transfer-Encoding: chunked`` body from the connection, and nothing
    past its end.

    Raises (from :meth:`read`):
        InputError: the encoding is malformed (a bad size line, a body that ends inside a chunk).
        TimeoutError: the client stopped sending for longer than the read timeout.
    """

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.left = 0  # bytes left in the current chunk
        self.done = False

    def _line(self) -> bytes:
        line = self.raw.readline(_MAX_LINE + 1)
        if not line.endswith(b"\n") or len(line) > _MAX_LINE:
            raise InputError("The request body's chunked encoding is malformed: "
                             "a line is too long or the body ended early.")
        return line

    def _next_chunk(self) -> None:
        size_text = self._line().split(b";", 1)[0].strip()
        if not _HEX.fullmatch(size_text):
            raise InputError(f"The request body's chunked encoding is malformed: bad chunk size {size_text[:40]!r}.")
        size = int(size_text, 16)
        if size == 0:
            while self._line().strip():  # trailers, up to the empty line
                pass
            self.done = True
        self.left = size

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes of the body (all that is left when ``size`` is negative or None)."""
        want_all = size is None or size < 0
        out = bytearray()
        while not self.done and (want_all or len(out) < size):  # type: ignore[operator]
            if self.left == 0:
                self._next_chunk()
                continue
            take = self.left if want_all else min(self.left, size - len(out))  # type: ignore[operator]
            data = self.raw.read(take)
            if not data:
                raise InputError("The request body's chunked encoding is malformed: the body ended inside a chunk.")
            out += data
            self.left -= len(data)
            if self.left == 0 and self._line().strip():
                raise InputError("The request body's chunked encoding is malformed: a chunk is longer than its size.")
        return bytes(out)

    def readable(self) -> bool:
        return True


class RequestHandler(WSGIRequestHandler):
    """One request per connection, with a read timeout, chunked bodies decoded, and request
    logging through :mod:`logging` (debug level) instead of stderr."""

    #: Socket timeout in seconds (``StreamRequestHandler`` applies it); the server sets it from
    #: the configuration.
    timeout: float | None = 30.0  # type: ignore[misc]  # a class default, as the base class declares it
    #: Buffer the answer: wsgiref writes the status line, each of its own headers and the body
    #: with a ``send`` each; buffered, they leave in one or two, flushed when the body is written
    #: and when the connection ends.
    wbufsize = 64 * 1024

    def handle(self) -> None:
        try:
            self._handle()
        except TimeoutError:
            LOG.info("%s: the client stayed silent for %ss; connection closed", self.address_string(), self.timeout)
            self.close_connection = True
        except ConnectionError as exc:
            LOG.debug("%s: connection lost: %s", self.address_string(), exc)
            self.close_connection = True

    def _handle(self) -> None:
        self.raw_requestline = self.rfile.readline(65537)
        if not self.raw_requestline:
            return  # connected and closed without a request
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            return
        if not self.parse_request():  # an error answer has been sent
            return
        environ = self.get_environ()
        stdin: Any = self.rfile
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            stdin = ChunkedInput(self.rfile)
            environ.pop("CONTENT_LENGTH", None)
            environ["wsgi.input_terminated"] = True
        handler = ServerHandler(stdin, cast(IO[bytes], self.wfile), self.get_stderr(), environ, multithread=False)
        handler.request_handler = self  # type: ignore[attr-defined] # as wsgiref does, for logging
        handler.run(self.server.get_app())  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        LOG.debug("%s - %s", self.address_string(), format % args)


def make_http_server(host: str, port: int, read_timeout: float) -> ThreadingWSGIServer:
    """A bound server (``port`` 0 picks a free one) with no application yet (``set_app`` later);
    ``read_timeout`` 0 waits on a silent client for ever."""
    handler = type("ConfiguredHandler", (RequestHandler,), {"timeout": read_timeout if read_timeout > 0 else None})
    server = ThreadingWSGIServer((host, port), handler)
    server.set_app(lambda env, start: [])
    return server
